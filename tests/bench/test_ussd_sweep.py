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


def test_staggered_sessions_start_one_after_another_and_mix_every_screen_evenly():
    """scenario.ussd_staggered: the lockstep run's sessions (each student's first 10 screens,
    `think` apart, in order), started rate/10 a second; after the ramp the rate is the offered
    one and every screen of the script has an equal share."""
    from collections import Counter
    from urllib.parse import parse_qs

    from bench import scenario

    make, schedule, ramp = scenario.ussd_staggered("t", 300, 4, think=2.0, first=100)
    assert ramp == 20.0 and schedule == sorted(schedule) and schedule[0] == 0 and schedule[-1] < ramp + 4
    per_second = Counter(int(t) for t in schedule)
    assert [per_second[s] for s in (0, 1, 2, 19)] == [30, 30, 60, 300]  # rising by 30 a second every think
    assert {per_second[s] for s in range(20, 24)} == {300}  # then steady at the offered rate
    steady = [t for t in schedule if t >= ramp]  # and evenly, 1/300 s apart, not in bursts
    assert all(abs(b - a - 1 / 300) < 1e-9 for a, b in zip(steady, steady[1:], strict=False))
    forms = [{k: v[0] for k, v in parse_qs(make(i)[2].decode(), keep_blank_values=True).items()}
             for i in range(len(schedule))]
    by_phone: dict[str, list[tuple[float, str]]] = {}
    for t, form in zip(schedule, forms, strict=True):
        by_phone.setdefault(form["phoneNumber"], []).append((t, form["text"]))
    for steps in by_phone.values():  # each student: the script in order, think seconds apart
        assert [text for _t, text in steps] == ["*".join(scenario.USSD_ANSWERS[:k]) for k in range(len(steps))]
        assert all(abs(b[0] - a[0] - 2.0) < 1e-9 for a, b in zip(steps, steps[1:], strict=False))
    assert min(by_phone) == scenario.ussd_phone(100)
    measured = Counter(len(text.split("*")) if text else 0
                       for t, text in ((t, f["text"]) for t, f in zip(schedule, forms, strict=True)) if t >= ramp)
    assert set(measured.values()) == {120} and len(measured) == 10  # 1,200 screens: ten screens, 120 each


@pytest.mark.timeout(150)
def test_ussd_sweep_staggered_measures_after_the_ramp():
    services.require("PostgreSQL", services.PG_ADMIN_URL)
    services.require("Redis", "redis://127.0.0.1:6379/10")
    proc = subprocess.run([sys.executable, "-m", "bench.ussd_sweep", "--rates", "10", "--seconds", "2", "--think", "0.3",
                           "--api-workers", "1", "--staggered"], cwd=ROOT, capture_output=True, text=True, timeout=140)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    (r,) = result["rates"]
    assert result["staggered"] is True and r["staggered"] is True and r["ramp_s"] == 3.0
    # the measured 2 s only, ~10 screens a second (the cohorts' shifts move a few across the edges), all 200
    assert 17 <= r["ok"] <= 21 and r["ok"] == round(r["completed_per_s"] * 2) and not r["errors"], r
    assert 0 < r["lesson_screen_share"] < 1, r  # onboarding and lesson screens together
    assert r["server_p99_ms"] >= r["server_p50_ms"] > 0 and r["api_cpu_ms_per_screen"] > 0
    bad = subprocess.run([sys.executable, "-m", "bench.ussd_sweep", "--staggered", "--returning"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--staggered and --returning: choose one" in bad.stderr
