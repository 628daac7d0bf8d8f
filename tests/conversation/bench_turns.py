"""Latency of one conversation turn as a USSD student sees it (store, lock, engine, render),
on PostgreSQL, without and with Redis. Run: `.venv/bin/python -m tests.conversation.bench_turns`
(needs the PostgreSQL and Redis of the test suite; uses a scratch database and Redis db 14)."""

from __future__ import annotations

import statistics
import time
import uuid

from sqlalchemy import create_engine, text

from core.migrate import upgrade
from core.runtime import set_runtime
from tests.conftest import make_runtime
from tests.conversation.helpers import Phone, load_pack

SCRIPT = ["", "1", "Amina", "skip", "1", "1", "1", "1", "1", "1", "1"]  # first dial into a Teach lesson


def main(students: int = 20) -> None:
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    name = f"somo_bench_{uuid.uuid4().hex[:6]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        for redis_url in (None, "redis://127.0.0.1:6379/14"):
            rt = make_runtime(url, redis_url, tmp_path="/tmp/somo-bench", rate_limit_per_minute=0)
            set_runtime(rt)
            load_pack(rt)
            times = []
            for i in range(students):
                phone = Phone(rt, f"+2547110{i:05d}", "ussd")
                for step in SCRIPT:
                    t0 = time.perf_counter()
                    phone.dial() if step == "" else phone.send(step)
                    times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            print(f"redis={'yes' if redis_url else 'no '}  {len(times)} USSD turns: p50 {statistics.median(times):.1f} ms"
                  f"  p95 {times[int(len(times) * 0.95)]:.1f} ms  max {times[-1]:.1f} ms")
            if rt.redis is not None:
                rt.redis.flushdb()
            rt.close()
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
