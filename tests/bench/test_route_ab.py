"""bench.route_ab: a USSD step through the served app and through FastAPI's router, alternated."""

from __future__ import annotations

import subprocess
import sys

from tests.bench.run import ROOT, bench_json


def test_route_ab_splits_the_students_evenly_and_reports_both():
    result = bench_json("route_ab", "--students", "14")
    # 4 students a round counted (the first 10 warm up), 11 rounds of the USSD script, split in two
    assert result["direct"]["requests"] == result["fastapi"]["requests"] == 22, result
    assert result["direct"]["cpu_ms_mean"] > 0 and result["fastapi"]["cpu_ms_mean"] > 0, result


def test_route_ab_refuses_too_few_students():
    done = subprocess.run([sys.executable, "-m", "bench.route_ab", "--students", "10"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--students: more than 10" in done.stderr
