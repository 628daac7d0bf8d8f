"""Which real services the suite can reach. With SOMO_REQUIRE_SERVICES=1 a missing one fails."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
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


def redis_url_for_worker() -> str:
    """A Redis database of its own per pytest process, so parallel runs do not meet."""
    base = REDIS_BASE.rstrip("/")
    if base.count("/") > 2:  # already names a database
        return base
    return f"{base}/{1 + os.getpid() % 15}"
