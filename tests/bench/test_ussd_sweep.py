"""The USSD capacity sweep runs on a real stack at a tiny size and reports every rate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import services

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_ussd_sweep_reports_each_rate_and_the_highest_held():
    services.require("PostgreSQL", services.PG_ADMIN_URL)
    services.require("Redis", "redis://127.0.0.1:6379/10")
    proc = subprocess.run([sys.executable, "-m", "bench.ussd_sweep", "--rates", "5,10", "--seconds", "2",
                           "--api-workers", "1"], cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r["offered_per_s"] for r in result["rates"]] == [5.0, 10.0]
    for r in result["rates"]:
        assert r["ok"] == int(r["offered_per_s"] * 2) and not r["errors"], r  # every screen answered 200
        assert r["server_p99_ms"] is not None and r["server_p99_ms"] >= r["server_p50_ms"] > 0
        assert r["p99_under_aim"] == (r["server_p99_ms"] < 50)
    held = [r["offered_per_s"] for r in result["rates"] if r["p99_under_aim"]]
    assert result["highest_rate_p99_under_aim"] == (max(held) if held else None)
    assert "screens/s offered" in proc.stdout


def test_ussd_sweep_rejects_bad_rates():
    proc = subprocess.run([sys.executable, "-m", "bench.ussd_sweep", "--rates", "fast"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--rates: not a list of numbers: 'fast'" in proc.stderr


@pytest.mark.timeout(150)
def test_ussd_sweep_returning_measures_students_already_in_a_lesson():
    services.require("PostgreSQL", services.PG_ADMIN_URL)
    services.require("Redis", "redis://127.0.0.1:6379/10")
    proc = subprocess.run([sys.executable, "-m", "bench.ussd_sweep", "--rates", "10", "--seconds", "2",
                           "--api-workers", "1", "--returning"], cwd=ROOT, capture_output=True, text=True, timeout=140)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["returning"] is True and "returning students in a lesson" in proc.stdout
    (r,) = result["rates"]
    assert r["ok"] == 20 and not r["errors"], r
    assert r["lesson_screen_share"] >= 0.9, r  # continue-or-step screens, not onboarding


def test_ussd_sweep_new_students_are_onboarding():
    """The default: every measured step is a first dial's onboarding (no lesson screen yet)."""
    proc = subprocess.run([sys.executable, "-m", "bench.ussd_sweep", "--rates", "10", "--seconds", "2",
                           "--api-workers", "1"], cwd=ROOT, capture_output=True, text=True, timeout=140)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (r,) = json.loads(proc.stdout.strip().splitlines()[-1])["rates"]
    assert r["lesson_screen_share"] == 0, r
