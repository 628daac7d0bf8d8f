"""tests/services.py: test runs at the same time each hold a Redis database of their own, and
none of the benchmarks' (a run flushes its database before every test)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import services

ROOT = Path(__file__).resolve().parents[1]
RUN = "from tests import services; print(services.redis_url_for_worker(), flush=True); input()"


def _start_run() -> subprocess.Popen:
    """A process that picks its database as a test session does, and holds it until told to end."""
    env = {k: v for k, v in os.environ.items() if k != "TEST_REDIS_URL"}  # one naming a database is used as is
    return subprocess.Popen([sys.executable, "-c", RUN], cwd=ROOT, env=env, text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)


def test_runs_at_the_same_time_hold_different_test_databases():
    runs = [_start_run(), _start_run()]
    try:
        dbs = [int(run.stdout.readline().rsplit("/", 1)[1]) for run in runs]
        assert dbs[0] != dbs[1]
        assert set(dbs) <= set(services.TEST_REDIS_DBS)  # 1-9: the benchmarks use 10-15
        for db in dbs:  # held for as long as each run lasts
            with open(services.db_lock_path(db)) as lock, pytest.raises(BlockingIOError):
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        for run in runs:
            run.communicate("\n", timeout=30)
    assert [run.returncode for run in runs] == [0, 0]
