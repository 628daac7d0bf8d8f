"""rq workers: the request id rides in job meta, failures and retries are counted, metrics are served."""

from __future__ import annotations

import socket
import time
import urllib.request

from fastapi.testclient import TestClient

from core.observability import request_id_scope
from core.worker import ObservedWorker
from gateway.app import create_app
from gateway.cli import main as somo
from gateway.metrics import serve_worker_metrics
from tests.ops.scrape import Scrape, scrape


def _drain(rt) -> None:
    queues = [rt.queue.rq_queue(name) for name in ("ussd", "default", "broadcast", "low")]
    ObservedWorker(queues, connection=rt.redis).work(burst=True, logging_level="ERROR")


def test_a_job_runs_under_the_request_id_that_enqueued_it(rt_redis):
    with request_id_scope("req-from-webhook"):
        job_id = rt_redis.queue.enqueue("tests.ops.jobs.remember_request_id", "seen-rid", job_id="rid-job")
    rt_redis.queue.enqueue("tests.ops.jobs.remember_request_id", "seen-none")  # enqueued outside a request
    from rq.job import Job

    assert Job.fetch(job_id, connection=rt_redis.redis).meta == {"request_id": "req-from-webhook"}
    _drain(rt_redis)
    assert rt_redis.redis.get("seen-rid") == b"req-from-webhook"
    assert rt_redis.redis.get("seen-none") == b""


def test_retries_and_final_failures_are_counted_per_job(rt_redis):
    job = "tests.ops.jobs.always_fails"
    before = Scrape(_text())
    rt_redis.queue.enqueue(job, "attempts", retry_intervals=[0, 0])
    _drain(rt_redis)
    after = Scrape(_text())
    assert rt_redis.redis.get("attempts") == b"3"  # one try and two retries
    assert after.value("somo_job_retries_total", job=job) - before.value("somo_job_retries_total", job=job) == 2
    assert after.value("somo_job_failures_total", job=job) - before.value("somo_job_failures_total", job=job) == 1
    assert after.value("somo_job_seconds_count", job=job) - before.value("somo_job_seconds_count", job=job) == 3


def _text() -> str:
    from prometheus_client import REGISTRY, generate_latest

    return generate_latest(REGISTRY).decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_worker_serves_its_own_metrics_endpoint(rt_redis):
    port = _free_port()
    server, thread = serve_worker_metrics(port, addr="127.0.0.1")
    try:
        rt_redis.queue.enqueue("tests.ops.jobs.remember_request_id", "k1")
        _drain(rt_redis)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
        thread.join(timeout=5)
    result = Scrape(body)
    assert result.value("somo_job_seconds_count", job="tests.ops.jobs.remember_request_id") >= 1


def test_queue_depth_and_oldest_job_age_are_read_from_redis_at_scrape_time(rt_redis):
    for i in range(3):
        rt_redis.queue.enqueue("tests.ops.jobs.remember_request_id", f"b{i}", queue="broadcast")
    rt_redis.queue.enqueue("tests.ops.jobs.remember_request_id", "u0", queue="ussd")
    time.sleep(1.2)
    client = TestClient(create_app(rt_redis))
    result = scrape(client)
    assert result.value("somo_queue_depth", queue="broadcast") == 3
    assert result.value("somo_queue_depth", queue="ussd") == 1
    assert result.value("somo_queue_depth", queue="default") == 0
    assert 1.0 <= result.value("somo_job_age_seconds", queue="broadcast") < 60
    assert result.value("somo_job_age_seconds", queue="default") == 0
    _drain(rt_redis)
    assert scrape(client).value("somo_queue_depth", queue="broadcast") == 0


def test_worker_refuses_unknown_queue_names(rt_redis, capsys, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert somo(["worker", "--burst", "--queues", "default,nope"]) == 2
    assert "--queues: unknown queue(s) nope" in capsys.readouterr().err
