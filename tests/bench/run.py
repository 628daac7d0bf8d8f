"""Running a benchmark module as the tests do: in its own process, PostgreSQL and Redis required."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests import services

ROOT = Path(__file__).resolve().parents[2]


def bench_json(module: str, *args: str, timeout: float = 300) -> dict:
    """`python -m bench.<module> args`: it must exit 0, and its last line of output is its JSON result."""
    services.require("PostgreSQL", services.PG_ADMIN_URL)
    services.require("Redis", services.REDIS_BASE + "/0")
    done = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
