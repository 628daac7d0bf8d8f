"""What one USSD step costs: SQL statements, Redis commands and time, step by step.

Walks simulated students through a real Africa's Talking USSD session (dial, onboarding,
menu, a Teach lesson) by calling the gateway's `handle_ussd` in this process, on a scratch
PostgreSQL database and Redis db, and counts every statement the engine sends and every
Redis command, with this process's CPU and that of the PostgreSQL backends serving the
database (from /proc) per step. `--pyinstrument` also writes an HTML profile of the
steady-state steps.

    .venv/bin/python -m bench.ussd_profile [--students 20] [--pyinstrument /tmp/ussd.html]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager

from sqlalchemy import event

from bench.stack import PG_ADMIN, cpu_seconds_of, drop_database, fresh_database, postgres_backends

REDIS = "redis://127.0.0.1:6379/13"
# A first dial through onboarding into a Teach lesson, then a second session continuing it.
ANSWERS = ["1", "Amina", "skip", "1", "1", "1", "1", "1", "1", "1"]
RESUME_ANSWERS = ["1", "1", "1", "1"]


def cumulative(answers: list[str]) -> list[list[str]]:
    """AT's `text` is every answer of the session so far: [], [a], [a, b], ..."""
    return [answers[:n] for n in range(len(answers) + 1)]


SCRIPT, RESUME = cumulative(ANSWERS), cumulative(RESUME_ANSWERS)


class Counts:
    """Counts SQL statements (by verb), Redis commands, pool checkouts and the ORM's unit-of-work
    flushes (a flush with something to write: `before_flush` fires only then) while `active`."""

    def __init__(self, engine, redis) -> None:
        from sqlalchemy.orm import Session

        self.sql: Counter[str] = Counter()
        self.redis: Counter[str] = Counter()
        self.checkouts = 0
        self.flushes = 0
        self.trace = False
        event.listen(engine, "before_cursor_execute", self._on_sql)
        event.listen(engine.pool, "checkout", self._on_checkout)
        event.listen(Session, "before_flush", self._on_flush)
        original = redis.execute_command

        def counted(*args, **kwargs):
            self.redis[str(args[0]).split()[0].upper()] += 1
            return original(*args, **kwargs)

        redis.execute_command = counted
        pipeline_cls = type(redis.pipeline())
        original_exec = pipeline_cls.execute

        def counted_exec(pipe, *a, **k):
            self.redis["PIPELINE"] += 1
            return original_exec(pipe, *a, **k)

        pipeline_cls.execute = counted_exec

    def _on_checkout(self, *_args) -> None:
        self.checkouts += 1

    def _on_flush(self, *_args) -> None:
        self.flushes += 1

    def _on_sql(self, conn, cursor, statement, params, context, executemany) -> None:
        self.sql[statement.split(None, 1)[0].upper()] += 1
        if self.trace:
            print("   SQL", " ".join(statement.split())[:int(os.environ.get("TRACE_WIDTH", "160"))])

    @contextmanager
    def step(self):
        self.sql.clear()
        self.redis.clear()
        self.checkouts = 0
        self.flushes = 0
        yield


@contextmanager
def scratch_runtime(prefix: str, **settings):
    """(runtime, database URL): a scratch PostgreSQL database and Redis db 13 (flushed), the
    sample pack loaded; the database dropped and the Redis db flushed after."""
    from core.runtime import set_runtime
    from tests.conftest import make_runtime
    from tests.conversation.helpers import load_pack

    db_url = fresh_database(prefix)
    rt = make_runtime(db_url, REDIS, tmp_path=tempfile.mkdtemp(prefix=f"{prefix}-"), **settings)
    rt.redis.flushdb()
    set_runtime(rt)
    try:
        load_pack(rt)
        yield rt, db_url
    finally:
        rt.redis.flushdb()
        rt.close()
        drop_database(db_url)


def run(students: int, profile_path: str | None, trace: bool = False) -> dict:
    from channels import africastalking as at
    from gateway.pipeline import handle_ussd

    with scratch_runtime("somo_bench_prof", rate_limit_per_minute=30) as (rt, db_url):
        counts = Counts(rt.engine, rt.redis)
        per_step: list[dict] = []
        profiler = None
        database = db_url.rsplit("/", 1)[1]
        pg_before: dict[int, float] = {}
        for i in range(students):
            if i == 1:  # the first student pays warm-up: the database's CPU is counted from here
                pg_before = {pid: cpu_seconds_of([pid]) for pid in postgres_backends(database)}
            phone = f"+2547119{i:05d}"
            for session_no, script in enumerate((SCRIPT, RESUME)):
                sid = f"ATUid_prof_{uuid.uuid4().hex[:6]}_{i}_{session_no}"
                for step in script:
                    form = {"sessionId": sid, "serviceCode": "*384*1#", "phoneNumber": phone,
                            "networkCode": "63902", "text": "*".join(step)}
                    if i == 1 and profile_path and profiler is None:
                        from pyinstrument import Profiler

                        profiler = Profiler(interval=0.0005)
                        profiler.start()
                    counts.trace = trace and i == 1 and (os.environ.get("TRACE_ALL") or session_no == 1 or len(step) >= 7)
                    with counts.step():
                        t0, c0 = time.perf_counter(), time.process_time()
                        screen = handle_ussd(rt, at.parse_ussd(form, "KE"))
                        ms = (time.perf_counter() - t0) * 1000
                        cpu = (time.process_time() - c0) * 1000
                        per_step.append({"student": i, "ms": ms, "cpu_ms": cpu, "sql": sum(counts.sql.values()),
                                         "sql_by_verb": dict(counts.sql), "redis": sum(counts.redis.values()),
                                         "redis_by_cmd": dict(counts.redis), "checkouts": counts.checkouts, "flushes": counts.flushes,
                                         "screen": screen[:40]})
        if profiler is not None:
            profiler.stop()
            with open(profile_path, "w") as fh:
                fh.write(profiler.output_html() if profile_path.endswith(".html") else profiler.output_text())
        steady = [s for s in per_step if s["student"] > 0]  # the first student pays warm-up
        pg_cpu = sum(cpu_seconds_of([pid]) - pg_before.get(pid, 0.0) for pid in postgres_backends(database))
        ms = sorted(s["ms"] for s in steady)
        return {
            "bench": "ussd_profile", "students": students, "steps": len(steady),
            "ms_p50": round(statistics.median(ms), 2), "ms_p95": round(ms[int(0.95 * len(ms))], 2),
            "cpu_ms_mean": round(statistics.fmean(s["cpu_ms"] for s in steady), 2),
            # the PostgreSQL backends serving the bench database (this process's connections)
            "pg_cpu_ms_mean": round(pg_cpu * 1000 / len(steady), 2),
            "sql_per_step_mean": round(statistics.fmean(s["sql"] for s in steady), 2),
            "sql_per_step_max": max(s["sql"] for s in steady),
            "redis_per_step_mean": round(statistics.fmean(s["redis"] for s in steady), 2),
            "pool_checkouts_per_step_mean": round(statistics.fmean(s["checkouts"] for s in steady), 2),
            # the ORM's unit of work, run only where a step adds or changes an object it holds
            # (a first dial's new learner and contact; 4 a student before round 13's write_now)
            "orm_flushes_per_step_mean": round(statistics.fmean(s["flushes"] for s in steady), 3),
            "orm_flushes_per_student": round(sum(s["flushes"] for s in steady) / max(1, students - 1), 2),
            "example_steps": [{k: s[k] for k in ("ms", "sql_by_verb", "redis_by_cmd", "flushes", "screen")}
                              for s in per_step if s["student"] == 1],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.ussd_profile")
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--pyinstrument", metavar="HTML", default=None)
    parser.add_argument("--verbose", action="store_true", help="print each step of the second student")
    parser.add_argument("--trace", action="store_true", help="print the SQL of one steady-state lesson step")
    args = parser.parse_args(argv)
    result = run(max(2, args.students), args.pyinstrument, args.trace)
    examples = result.pop("example_steps")
    if args.verbose:
        for s in examples:
            print(f"{s['ms']:7.2f} ms  sql {s['sql_by_verb']}  redis {s['redis_by_cmd']}  orm flushes {s['flushes']}  "
                  f"{s['screen']!r}")
    print(f"USSD step: p50 {result['ms_p50']} ms, p95 {result['ms_p95']} ms, CPU {result['cpu_ms_mean']} ms (this process) "
          f"+ {result['pg_cpu_ms_mean']} ms (PostgreSQL's backends), "
          f"{result['sql_per_step_mean']} SQL statements (max {result['sql_per_step_max']}), "
          f"{result['redis_per_step_mean']} Redis commands, {result['pool_checkouts_per_step_mean']} pool checkouts "
          f"(a ping round trip only after 1 s idle) and {result['orm_flushes_per_step_mean']} ORM unit-of-work flushes "
          f"per step; admin db {PG_ADMIN.rsplit('/', 1)[0]}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
