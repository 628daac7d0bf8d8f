"""core.worker on a real Redis: rq's per-job records in three round trips, and every guarantee
rq's own paths gave (retries, the failed registry, the metrics, a killed worker's jobs,
`rq suspend`, job-id dedupe, `rq info`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from prometheus_client import REGISTRY
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.suspension import resume, suspend
from rq.worker import Worker

from core.queue import QUEUES
from core.runtime import get_runtime
from core.worker import ObservedWorker

ROOT = Path(__file__).resolve().parents[2]
HERE = "tests.core.test_worker"


# Job functions (dotted paths: the worker imports them).
def flaky(key: str, failures: int) -> None:
    """Raises on its first `failures` runs, then succeeds."""
    if get_runtime().redis.incr(key) <= failures:
        raise RuntimeError("flaky on purpose")


def hang(key: str) -> None:
    get_runtime().redis.set(key, "started")
    time.sleep(60)


def _drain(rt, names=QUEUES) -> ObservedWorker:
    worker = ObservedWorker([rt.queue.rq_queue(n) for n in names], connection=rt.redis)
    worker.work(burst=True, logging_level="ERROR")
    return worker


def _count(metric: str, job: str) -> float:
    return REGISTRY.get_sample_value(metric, {"job": job}) or 0.0


def _round_trips(rt, run) -> int:
    """Redis round trips of `run()`: commands outside a pipeline, and pipelines."""
    calls = 0
    client = rt.redis
    pipeline_cls = type(client.pipeline())
    original, original_exec = client.execute_command, pipeline_cls.execute

    def command(*args, **kwargs):
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    def execute(pipe, *args, **kwargs):
        nonlocal calls
        calls += 1
        return original_exec(pipe, *args, **kwargs)

    client.execute_command, pipeline_cls.execute = command, execute
    try:
        run()
    finally:
        client.execute_command, pipeline_cls.execute = original, original_exec
    return calls


def test_a_job_costs_three_round_trips_of_rq_bookkeeping(rt_redis):
    """One script pops the job, one pipeline starts it, one ends it (rq's own: ~19)."""
    def drain(jobs: int):
        for i in range(jobs):
            rt_redis.queue.enqueue("core.clock.now", job_id=f"cheap-{jobs}-{i}")
        return _round_trips(rt_redis, lambda: _drain(rt_redis))

    drain(1)  # loads the scripts
    one, seven = drain(1), drain(7)
    assert (seven - one) / 6 == 3  # the rest is the burst worker's start and end
    queue = rt_redis.queue.rq_queue()
    assert not any(rt_redis.redis.exists(Job.key_for(f"cheap-7-{i}")) for i in range(7))  # result_ttl=0
    assert StartedJobRegistry(queue=queue).count == 0 and FailedJobRegistry(queue=queue).count == 0
    assert not rt_redis.redis.keys("rq:execution:*")  # every execution record cleaned up


def test_a_finished_job_id_can_be_queued_again_and_a_queued_one_cannot(rt_redis):
    queue = rt_redis.queue.rq_queue()
    rt_redis.queue.enqueue(f"{HERE}.flaky", "runs", 0, job_id="dedupe-1")
    rt_redis.queue.enqueue(f"{HERE}.flaky", "runs", 0, job_id="dedupe-1")  # still queued: not again
    assert queue.job_ids == ["dedupe-1"]
    _drain(rt_redis)
    assert rt_redis.redis.get("runs") == b"1"
    assert not rt_redis.redis.exists(Job.key_for("dedupe-1"))  # finished: no hash, no result
    assert FinishedJobRegistry(queue=queue).count == 0
    rt_redis.queue.enqueue(f"{HERE}.flaky", "runs", 0, job_id="dedupe-1")
    assert queue.job_ids == ["dedupe-1"]
    _drain(rt_redis)
    assert rt_redis.redis.get("runs") == b"2"


def test_a_job_with_retries_is_retried_then_finishes(rt_redis):
    name = f"{HERE}.flaky"
    retries, failures = _count("somo_job_retries_total", name), _count("somo_job_failures_total", name)
    rt_redis.queue.enqueue(name, "tries", 2, job_id="retried-1", retry_intervals=[0, 0, 0])
    worker = _drain(rt_redis)
    assert rt_redis.redis.get("tries") == b"3"  # two failures, then success
    assert _count("somo_job_retries_total", name) - retries == 2
    assert _count("somo_job_failures_total", name) == failures
    assert not rt_redis.redis.exists(Job.key_for("retried-1"))
    assert FailedJobRegistry(queue=rt_redis.queue.rq_queue()).count == 0
    stats = rt_redis.redis.hgetall(worker.key)
    assert stats[b"successful_job_count"] == b"1" and stats[b"failed_job_count"] == b"2"


def test_a_job_that_fails_for_good_lands_in_the_failed_registry_for_a_week(rt_redis):
    name = f"{HERE}.flaky"
    retries, failures = _count("somo_job_retries_total", name), _count("somo_job_failures_total", name)
    rt_redis.queue.enqueue(name, "fails", 99, job_id="failed-1", retry_intervals=[0])
    _drain(rt_redis)
    assert rt_redis.redis.get("fails") == b"2"  # one try, one retry
    assert _count("somo_job_retries_total", name) - retries == 1
    assert _count("somo_job_failures_total", name) - failures == 1
    queue = rt_redis.queue.rq_queue()
    registry = FailedJobRegistry(queue=queue)
    assert registry.get_job_ids() == ["failed-1"]
    week = 7 * 86400
    assert abs(registry.get_expiration_time(Job.fetch("failed-1", connection=rt_redis.redis)).timestamp()
               - (time.time() + week)) < 60
    job = Job.fetch("failed-1", connection=rt_redis.redis)
    assert job.get_status() == JobStatus.FAILED and "flaky on purpose" in job.latest_result().exc_string
    assert rt_redis.redis.ttl(job.key) > week - 60
    rt_redis.queue.enqueue(name, "fails", 99, job_id="failed-1")  # a failed id can be queued again
    assert queue.job_ids == ["failed-1"]


def test_a_suspended_worker_takes_no_job(rt_redis):
    rt_redis.queue.enqueue(f"{HERE}.flaky", "suspended", 0, job_id="suspended-1")
    suspend(rt_redis.redis)
    try:
        _drain(rt_redis)
        assert rt_redis.queue.rq_queue().job_ids == ["suspended-1"] and rt_redis.redis.get("suspended") is None
    finally:
        resume(rt_redis.redis)
    _drain(rt_redis)
    assert rt_redis.redis.get("suspended") == b"1"


def test_a_one_queue_worker_leaves_nothing_in_rqs_intermediate_list(rt_redis):
    for i in range(3):
        rt_redis.queue.enqueue(f"{HERE}.flaky", "one-queue", 0, job_id=f"one-queue-{i}")
    _drain(rt_redis, ["default"])
    assert rt_redis.redis.get("one-queue") == b"3"
    queue = rt_redis.queue.rq_queue()
    assert rt_redis.redis.llen(queue.intermediate_queue_key) == 0 and queue.count == 0


def test_a_worker_stops_its_pubsub_thread_at_once_even_when_it_read_the_unsubscribe_first(rt_redis):
    """rq's teardown sent UNSUBSCRIBE, then stopped the pubsub thread and joined it: a thread that
    read the reply first waited 60 s for a subscription, and a burst worker took a minute to exit."""
    worker = ObservedWorker([rt_redis.queue.rq_queue()], connection=rt_redis.redis)
    worker.subscribe()
    thread, send = worker.pubsub_thread, worker.pubsub.unsubscribe

    def unsubscribe_then_pause(*args):
        send(*args)
        time.sleep(0.3)  # the thread reads the reply before the teardown goes on, as under CPU load

    worker.pubsub.unsubscribe = unsubscribe_then_pause
    teardown = threading.Thread(target=worker.unsubscribe, daemon=True)  # a hang fails in 5 s, not 60
    start = time.monotonic()
    teardown.start()
    teardown.join(5)
    assert not teardown.is_alive(), "the worker's unsubscribe waited on its pubsub thread"
    assert not thread.is_alive() and time.monotonic() - start < 1  # the thread saw the stop flag: no join timeout
    assert worker.pubsub.connection is None  # closed, its connection back in the pool


def _rq_info(rt) -> str:
    rq = Path(sys.executable).with_name("rq")
    return subprocess.run([str(rq), "info", "--url", rt.settings.redis_url], capture_output=True, text=True,
                          timeout=60, check=True).stdout


def test_a_killed_workers_job_is_left_to_rqs_started_registry_cleanup(rt_redis, pg_url):
    """A worker killed mid-job leaves it started: its id is not queued again, `rq info` shows the
    busy worker, and rq's StartedJobRegistry cleanup (a worker's maintenance, once the job's
    timeout + 60 s have passed) fails it, counted."""
    queue = rt_redis.queue.rq_queue()
    rt_redis.queue.enqueue(f"{HERE}.hang", "hanging", job_id="killed-1")
    env = {**os.environ, "DATABASE_URL": pg_url, "REDIS_URL": rt_redis.settings.redis_url, "LOG_JSON": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker", "--burst", "--no-scheduler"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while rt_redis.redis.get("hanging") is None:
            assert time.monotonic() < deadline and proc.poll() is None, "the worker never started the job"
            time.sleep(0.05)
        [worker] = Worker.all(connection=rt_redis.redis)
        assert worker.get_state() == "busy"
        assert "busy" in _rq_info(rt_redis)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert Job.fetch("killed-1", connection=rt_redis.redis).get_status() == JobStatus.STARTED
    registry = StartedJobRegistry(queue=queue)
    assert registry.get_job_ids() == ["killed-1"]
    rt_redis.queue.enqueue(f"{HERE}.hang", "hanging", job_id="killed-1")  # started: not queued again
    assert queue.count == 0
    failures = _count("somo_job_failures_total", f"{HERE}.hang")
    registry.cleanup(timestamp=time.time() + 3600, exception_handlers=ObservedWorker([queue], connection=rt_redis.redis)._exc_handlers)
    assert FailedJobRegistry(queue=queue).get_job_ids() == ["killed-1"]
    assert Job.fetch("killed-1", connection=rt_redis.redis).get_status() == JobStatus.FAILED
    assert _count("somo_job_failures_total", f"{HERE}.hang") - failures == 1
