"""The whole-flow benchmark (`make bench`): the real stack on this machine, simulated students.

Starts on 127.0.0.1 only: a scratch PostgreSQL database, a Redis db, the loopback mock
provider (Africa's Talking, Meta, Twilio, OpenAI-compatible), the gateway under uvicorn
and `somo worker` rq workers (SimpleWorker), plus the two floors of `bench.bare`. Then:
1. peak throughput, closed loop: the bare endpoint, the bare one-INSERT endpoint, our SMS webhook;
2. USSD, open loop at --ussd-rate for --seconds (server time per step);
3. SMS + WhatsApp, open loop at --sms-rate (server time, and end to end: webhook sent ->
   reply handed to the mock provider);
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

from bench import loadgen, scenario
from bench.lessons import run_lessons
from bench.report import write_report
from bench.stack import (
    ROOT,
    drop_database,
    free_port,
    fresh_database,
    group_pids,
    peak_rss_mb,
    start,
    start_uvicorn,
    stop,
)

REDIS = os.environ.get("BENCH_FLOW_REDIS_URL", "redis://127.0.0.1:6379/12")


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


def end_to_end(samples: list[loadgen.Sample], sent: dict[int, tuple[str, str]], records: list[dict]) -> dict:
    """Match each inbound to the first send to the same phone after it; times in ms, by channel."""
    by_phone: dict[str, list[float]] = {}
    for r in records:
        if r.get("to"):
            by_phone.setdefault(r["to"], []).append(r["t"])
    for times in by_phone.values():
        times.sort()
    out: dict[str, dict] = {}
    for channel in ("sms", "whatsapp"):
        waits, missing = [], 0
        for s in samples:
            ch, phone = sent.get(s.index, (None, None))
            if ch != channel:
                continue
            after = [t for t in by_phone.get(phone, []) if t >= s.sent_at]
            if after:
                waits.append((after[0] - s.sent_at) * 1000)
            else:
                missing += 1
        out[channel] = {"replies": len(waits), "missing": missing,
                        **{p: loadgen.pct(waits, q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}}
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
        for n in range(args.rq_workers):
            procs[f"rq worker {n + 1}"] = start([sys.executable, "-m", "gateway.cli", "worker"], env,
                                                data_dir / f"worker{n}.log")
        result["peak"] = peak_phase(args, bare_port, insert_port, api_port)
        stop(procs.pop("bare endpoint"))
        stop(procs.pop("bare insert endpoint"))
        drained(r, 120)
        records(mock_port)  # forget the peak phase's sends
        result["ussd"] = summary("USSD (AT)", asyncio.run(loadgen.open_loop(
            api_port, scenario.ussd_request(run_id, max(1, int(args.ussd_rate * args.think))),
            rate=args.ussd_rate, seconds=args.seconds)), args.ussd_rate)
        sent: dict[int, tuple[str, str]] = {}
        chat = asyncio.run(loadgen.open_loop(
            api_port, scenario.chat_request(run_id, max(1, int(args.sms_rate * args.think)), sent),
            rate=args.sms_rate, seconds=args.seconds))
        result["chat"] = summary("SMS + WhatsApp inbound", chat, args.sms_rate)
        result["chat"]["drained"] = drained(r, 120)
        recs = records(mock_port)
        result["chat"]["end_to_end_ms"] = end_to_end(chat.samples, sent, recs)
        result["chat"]["student_hours"] = max(1, int(args.sms_rate * args.think)) * args.seconds / 3600
        result["chat"]["llm_tokens"] = sum(x.get("prompt_tokens", 0) + x.get("completion_tokens", 0)
                                           for x in recs if x["provider"] == "llm")
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
    parser.add_argument("--llm", action="store_true", help="configure the OpenAI-compatible mock LLM")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--quick", action="store_true", help="a tiny run (smoke test): seconds 2, rates 20/10")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.peak_seconds, args.ussd_rate, args.sms_rate = 2.0, 1.0, 20.0, 10.0
        args.concurrency, args.api_workers, args.rq_workers, args.lessons = 4, 1, 1, 1
    started = time.monotonic()
    result = run(args)
    result["wall_s"] = round(time.monotonic() - started, 1)
    md, png = write_report(result, Path(args.out))
    print(md.read_text())
    print(f"report: {md}\nchart: {png}")
    print(json.dumps({"bench": "flow", "report": str(md), "wall_s": result["wall_s"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
