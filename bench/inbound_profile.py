"""What one SMS costs end to end, in-process: the webhook, then the rq worker's jobs.

1. `route`: N Africa's Talking SMS webhooks (first contacts, then the same students again)
   through the ASGI app called directly (FastAPI, our middleware, the threadpool hop),
   sequentially: ms per request, SQL statements and Redis commands per request; then the
   one-INSERT floor of `bench.bare` through the same loop (CPU per request to compare with).
2. `drain`: other students walk `bench.flow`'s chat script (`bench.scenario.CHAT_SCRIPT`:
   onboarding, the menu, then a Teach lesson, whose replies are several SMS parts) one
   round at a time, as they do there: every student's next message is stored through the
   webhook (not counted), then one in-process `somo worker` (the same ObservedWorker
   SimpleWorker) drains the round against the loopback mock provider (counted): inbound/s,
   jobs and SMS parts per inbound message, CPU, statements and Redis commands per inbound.

Scratch PostgreSQL database and Redis db 11; the mock provider on 127.0.0.1. Bounded by N.

    .venv/bin/python -m bench.inbound_profile [--messages 200] [--steps 10] [--pyinstrument /tmp/x.html] [--only route]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from urllib.parse import urlencode

from bench.scenario import chat_text
from bench.stack import drop_database, free_port, fresh_database, start_uvicorn, stop
from bench.ussd_profile import Counts

REDIS = "redis://127.0.0.1:6379/11"
TOKEN = "bench-token"


def _body(run: int, i: int, phone: str, text: str) -> bytes:
    return urlencode({"from": phone, "to": "40404", "text": text, "date": "", "id": f"ATPid_{run}_{i}",
                      "linkId": "", "networkCode": "63902"}).encode()


async def _post(app, path: str, query: str, body: bytes) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", str(len(body)).encode())]}
    sent = {"done": False}
    status = {}

    async def receive():
        if sent["done"]:
            await asyncio.sleep(3600)
        sent["done"] = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            status["code"] = message["status"]

    await app(scope, receive, send)
    return status["code"]


def _profile(path: str | None):
    if not path:
        return None
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    return profiler


def _save(profiler, path: str) -> None:
    profiler.stop()
    with open(path, "w") as fh:
        fh.write(profiler.output_html() if path.endswith(".html") else profiler.output_text())


def route_phase(rt, counts: Counts, messages: int, texts: list[str], profile: str | None) -> dict:
    from gateway.app import create_app

    app = create_app(rt)
    students = max(1, messages // len(texts))
    per: list[dict] = []

    async def go():
        profiler = None
        for i in range(students * len(texts)):
            student, step = i % students, i // students
            if i == min(20, students) and profile:
                profiler = _profile(profile)  # after warm-up
            with counts.step():
                t0, c0 = time.perf_counter(), time.process_time()
                code = await _post(app, "/webhooks/africastalking/sms", f"token={TOKEN}",
                                   _body(0, i, f"+2547333{student:05d}", texts[step]))
                per.append({"ms": (time.perf_counter() - t0) * 1000, "code": code, "first": step == 0,
                            "cpu_ms": (time.process_time() - c0) * 1000,
                            "sql": sum(counts.sql.values()), "redis": sum(counts.redis.values()),
                            "sql_by_verb": dict(counts.sql), "redis_by_cmd": dict(counts.redis)})
        if profiler is not None:
            _save(profiler, profile)

    asyncio.run(go())
    bad = [p["code"] for p in per if p["code"] != 200]
    if bad:
        raise RuntimeError(f"the SMS webhook answered {Counter(bad)} (not 200)")
    out = {}
    for label, rows in (("first contact", [p for p in per if p["first"]][5:]),
                        ("returning", [p for p in per if not p["first"]])):
        if not rows:
            continue
        ms = sorted(p["ms"] for p in rows)
        out[label] = {"requests": len(rows), "ms_p50": round(statistics.median(ms), 2),
                      "ms_mean": round(statistics.fmean(ms), 2),
                      "cpu_ms_mean": round(statistics.fmean(p["cpu_ms"] for p in rows), 2),
                      "per_s_one_thread": round(1000 / statistics.fmean(ms), 1),
                      "sql": round(statistics.fmean(p["sql"] for p in rows), 2),
                      "redis": round(statistics.fmean(p["redis"] for p in rows), 2),
                      "example_sql": rows[-1]["sql_by_verb"], "example_redis": rows[-1]["redis_by_cmd"]}
    return out


def floor_phase(db_url: str, messages: int) -> dict:
    """The one-INSERT floor (`bench.bare.make_insert_app`: same driver, pool and threadpool
    hop) through the same in-process request loop: CPU per request to compare the route with."""
    import os

    from bench.bare import make_insert_app

    os.environ["DATABASE_URL"] = db_url
    app = make_insert_app()
    per: list[tuple[float, float]] = []

    async def go():
        for i in range(messages):
            t0, c0 = time.perf_counter(), time.process_time()
            code = await _post(app, "/bare-insert", "", _body(1, i, f"+2547444{i:05d}", "Hi"))
            if code != 200:
                raise RuntimeError(f"the floor answered {code}")
            per.append(((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000))

    asyncio.run(go())
    rows = per[20:]
    return {"requests": len(rows), "ms_p50": round(statistics.median(p[0] for p in rows), 2),
            "ms_mean": round(statistics.fmean(p[0] for p in rows), 2),
            "cpu_ms_mean": round(statistics.fmean(p[1] for p in rows), 2)}


def drain_phase(rt, counts: Counts, students: int, texts: list[str], profile: str | None,
                trace: bool = False) -> dict:
    """Round by round: every student's next message through the webhook (not counted), then
    one worker drains the round (counted), so each job finds one new message, as in `bench.flow`."""
    from gateway.app import create_app

    app = create_app(rt)
    jobs: Counter[str] = Counter()
    sql: Counter[str] = Counter()
    redis_cmds: Counter[str] = Counter()
    seconds = cpu = 0.0
    profiler = None
    for step, text in enumerate(texts):
        async def post_round(step=step, text=text):
            for student in range(students):
                code = await _post(app, "/webhooks/africastalking/sms", f"token={TOKEN}",
                                   _body(2, step * students + student, f"+2547555{student:05d}", text))
                if code != 200:
                    raise RuntimeError(f"the SMS webhook answered {code} (not 200)")

        asyncio.run(post_round())
        if profile and profiler is None:
            profiler = _profile(profile)
        elif profiler is not None:
            profiler.start()
        counts.trace = trace
        with counts.step():
            round_s, round_cpu = _drain_round(rt, jobs)
            sql.update(counts.sql)
            redis_cmds.update(counts.redis)
        counts.trace = False
        if profiler is not None:
            profiler.stop()
        seconds, cpu = seconds + round_s, cpu + round_cpu
    if profiler is not None:
        with open(profile, "w") as fh:
            fh.write(profiler.output_html() if profile.endswith(".html") else profiler.output_text())
    inbound = students * len(texts)
    total = sum(jobs.values())
    from sqlalchemy import func, select

    from core.models import Direction, Message

    with rt.session() as session:
        statuses = dict(session.execute(select(Message.status, func.count()).where(
            Message.direction == Direction.OUT.value, Message.phone.like("+2547555%")).group_by(Message.status)).all())
    return {"inbound": inbound, "jobs": dict(jobs), "seconds": round(seconds, 2), "outbound_by_status": statuses,
            "jobs_per_s": round(total / seconds, 1), "inbound_per_s": round(inbound / seconds, 1),
            "jobs_per_inbound": round(total / max(1, inbound), 2),
            "sms_per_inbound": round(sum(statuses.values()) / max(1, inbound), 2),
            "cpu_ms_per_inbound": round(cpu * 1000 / max(1, inbound), 2),
            "sql_per_inbound": round(sum(sql.values()) / max(1, inbound), 2), "sql_by_verb": dict(sql),
            "redis_per_inbound": round(sum(redis_cmds.values()) / max(1, inbound), 2),
            "redis_by_cmd": dict(redis_cmds)}


def _drain_round(rt, jobs: Counter[str]) -> tuple[float, float]:
    """One burst worker until the queues are empty: (wall seconds, CPU seconds of this process)."""
    from core.worker import ObservedWorker

    original = ObservedWorker.perform_job

    def perform(worker, job, queue, execution):
        jobs[job.func_name.rsplit(".", 1)[-1]] += 1
        return original(worker, job, queue, execution)

    ObservedWorker.perform_job = perform
    try:
        worker = ObservedWorker(list(rt.queue._queues.values()), connection=rt.redis)
        t0, c0 = time.perf_counter(), time.process_time()
        worker.work(burst=True, logging_level="WARNING")
        return time.perf_counter() - t0, time.process_time() - c0
    finally:
        ObservedWorker.perform_job = original


def run(messages: int, only: str | None, route_profile: str | None, drain_profile: str | None,
        trace: bool = False, steps: int = 10, redis_url: str = REDIS) -> dict:
    import os

    from core.runtime import set_runtime
    from tests.conftest import make_runtime
    from tests.conversation.helpers import load_pack

    mock_port = free_port()
    mock = start_uvicorn("bench.mockprovider:app", mock_port, dict(os.environ), factory=False)
    db_url = fresh_database("somo_bench_inbound")
    base = f"http://127.0.0.1:{mock_port}"
    rt = make_runtime(db_url, redis_url, tmp_path=tempfile.mkdtemp(prefix="somo-inbound-"), rate_limit_per_minute=600,
                      at_webhook_token=TOKEN, at_api_key="bench", at_username="bench", at_api_base=base,
                      send_rate_per_second=5000)
    set_runtime(rt)
    try:
        load_pack(rt)
        counts = Counts(rt.engine, rt.redis)
        texts = ["Hi", "1", "Amina", "SKIP", "1"]
        result: dict = {"bench": "inbound_profile", "messages": messages}
        if only in (None, "route"):
            result["route"] = route_phase(rt, counts, messages, texts, route_profile)
            result["floor"] = floor_phase(db_url, messages)
            for queue in rt.queue._queues.values():  # the route's students are not the drain's
                queue.empty()
        if only in (None, "drain"):
            script = [chat_text(step) for step in range(steps)]
            result["drain"] = drain_phase(rt, counts, max(1, messages // steps), script, drain_profile, trace)
        return result
    finally:
        set_runtime(None)
        rt.redis.flushdb()
        rt.close()
        drop_database(db_url)
        stop(mock)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.inbound_profile")
    parser.add_argument("--messages", type=int, default=200, help="SMS webhooks (5 per student)")
    parser.add_argument("--only", choices=["route", "drain"], default=None)
    parser.add_argument("--steps", type=int, default=10,
                        help="messages per drain student, along bench.flow's chat script (10: its 20 s at 2 s apart)")
    parser.add_argument("--pyinstrument", metavar="FILE", default=None, help="profile of the route phase")
    parser.add_argument("--pyinstrument-drain", metavar="FILE", default=None, help="profile of the drain")
    parser.add_argument("--trace", action="store_true", help="print every SQL statement of the drain")
    parser.add_argument("--redis", default=REDIS, help="Redis URL (flushed); a test run that picks the same db "
                        "takes the drain's jobs (tests use db 1 + pid %% 15)")
    args = parser.parse_args(argv)
    result = run(max(10, min(args.messages, 5000)), args.only, args.pyinstrument, args.pyinstrument_drain,
                 args.trace, max(1, args.steps), args.redis)
    for label, r in result.get("route", {}).items():
        print(f"SMS webhook, {label}: p50 {r['ms_p50']} ms, mean {r['ms_mean']} ms, CPU {r['cpu_ms_mean']} ms "
              f"({r['per_s_one_thread']}/s on one thread), {r['sql']} SQL, {r['redis']} Redis")
    if "floor" in result:
        f = result["floor"]
        print(f"one-INSERT floor (bench.bare, same loop): p50 {f['ms_p50']} ms, mean {f['ms_mean']} ms, "
              f"CPU {f['cpu_ms_mean']} ms")
    if "drain" in result:
        d = result["drain"]
        print(f"worker drain: {d['inbound']} inbound in {d['seconds']} s = {d['inbound_per_s']} inbound/s, "
              f"{d['jobs_per_s']} jobs/s, {d['jobs_per_inbound']} jobs, {d['sms_per_inbound']} SMS, "
              f"{d['cpu_ms_per_inbound']} ms CPU (this process), "
              f"{d['sql_per_inbound']} SQL, "
              f"{d['redis_per_inbound']} Redis per inbound; jobs {d['jobs']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
