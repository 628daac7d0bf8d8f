"""Capacity figures for docs/operations.md: API webhooks per second per core, worker messages per second.

Runs against real PostgreSQL and Redis on loopback (a database and a Redis db of its own),
one uvicorn worker (one core) taking Africa's Talking SMS webhooks, then one rq worker
draining what they queued, with the AT messaging API answered by a stub on loopback.
Bounded: REQUESTS webhooks, CONCURRENCY at a time. Prints one JSON object.

    .venv/bin/python -m bench.capacity [--requests 400] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
TOKEN = "bench-token"
SEND_ANSWER = {"SMSMessageData": {"Message": "Sent to 1/1", "Recipients": [
    {"statusCode": 101, "number": "+254711000111", "status": "Success", "cost": "KES 0.8000", "messageId": "ATXid_b"}]}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stub_at() -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            raw = json.dumps(SEND_ANSWER).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def fresh_database() -> str:
    admin = create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "somo_bench" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "somo_bench"'))
    admin.dispose()
    url = PG_ADMIN.rsplit("/", 1)[0] + "/somo_bench"
    from core.migrate import upgrade

    upgrade(url)
    return url


def post_all(base: str, n: int, concurrency: int) -> tuple[float, list[float]]:
    def one(i: int) -> float:
        form = {"from": f"+2547110{i % 200:05d}", "to": "40404", "text": "Hello Somo", "date": "2024-05-03T06:04:45Z",
                "id": f"ATPid_bench_{i}", "linkId": "", "networkCode": "63902"}
        start = time.perf_counter()
        r = client.post(f"{base}/webhooks/africastalking/sms?token={TOKEN}", content=urlencode(form),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        r.raise_for_status()
        return time.perf_counter() - start

    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client:
        for i in range(20):  # warm-up, not timed
            one(n + i)
        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = list(pool.map(one, range(n)))
        return time.perf_counter() - start, latencies


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args(argv)
    db_url = fresh_database()
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    server, at_base = stub_at()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(DATABASE_URL=db_url, REDIS_URL=REDIS, AT_API_BASE=at_base, AT_API_KEY="bench-key",
               AT_USERNAME="bench", AT_WEBHOOK_TOKEN=TOKEN, LOG_LEVEL="WARNING", SOMO_DATA_DIR="/tmp/somo-bench")
    api = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", "1"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        elapsed, latencies = post_all(base, args.requests, args.concurrency)
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(timeout=30)
    queued = redis.Redis.from_url(REDIS).llen("rq:queue:default")
    start = time.perf_counter()
    worker = subprocess.run([sys.executable, "-m", "gateway.cli", "worker", "--burst"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    drain = time.perf_counter() - start
    server.shutdown()
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        handled = conn.execute(text("SELECT count(*) FROM messages WHERE direction='in' AND status <> 'received'")).scalar()
        sent = conn.execute(text("SELECT count(*) FROM messages WHERE direction='out' AND status IN ('sent','delivered')")).scalar()
    engine.dispose()
    latencies.sort()
    print(json.dumps({
        "api_webhooks_per_s_one_core": round(args.requests / elapsed, 1),
        "api_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "api_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        "jobs_queued": queued, "worker_exit": worker.returncode,
        "worker_inbound_handled": handled, "worker_sends_done": sent, "worker_drain_s": round(drain, 1),
        "worker_inbound_per_s": round(handled / drain, 1) if drain else None,
        "requests": args.requests, "concurrency": args.concurrency, "cpus": os.cpu_count(),
    }, indent=1))
    return 0 if worker.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
