"""Which real services the suite can reach. With SOMO_REQUIRE_SERVICES=1 a missing one fails."""

from __future__ import annotations

import fcntl
import os
import socket
from functools import cache, lru_cache
from urllib.parse import urlparse

import pytest

REQUIRE = os.environ.get("SOMO_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


@lru_cache
def reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), timeout=1):
            return True
    except OSError:
        return False


def require(name: str, url: str) -> None:
    """Skip when the service is down, or fail under SOMO_REQUIRE_SERVICES=1."""
    if reachable(url):
        return
    message = f"{name} is not reachable at {url}"
    if REQUIRE:
        pytest.fail(f"{message} and SOMO_REQUIRE_SERVICES=1")
    pytest.skip(f"{message} (set SOMO_REQUIRE_SERVICES=1 to make this fail)")  # SOMO_REQUIRE_SERVICES unset


def pg_available() -> bool:
    return reachable(PG_ADMIN_URL)


def redis_available() -> bool:
    return reachable(REDIS_BASE + "/0")


# Test runs take Redis databases 1-9; the benchmarks (bench/*.py) use 10-15.
TEST_REDIS_DBS = range(1, 10)
_held: list = []  # the open lock file of the database this process holds, kept until it exits


def db_lock_path(db: int) -> str:
    return f"/tmp/somo-redis-db-{db}.lock"  # not TMPDIR: every run on the machine must see the same files


def _lock_free_db() -> int | None:
    """The first of TEST_REDIS_DBS no other process holds, now held by this one (an exclusive
    flock, released by the kernel when the process ends, even killed). None if all are taken."""
    for db in TEST_REDIS_DBS:
        lock = open(db_lock_path(db), "a")  # noqa: SIM115 - held open for the process's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        _held.append(lock)
        return db
    return None


@cache
def redis_url_for_worker() -> str:
    """A Redis database of its own per pytest process, so runs at the same time never share one
    (each test flushes it) nor touch a benchmark's. TEST_REDIS_URL naming a database is used as is."""
    base = REDIS_BASE.rstrip("/")
    if base.count("/") > 2:  # already names a database
        return base
    db = _lock_free_db()
    if db is None:
        dbs = f"{TEST_REDIS_DBS.start}-{TEST_REDIS_DBS.stop - 1}"
        message = f"every test Redis database ({dbs}) is held by another test run (see {db_lock_path(1)})"
        if REQUIRE:
            pytest.fail(f"{message} and SOMO_REQUIRE_SERVICES=1")
        pytest.skip(f"{message}; wait for one to end (set SOMO_REQUIRE_SERVICES=1 to make this fail)")
    return f"{base}/{db}"
