"""The whole-flow benchmark runs end to end at a tiny size and writes its report.

A real stack (uvicorn, an rq worker, PostgreSQL, Redis, the loopback mock provider) for a
few seconds: every phase must produce figures, every reply must reach the mock provider,
and the lesson phase must finish a lesson. Bounded to well under a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import services

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_quick_flow_bench_writes_its_report(tmp_path):
    services.require("PostgreSQL", services.PG_ADMIN_URL)
    services.require("Redis", "redis://127.0.0.1:6379/12")
    proc = subprocess.run([sys.executable, "-m", "bench.flow", "--quick", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [md] = tmp_path.glob("flow-*.md")
    [png] = tmp_path.glob("flow-*.png")
    [raw] = tmp_path.glob("flow-*.json")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads(raw.read_text())
    peak = result["peak"]
    assert all(r["completed_per_s"] > 0 and not r["errors"] for r in peak.values()), peak
    assert result["ussd"]["server_ms"]["p99"] is not None and not result["ussd"]["errors"]
    staggered = result["ussd_staggered"]  # quick: 20 screens/s, think 0.2 s, so a 2 s ramp, then 2 s measured
    # ~40 (20/s for 2 s): the cohorts' small shifts move a few screens across the window's edges
    assert staggered["ramp_s"] == 2.0 and 34 <= staggered["requests"] <= 42 and not staggered["errors"], staggered
    assert staggered["server_ms"]["p99"] >= staggered["server_ms"]["p50"] > 0
    ladder = result["ussd_ladder"]  # quick: 10 then 20 screens/s, each 2 s after a 2 s ramp
    assert [r["offered_per_s"] for r in ladder["rates"]] == [10.0, 20.0], ladder
    assert all(r["requests"] > 0 and r["held"] == (r["server_ms"]["p99"] < 50 and not r["errors"])
               for r in ladder["rates"]), ladder
    assert ladder["highest_held"] == max((r["offered_per_s"] for r in ladder["rates"] if r["held"]), default=None)
    assert result["chat"]["drained"] and not result["chat"]["errors"]
    for channel, e2e in result["chat"]["end_to_end_ms"].items():
        assert e2e["replies"] > 0 and e2e["missing"] == 0, (channel, e2e)
        assert 0 < e2e["p50"] < 30_000
    lessons = result["lessons"]
    assert lessons["completed"] == lessons["students"] == 1
    # chars/153 is not a floor for single-segment parts (a full part holds 160): chars/160 is
    assert lessons["segments_per_lesson"] >= lessons["chars_per_lesson"] / 160 > 0
    assert 0 < lessons["replies_per_lesson"] <= 5  # over SMS the steps flow: 4 messages for the first topic
    assert lessons["ucs2_share"] == 0.0  # English lesson text stays GSM-7
    assert all(mb for pids in result["memory_mb"].values() for mb in pids.values())
    for phase in (result["ussd"], staggered, result["chat"], *ladder["rates"]):
        assert 0 <= phase["host_cpu"]["stolen"] <= phase["host_cpu"]["busy"] <= 100, phase
    assert 0 < result["machine"]["host_cpu"]["busy"] <= 100
    text = md.read_text()
    assert "| USSD (AT), sessions staggered | 20.0 |" in text
    cpu = staggered["host_cpu"]
    assert f"| {cpu['busy']:g} / {cpu['stolen']:g} |" in text and "CPU busy / stolen %" in text
    assert f"of which stolen by the host {result['machine']['host_cpu']['stolen']:g} %" in text
    assert "| 10.0 | " in text.split("## USSD capacity")[1].split("## End to end")[0]
    if ladder["highest_held"] is not None:
        assert f"up to **{ladder['highest_held']:g} screens/s**" in text and "screens per one-INSERT request" in text
    for heading in ("Throughput", "Open loop", "USSD capacity", "End to end", "SMS per finished Teach lesson",
                    "Cost per student-month", "Peak memory"):
        assert f"## {heading}" in text


@pytest.mark.parametrize("ladder, said", [("300,200", "rates must be positive and rising"), ("150,fast", "rates as numbers"),
                                          ("0,100", "rates must be positive and rising")])
def test_a_bad_ladder_is_refused_before_anything_starts(ladder, said):
    proc = subprocess.run([sys.executable, "-m", "bench.flow", "--ladder", ladder], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and f"--ladder: {said}" in proc.stderr, proc.stderr[-2000:]
