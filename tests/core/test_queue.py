"""The queue seam: inline without Redis, a real rq worker with it; the same job functions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from channels.base import Rendered
from channels.outbound import enqueue_sends, store_outbound
from core.models import Message

ROOT = Path(__file__).resolve().parents[2]


def _queue_one(rt) -> int:
    with rt.session() as s:
        rows = store_outbound(s, Rendered(messages=["Habari"]), channel="sms", provider="console",
                              phone="+254712345678")
        mid = rows[0].id
    enqueue_sends(rt, [mid])
    return mid


def test_inline_queue_runs_the_job_at_once(rt):
    mid = _queue_one(rt)
    with rt.session() as s:
        msg = s.get(Message, mid)
        assert msg.status == "delivered" and msg.attempts == 1 and msg.provider_message_id.startswith("console-")
    assert rt.queue.ran == [("channels.jobs.send_message", (mid,))]


def test_a_job_is_never_sent_twice(rt):
    mid = _queue_one(rt)
    from channels.jobs import send_message

    send_message(mid)  # a duplicate delivery of the job
    with rt.session() as s:
        assert s.get(Message, mid).attempts == 1


def test_real_rq_worker_runs_a_job_from_the_seam(rt_redis, pg_url, redis_url):
    mid = _queue_one(rt_redis)
    with rt_redis.session() as s:
        assert s.get(Message, mid).status == "queued"  # nothing ran in this process
    assert rt_redis.queue.depth() == 1
    env = {**os.environ, "DATABASE_URL": pg_url, "REDIS_URL": redis_url}
    proc = subprocess.run([sys.executable, "-m", "gateway.cli", "worker", "--burst"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with rt_redis.session() as s:
        msg = s.scalar(select(Message).where(Message.id == mid))
        assert msg.status == "delivered" and msg.attempts == 1
    assert rt_redis.queue.depth() == 0


def test_rq_enqueue_is_one_round_trip_and_skips_a_pending_job_id(rt_redis):
    """The seam's rq enqueue is one Lua call: a job id still queued is not queued twice, a
    finished one (even under rq's own worker) is queued again, and the job keeps its retry
    policy and request id."""
    from rq import SimpleWorker
    from rq.job import Job

    from core.observability import request_id_scope

    calls: list[str] = []
    original = rt_redis.redis.execute_command

    def counted(*args, **kwargs):
        calls.append(str(args[0]).split()[0].upper())
        return original(*args, **kwargs)

    rt_redis.redis.execute_command = counted
    try:
        rt_redis.queue.enqueue("core.clock.now")  # loads the script and the server version once
        calls.clear()
        with request_id_scope("req-1"):
            rt_redis.queue.enqueue("core.clock.now", job_id="seam-1", retry_intervals=[5, 10])
        assert calls == ["EVALSHA"]
        rt_redis.queue.enqueue("core.clock.now", job_id="seam-1")
    finally:
        rt_redis.redis.execute_command = original
    queue = rt_redis.queue.rq_queue()
    assert queue.job_ids.count("seam-1") == 1
    job = Job.fetch("seam-1", connection=rt_redis.redis)
    assert job.retries_left == 2 and job.retry_intervals == [5, 10] and job.meta == {"request_id": "req-1"}
    SimpleWorker([queue], connection=rt_redis.redis).work(burst=True)
    assert queue.job_ids == [] and not rt_redis.redis.exists(job.key)  # finished: result_ttl=0 deletes it
    rt_redis.queue.enqueue("core.clock.now", job_id="seam-1")
    assert queue.job_ids == ["seam-1"]
