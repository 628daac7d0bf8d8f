"""bench.ussd_profile: a USSD step's statements, Redis commands and CPU, counted in-process.

The counts are exact, so they hold the hot path's budget: a step's writes in one statement
(state, screen, handled mark) and two Redis round trips (the lock with the learner's hot
state, the release with the new one).
"""

from __future__ import annotations

from tests.bench.run import bench_json


def test_a_ussd_step_keeps_its_round_trip_budget():
    result = bench_json("ussd_profile", "--students", "3")
    assert result["steps"] == 2 * 16  # two students after the warm-up one, 16 screens each
    # onboarding, the menu and a Teach lesson: 4.62 statements a step on average (5.88 before the
    # state write joined the screen's statement, 4.94 before a first dial's were folded), never
    # more than 7 (a wrong practice answer; 9 before: a first dial); the Redis lock, no GETDEL
    assert result["sql_per_step_mean"] <= 4.65 and result["sql_per_step_max"] <= 7, result
    assert result["redis_per_step_mean"] <= 2.0, result
    # the learner's own writes (language, name, onboarded, streak, last active) go straight to
    # the database (core.driver.write_now): no step runs the ORM's unit of work (4 a student before)
    assert result["orm_flushes_per_student"] == 0, result
    assert result["cpu_ms_mean"] > 0 and result["pg_cpu_ms_mean"] > 0, result
