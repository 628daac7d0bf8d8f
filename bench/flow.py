"""The whole-flow benchmark (`make bench`): the real stack on this machine, simulated students.

Starts on 127.0.0.1 only: a scratch PostgreSQL database, a Redis db, the loopback mock
provider (Africa's Talking, Meta, Twilio, OpenAI-compatible), the gateway under uvicorn
and `somo worker` rq workers (SimpleWorker), plus the two floors of `bench.bare`. Then:
1. peak throughput, closed loop: the bare endpoint, the bare one-INSERT endpoint, our SMS webhook;
2. USSD, open loop at --ussd-rate for --seconds (server time per step): every student on the
   same screen at once, then the same sessions started one after another (measured after
   a ramp of 10 x --think s, every screen in flight in equal shares); then USSD capacity:
   staggered sessions at each --ladder rate, rising, until p99 misses the aim twice;
3. SMS + WhatsApp, open loop at --sms-rate (server time, and end to end: webhook sent ->
   its own reply handed to the mock provider, matched through the outbound row's `reply_to_id`);
4. --lessons students finish a Teach lesson over SMS (segments, UCS-2 share);
then peak memory per process and the cost per student-month. Writes a Markdown report and
a PNG chart to --out. Bounded: every phase has a fixed count and duration.

    .venv/bin/python -m bench.flow [--seconds 20] [--ussd-rate 300] [--sms-rate 100] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis
from rq.worker_registration import REDIS_WORKER_KEYS

from bench import loadgen, scenario
from bench.lessons import run_lessons
from bench.report import write_report
from bench.stack import (
    ROOT,
    cpu_seconds_of,
    drop_database,
    free_port,
    fresh_database,
    group_pids,
    host_cpu,
    host_cpu_use,
    peak_rss_mb,
    start,
    start_uvicorn,
    stop,
)

REDIS = os.environ.get("BENCH_FLOW_REDIS_URL", "redis://127.0.0.1:6379/12")
USSD_AIM_P99_MS = 50.0


def stack_env(db_url: str, mock: str, data_dir: str, llm: bool) -> dict[str, str]:
    env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=REDIS, SOMO_DATA_DIR=data_dir, LOG_LEVEL="WARNING",
               SOMO_ENV="development", PYTHONPATH=str(ROOT), AT_WEBHOOK_TOKEN=scenario.TOKEN, AT_API_KEY="bench",
               AT_USERNAME="bench", AT_API_BASE=mock, WHATSAPP_API_BASE=mock, WHATSAPP_ACCESS_TOKEN="bench",
               WHATSAPP_APP_SECRET=scenario.APP_SECRET, WHATSAPP_PHONE_NUMBER_ID=scenario.PHONE_NUMBER_ID,
               TWILIO_API_BASE=mock, RATE_LIMIT_PER_MINUTE="60",
               # The provider send throttle (10/s by default) is a deployment's contract with its
               # provider; the bench measures our own pipeline, so it is lifted here.
               SEND_RATE_PER_SECOND="5000")
    if llm:
        env.update(OPENAI_API_KEY="bench", OPENAI_BASE_URL=mock + "/v1")
    return env


def summary(name: str, res: loadgen.Result, rate: float | None = None) -> dict:
    server = [s.server_ms for s in res.samples if s.server_ms is not None]
    client = [s.client_ms for s in res.samples]
    return {"case": name, "requests": len(res.samples) + sum(res.errors.values()), "offered_per_s": rate,
            "completed_per_s": round(len(res.samples) / res.elapsed_s, 1) if res.elapsed_s else None,
            "errors": res.errors, "generator_max_lag_ms": round(res.max_lag_ms, 1),
            "server_ms": {p: loadgen.pct(server, q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))},
            "client_ms": {p: loadgen.pct(client, q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}}


def ussd_staggered(port: int, run: str, args, first: int, rate: float | None = None,
                   seconds: float | None = None) -> dict:
    """Phase 2 again with the same scripts, the sessions started one after another
    (`scenario.ussd_staggered`): measured after the ramp, every screen of the script in
    flight in equal shares, where phase 2 has every student on the same screen at once."""
    rate, seconds = rate or args.ussd_rate, seconds or args.seconds
    think = 0.2 if args.quick else args.think  # the ramp is 10 x think
    make, schedule, ramp = scenario.ussd_staggered(run, rate, seconds, think=think, first=first)

    async def measured_window():  # the machine's CPU read at the ramp's end and at the run's
        async def read_at(at: float) -> list[int]:
            await asyncio.sleep(at)
            return host_cpu()

        cpu = asyncio.gather(read_at(ramp), read_at(ramp + seconds))
        res = await loadgen.open_loop(port, make, rate=rate, seconds=ramp + seconds, schedule=schedule)
        return res, await cpu

    res, (cpu_from, cpu_to) = asyncio.run(measured_window())
    measured = loadgen.Result(samples=[x for x in res.samples if schedule[x.index] >= ramp], errors=res.errors,
                              elapsed_s=seconds, max_lag_ms=res.max_lag_ms)
    return {**summary("USSD (AT), sessions staggered", measured, rate), "ramp_s": ramp,
            "students": int(rate / 10 * (ramp + seconds)) + 1, "host_cpu": host_cpu_use(cpu_from, cpu_to)}


def ussd_ladder(port: int, run: str, args, first: int) -> dict:
    """Staggered USSD at each `--ladder` rate, rising, until p99 misses the aim twice in a
    row: the highest rate this machine holds, to set beside its one-INSERT floor (a machine
    slower or busier than the issue's shows it in both)."""
    rows, misses = [], 0
    for rate in args.ladder:
        r = ussd_staggered(port, f"{run}L{rate:g}", args, first, rate=rate, seconds=args.ladder_seconds)
        first += r["students"]
        p99 = r["server_ms"]["p99"]
        rows.append({**r, "held": p99 is not None and p99 < USSD_AIM_P99_MS and not r["errors"]})
        misses = 0 if rows[-1]["held"] else misses + 1
        if misses >= 2:
            break
        time.sleep(2)  # the last rate's queue drains
    return {"aim_p99_ms": USSD_AIM_P99_MS, "seconds": args.ladder_seconds, "rates": rows,
            "highest_held": max((r["offered_per_s"] for r in rows if r["held"]), default=None)}


def reply_links(db_url: str) -> dict[str, dict]:
    """Every inbound row by its provider id: its status, error and text, and the provider ids of
    the outbound rows that reply to it (`reply_to_id`), in id order (a reply may be several parts)."""
    from sqlalchemy import text

    from core.db import make_engine

    engine = make_engine(db_url, pool_size=1)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT i.provider_message_id, i.status, i.error, i.text, o.provider_message_id, o.status, "
                "extract(epoch FROM o.created_at) FROM messages i "
                "LEFT JOIN messages o ON o.reply_to_id = i.id AND o.direction = 'out' "
                "WHERE i.direction = 'in' ORDER BY i.id, o.id")).all()
    finally:
        engine.dispose()
    links: dict[str, dict] = {}
    for in_id, status, error, body, out_id, out_status, out_stored in rows:
        link = links.setdefault(in_id, {"status": status, "error": error, "text": body, "out": [], "stored": None})
        if out_status is not None:
            link["out"].append((out_id, out_status))
            link["stored"] = float(out_stored) if link["stored"] is None else link["stored"]
    return links


def _pcts(values: list[float]) -> dict:
    return {p: loadgen.pct(values, q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}


def provider_id(channel: str, run: str, index: int) -> str:
    """The provider id `bench.scenario` gave inbound request `index` (its `id` / `wamid`)."""
    return f"wamid.{run}.{index}" if channel == "whatsapp" else f"ATPid_{run}_{index}"


def end_to_end(samples: list[loadgen.Sample], sent: dict[int, tuple[str, str]], records: list[dict],
               links: dict[str, dict], run: str) -> dict:
    """Each inbound's own reply: webhook sent -> its first reply part handed to the mock provider.

    The reply is found through the database (outbound rows whose `reply_to_id` is the inbound
    row; the mock provider records the provider id it answered each send with, which the
    sender stores on that row). An inbound with no outbound row of its own is counted in
    `no_reply`, by reason, not matched to a later message's reply; `missing` counts replies
    stored but never seen by the provider (and inbound requests with no stored row).
    `by_phone` is the older measure (the first send to the same phone after the webhook),
    kept for comparison: it charges an inbound with no reply the next message's reply.
    """
    arrived = {r["id"]: r["t"] for r in records if r.get("id")}
    by_phone: dict[str, list[float]] = {}
    for r in records:
        if r.get("to"):
            by_phone.setdefault(r["to"], []).append(r["t"])
    for times in by_phone.values():
        times.sort()
    out: dict[str, dict] = {}
    samples = sorted(samples, key=lambda x: x.sent_at)
    start = samples[0].sent_at if samples else 0.0
    span = samples[-1].sent_at - start if samples else 0.0
    for channel in ("sms", "whatsapp"):
        waits, phone_waits, missing, no_reply = [], [], 0, {}
        to_stored, to_provider = [], []  # the wait split: webhook -> reply row stored -> provider
        first_waits, later_waits, seen = [], [], set()  # a student's first message (onboarding) or not
        by_quarter: list[list[float]] = [[], [], [], []]  # when in the run the inbound was sent
        for s in samples:
            ch, phone = sent.get(s.index, (None, None))
            if ch != channel:
                continue
            after = [t for t in by_phone.get(phone, []) if t >= s.sent_at]
            if after:
                phone_waits.append((after[0] - s.sent_at) * 1000)
            link = links.get(provider_id(channel, run, s.index))
            seen_before = phone in seen
            seen.add(phone)
            if link is None:
                missing += 1
                continue
            if not link["out"]:
                reason = f"{link['status']}: {(link['error'] or 'no reply row')[:60]}"
                no_reply[reason] = no_reply.get(reason, 0) + 1
                continue
            times = [arrived[i] for i, _ in link["out"] if i in arrived]
            if times:
                waits.append((min(times) - s.sent_at) * 1000)
                (later_waits if seen_before else first_waits).append(waits[-1])
                by_quarter[min(3, int(4 * (s.sent_at - start) / max(1e-9, span)))].append(waits[-1])
                if link["stored"] is not None:
                    to_stored.append((link["stored"] - s.sent_at) * 1000)
                    to_provider.append((min(times) - link["stored"]) * 1000)
            else:
                missing += 1
        out[channel] = {"replies": len(waits), "missing": missing, "no_reply": sum(no_reply.values()),
                        "no_reply_by_reason": no_reply,
                        **{p: loadgen.pct(waits, q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))},
                        "reply_stored": _pcts(to_stored), "stored_to_provider": _pcts(to_provider),
                        "first_message": _pcts(first_waits), "later_messages": _pcts(later_waits),
                        "by_quarter_of_run": [_pcts(q) for q in by_quarter],
                        "by_phone": _pcts(phone_waits)}
    return out


def records(mock_port: int) -> list[dict]:
    return httpx.get(f"http://127.0.0.1:{mock_port}/_records", timeout=30).json()["records"]


def drained(r: redis.Redis, timeout: float) -> bool:
    """Wait until the rq queues are empty (the workers have taken every job)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(r.llen(f"rq:queue:{q}") == 0 for q in ("ussd", "default", "broadcast", "low")):
            time.sleep(1.0)  # the last jobs taken finish
            return True
        time.sleep(0.25)
    return False


def workers_ready(r: redis.Redis, count: int, timeout: float) -> bool:
    """Wait until `count` rq workers have registered (rq does so when a worker starts taking
    jobs, after its start-up: imports, the search index), so a phase measures running workers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if r.scard(REDIS_WORKER_KEYS) >= count:
            return True
        time.sleep(0.1)
    return False


def settled(db_url: str, timeout: float) -> dict:
    """Inbound rows still `received` once the queues are empty, and after waiting up to
    `timeout` s more: rows handled late were in flight; rows left were stranded (the sweep's)."""
    from sqlalchemy import text

    from core.db import make_engine

    engine = make_engine(db_url, pool_size=1)
    query = text("SELECT count(*) FROM messages WHERE direction = 'in' AND status = 'received'")
    try:
        with engine.connect() as conn:
            first = conn.execute(query).scalar()
        left, started = first, time.monotonic()
        while left and time.monotonic() - started < timeout:
            time.sleep(1.0)
            with engine.connect() as conn:
                left = conn.execute(query).scalar()
        return {"at_drain": first, "after_wait": left, "waited_s": round(time.monotonic() - started, 1)}
    finally:
        engine.dispose()


def run(args) -> dict:
    run_id = uuid.uuid4().hex[:6]
    db_url = fresh_database("somo_bench_flow")
    r = redis.Redis.from_url(REDIS)
    r.flushdb()
    data_dir = Path(tempfile.mkdtemp(prefix="somo-bench-flow-"))
    procs: dict[str, object] = {}
    result: dict = {"machine": machine(), "args": vars(args)}
    try:
        mock_port = free_port()
        procs["mock provider"] = start_uvicorn("bench.mockprovider:app", mock_port, dict(os.environ), factory=False)
        env = stack_env(db_url, f"http://127.0.0.1:{mock_port}", str(data_dir), args.llm)
        load = start([sys.executable, "-m", "gateway.cli", "curriculum", "import",
                      *map(str, sorted((ROOT / "rag" / "samples").glob("*.yaml")))], env, data_dir / "import.log")
        if load.wait(timeout=300) != 0:
            raise RuntimeError(f"curriculum import failed; see {data_dir / 'import.log'}")
        bare_port, insert_port, api_port = free_port(), free_port(), free_port()
        procs["bare endpoint"] = start_uvicorn("bench.bare:make_bare_app", bare_port, env)
        procs["bare insert endpoint"] = start_uvicorn("bench.bare:make_insert_app", insert_port, env)
        procs["api (uvicorn)"] = start_uvicorn("bench.webhooks:make_gateway_app", api_port, env,
                                               workers=args.api_workers, log_path=data_dir / "api.log")

        def start_workers() -> None:
            for n in range(args.rq_workers):
                procs[f"rq worker {n + 1}"] = start([sys.executable, "-m", "gateway.cli", "worker"], env,
                                                    data_dir / f"worker{n}.log")
            if not workers_ready(r, args.rq_workers, 120):
                raise RuntimeError(f"the rq workers did not start within 120 s; see {data_dir}/worker*.log")

        # The webhook's peak is measured as the floors' is, with nothing else busy on the cores:
        # rq workers draining the jobs it queues would take CPU the floors' phases never lose
        # (--peak-with-workers measures it the older way, the workers already running).
        if args.peak_with_workers:
            start_workers()
        if args.only in (None, "peak"):
            result["peak"] = peak_phase(args, bare_port, insert_port, api_port)
        stop(procs.pop("bare endpoint"))
        stop(procs.pop("bare insert endpoint"))
        if args.only == "peak":
            return result
        if not args.peak_with_workers:
            start_workers()
        drained(r, 120)
        records(mock_port)  # forget the peak phase's sends
        if args.only is None:
            # Warm-up at the rate with other students: the pools grow and every connection
            # prepares its statements once, as in a server that has been up a while.
            students = max(1, int(args.ussd_rate * args.think))
            asyncio.run(loadgen.open_loop(api_port, scenario.ussd_request(run_id + "w", students, students),
                                          rate=args.ussd_rate, seconds=min(3.0, args.seconds)))
            cpu = host_cpu()
            result["ussd"] = summary("USSD (AT)", asyncio.run(loadgen.open_loop(
                api_port, scenario.ussd_request(run_id, max(1, int(args.ussd_rate * args.think))),
                rate=args.ussd_rate, seconds=args.seconds)), args.ussd_rate)
            result["ussd"]["host_cpu"] = host_cpu_use(cpu, host_cpu())
            result["ussd_staggered"] = ussd_staggered(api_port, run_id + "s", args, first=2 * students + 1)
            if args.ladder:
                result["ussd_ladder"] = ussd_ladder(api_port, run_id, args,
                                                    first=2 * students + 2 + result["ussd_staggered"]["students"])
        sent: dict[int, tuple[str, str]] = {}
        cpu_before, wall_before, host_before = cpu_seconds(procs), time.monotonic(), host_cpu()
        chat = asyncio.run(loadgen.open_loop(
            api_port, scenario.chat_request(run_id, max(1, int(args.sms_rate * args.think)), sent),
            rate=args.sms_rate, seconds=args.seconds))
        result["chat"] = summary("SMS + WhatsApp inbound", chat, args.sms_rate)
        result["chat"]["host_cpu"] = host_cpu_use(host_before, host_cpu())
        result["chat"]["drained"] = drained(r, 120)
        # How busy each process was from the first inbound to the drained queue: a worker well
        # below one CPU second per second was waiting, not short of CPU.
        wall = time.monotonic() - wall_before
        result["chat"]["cpu_share"] = {name: round((cpu - cpu_before.get(name, 0.0)) / wall, 2)
                                       for name, cpu in cpu_seconds(procs).items()}
        result["chat"]["cpu_share"]["wall_s"] = round(wall, 1)
        result["chat"]["unhandled_after_drain"] = settled(db_url, 60)
        recs = records(mock_port)
        result["chat"]["end_to_end_ms"] = end_to_end(chat.samples, sent, recs, reply_links(db_url), run_id)
        result["chat"]["student_hours"] = max(1, int(args.sms_rate * args.think)) * args.seconds / 3600
        result["chat"]["llm_tokens"] = sum(x.get("prompt_tokens", 0) + x.get("completion_tokens", 0)
                                           for x in recs if x["provider"] == "llm")
        if args.only == "chat":
            return result
        result["lessons"] = run_lessons(api_port, db_url, args.lessons, run_id)
        result["memory_mb"] = {name: {str(pid): peak_rss_mb(pid) for pid in group_pids(p)}
                               for name, p in procs.items()}
    finally:
        for p in procs.values():
            stop(p)
        r.flushdb()
        drop_database(db_url)
    return result


def peak_phase(args, bare_port: int, insert_port: int, api_port: int) -> dict:
    secs, conc = args.peak_seconds, args.concurrency
    cases = [("bare FastAPI endpoint", bare_port, scenario.bare_request("/bare")),
             ("bare one-INSERT endpoint", insert_port, scenario.bare_request("/bare-insert")),
             ("SMS webhook (store + queue)", api_port, scenario.sms_only_request(uuid.uuid4().hex[:6], 100000))]
    out = {}
    for name, port, make in cases:
        asyncio.run(loadgen.closed_loop(port, make, concurrency=conc, seconds=min(2.0, secs)))  # warm-up
        out[name] = summary(name, asyncio.run(loadgen.closed_loop(port, make, concurrency=conc, seconds=secs)))
    return out


def cpu_seconds(procs: dict) -> dict[str, float]:
    """User + system CPU seconds of each started process and its children (/proc stat)."""
    return {name: cpu_seconds_of(group_pids(proc)) for name, proc in procs.items()}


def machine() -> dict:
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_avg_at_start": [round(x, 2) for x in load]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.flow")
    parser.add_argument("--seconds", type=float, default=20.0, help="each open-loop phase")
    parser.add_argument("--peak-seconds", type=float, default=8.0, help="each closed-loop peak case")
    parser.add_argument("--ussd-rate", type=float, default=300.0)
    parser.add_argument("--sms-rate", type=float, default=100.0)
    parser.add_argument("--think", type=float, default=2.0, help="seconds between one student's messages")
    parser.add_argument("--concurrency", type=int, default=32, help="connections in the peak phase")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument("--lessons", type=int, default=4, help="students finishing a lesson over SMS (en/sw)")
    parser.add_argument("--ladder", default="150,200,250,300",
                        help="USSD capacity: staggered sessions at these rates (screens/s, rising; '' for none) "
                             "until p99 misses the aim twice in a row")
    parser.add_argument("--ladder-seconds", type=float, default=10.0, help="each ladder rate, after its ramp")
    parser.add_argument("--llm", action="store_true", help="configure the OpenAI-compatible mock LLM")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--quick", action="store_true", help="a tiny run (smoke test): seconds 2, rates 20/10")
    parser.add_argument("--only", choices=["peak", "chat"], default=None,
                        help="one phase (peak: the three closed-loop cases; chat: SMS + WhatsApp end to end); "
                             "prints its figures as JSON, writes no report")
    parser.add_argument("--peak-with-workers", action="store_true",
                        help="rq workers already running (draining) during the peak phase, as before round 3")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.peak_seconds, args.ussd_rate, args.sms_rate = 2.0, 1.0, 20.0, 10.0
        args.concurrency, args.api_workers, args.rq_workers, args.lessons = 4, 1, 1, 1
        args.ladder, args.ladder_seconds = "10,20", 2.0
    try:
        args.ladder = [float(x) for x in args.ladder.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--ladder: rates as numbers, comma-separated (got {args.ladder!r})")
    if any(b <= a for a, b in zip(args.ladder, args.ladder[1:], strict=False)) or any(x <= 0 for x in args.ladder):
        parser.error(f"--ladder: rates must be positive and rising (got {args.ladder})")
    started, cpu = time.monotonic(), host_cpu()
    result = run(args)
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["machine"]["host_cpu"] = host_cpu_use(cpu, host_cpu())  # the whole run
    if args.only:
        print(json.dumps({key: result.get(key) for key in ("machine", "peak", "chat", "wall_s")}, indent=1))
        return 0
    md, png = write_report(result, Path(args.out))
    print(md.read_text())
    print(f"report: {md}\nchart: {png}")
    print(json.dumps({"bench": "flow", "report": str(md), "wall_s": result["wall_s"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
