"""Webhook benchmark: Africa's Talking USSD and SMS over HTTP, beside a bare FastAPI endpoint.

Real PostgreSQL and Redis on loopback (a database and a Redis db of its own), the real
app under uvicorn, and an open-loop load: requests leave on a fixed schedule whatever
the answers do, as a gateway's traffic would. USSD requests walk sessions: request i
is step i // S of session i % S, so S = rate x think time sessions are live at once
(300/s x 5 s = 1,500). Server time is measured inside the server (an ASGI wrapper
stamps `x-server-time-ms` when the answer starts), so the load generator's own CPU
does not count; client round trips are reported too.

    .venv/bin/python -m bench.webhooks [--rate 300] [--seconds 20] [--think 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from bench.stack import drop_database, free_port, fresh_database

ROOT = Path(__file__).resolve().parents[1]
REDIS = os.environ.get("BENCH_WEBHOOKS_REDIS_URL", "redis://127.0.0.1:6379/14")
TOKEN = "bench-token"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MAX_DEPTH = 4  # steps per USSD session before the "student" dials again


class ServerTiming:
    """Pure ASGI: stamps the time from the request's arrival to the answer's start."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()

        async def timed(message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - started) * 1000
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-server-time-ms", f"{ms:.3f}".encode())]
            await send(message)

        await self.app(scope, receive, timed)


def make_gateway_app():
    from gateway.app import create_app

    return ServerTiming(create_app())


def make_bare_app():
    """The floor: FastAPI parsing the same form and answering a fixed screen, no storage."""
    app = FastAPI()

    @app.post("/webhooks/africastalking/ussd")
    async def bare(request: Request) -> PlainTextResponse:
        body = await request.body()
        form = dict(pair.split("=", 1) for pair in body.decode().split("&") if "=" in pair)
        return PlainTextResponse("CON Welcome\n1. Learn" if form.get("sessionId") else "END ?")

    return ServerTiming(app)


def start_server(factory: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", f"bench.webhooks:{factory}", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log",
           "--backlog", "4096"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"{factory} did not start on port {port}")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def ussd_form(i: int, sessions: int, run: str) -> dict[str, str]:
    session, step = i % sessions, i // sessions
    dial, depth = divmod(step, MAX_DEPTH)
    return {"sessionId": f"ATUid_{run}_{session}_{dial}", "serviceCode": "*384*1234#",
            "phoneNumber": f"+254711{100000 + session}", "networkCode": "63902",
            "text": "*".join(["1"] * depth)}


def sms_form(i: int, sessions: int, run: str) -> dict[str, str]:
    return {"from": f"+254722{100000 + i % sessions}", "to": "40404", "text": f"Habari {i}",
            "date": "2024-05-03 06:04:45", "id": f"ATPid_{run}_{i}", "linkId": "", "networkCode": "63902"}


async def open_loop(url: str, make_form, rate: float, seconds: float, sessions: int) -> dict:
    """Send `rate` requests a second for `seconds` on a fixed schedule; gather timings."""
    run = uuid.uuid4().hex[:6]
    total = int(rate * seconds)
    server_ms: list[float] = []
    client_ms: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(i: int) -> None:
            sent = time.perf_counter()
            try:
                res = await client.post(url, content=urlencode(make_form(i, sessions, run)), headers=FORM)
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
            client_ms.append((time.perf_counter() - sent) * 1000)
            if res.status_code != 200:
                errors[str(res.status_code)] = errors.get(str(res.status_code), 0) + 1
            if "x-server-time-ms" in res.headers:
                server_ms.append(float(res.headers["x-server-time-ms"]))

        tasks = []
        start = time.perf_counter()
        late = 0.0
        for i in range(total):
            due = start + i / rate
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            else:
                late = max(late, now - due)
            tasks.append(asyncio.create_task(one(i)))
        sent_for = time.perf_counter() - start
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return summarise(total, sent_for, elapsed, server_ms, client_ms, errors, late)


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


def summarise(total, sent_for, elapsed, server_ms, client_ms, errors, late) -> dict:
    return {
        "requests": total, "offered_per_s": round(total / sent_for, 1), "completed_per_s": round(len(client_ms) / elapsed, 1),
        "errors": errors, "generator_max_lag_ms": round(late * 1000, 1),
        "server_ms": {"p50": pct(server_ms, 50), "p99": pct(server_ms, 99), "max": pct(server_ms, 100),
                      "mean": round(statistics.fmean(server_ms), 2) if server_ms else None},
        "client_ms": {"p50": pct(client_ms, 50), "p99": pct(client_ms, 99)},
    }


def run_case(name, factory, path, make_form, args, env) -> dict:
    port = free_port()
    proc = start_server(factory, port, args.workers, env)
    try:
        url = f"http://127.0.0.1:{port}{path}?token={TOKEN}"
        asyncio.run(open_loop(url, make_form, args.rate, min(3.0, args.seconds), args.sessions))  # warm-up
        result = asyncio.run(open_loop(url, make_form, args.rate, args.seconds, args.sessions))
    finally:
        stop(proc)
    result["case"] = name
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.webhooks")
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second, open loop")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--think", type=float, default=5.0, help="seconds between a USSD session's steps")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    args.sessions = max(1, int(args.rate * args.think))
    db_url = fresh_database("somo_bench_wh")
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    data_dir = tempfile.mkdtemp(prefix="somo-bench-")
    env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=REDIS, AT_WEBHOOK_TOKEN=TOKEN, AT_API_KEY="bench",
               AT_API_BASE="http://127.0.0.1:9", SOMO_DATA_DIR=data_dir, LOG_LEVEL="WARNING", SOMO_ENV="development",
               PYTHONPATH=str(ROOT))
    try:
        results = [
            run_case("bare FastAPI endpoint", "make_bare_app", "/webhooks/africastalking/ussd", ussd_form, args, env),
            run_case("USSD webhook", "make_gateway_app", "/webhooks/africastalking/ussd", ussd_form, args, env),
            run_case("SMS webhook", "make_gateway_app", "/webhooks/africastalking/sms", sms_form, args, env),
        ]
    finally:
        drop_database(db_url)
        redis.Redis.from_url(REDIS).flushdb()
    bare = results[0]["server_ms"]["p99"] or 0
    for r in results:
        p99 = r["server_ms"]["p99"]
        r["p99_vs_bare"] = round(p99 / bare, 1) if p99 and bare else None
        print(f"{r['case']:>22}: offered {r['offered_per_s']}/s, completed {r['completed_per_s']}/s, "
              f"server p50 {r['server_ms']['p50']} ms, p99 {p99} ms ({r['p99_vs_bare']}x bare), "
              f"client p50 {r['client_ms']['p50']} ms, p99 {r['client_ms']['p99']} ms, errors {r['errors']}")
    print(json.dumps({"bench": "webhooks", "rate": args.rate, "seconds": args.seconds,
                      "ussd_sessions": args.sessions, "workers": args.workers, "results": results}))
    ussd_p99 = results[1]["server_ms"]["p99"]
    return 0 if ussd_p99 is not None and not results[1]["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
