"""The job-queue seam: real rq on Redis when REDIS_URL is set, inline in-process when not.

Job functions are plain module-level functions named by dotted path
(`"channels.jobs.send_message"`); they take ids, never ORM objects, and open their own
unit of work. Callers enqueue only after the commit that made the job's rows.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from core import clock
from core.observability import count_job_failure, current_request_id, observe_job, request_id_scope

log = logging.getLogger("somo.queue")

DEFAULT_QUEUE = "default"
QUEUES = ("ussd", "default", "broadcast", "low")  # a worker drains them in this order


def resolve(func: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(func):
        return func
    module, _, name = func.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _path(func: str | Callable[..., Any]) -> str:
    return func if isinstance(func, str) else f"{func.__module__}.{func.__qualname__}"


class InlineQueue:
    """Runs each job at once in the calling process (the embedded default)."""

    is_async = False

    def __init__(self) -> None:
        self.ran: list[tuple[str, tuple[Any, ...]]] = []
        self._seen_ids: set[str] = set()
        self._lock = threading.Lock()

    def enqueue(
        self,
        func: str | Callable[..., Any],
        *args: Any,
        job_id: str | None = None,
        queue: str = DEFAULT_QUEUE,
        at: datetime | None = None,
        retry_intervals: Sequence[int] | None = None,
        **_: Any,
    ) -> str | None:
        path = _path(func)
        request_id = current_request_id()  # a Timer thread does not inherit the caller's context
        if job_id is not None:
            with self._lock:
                if job_id in self._seen_ids:
                    return job_id
                self._seen_ids.add(job_id)
        if at is not None and at > clock.now():
            delay = (at - clock.now()).total_seconds()
            timer = threading.Timer(delay, self._run, (path, args, retry_intervals, request_id))
            timer.daemon = True
            timer.start()
            return job_id
        self._run(path, args, retry_intervals, request_id)
        return job_id

    def _run(
        self, path: str, args: tuple[Any, ...], retry_intervals: Sequence[int] | None, request_id: str | None = None
    ) -> None:
        self.ran.append((path, args))
        start = time.perf_counter()
        with request_id_scope(request_id):
            try:
                resolve(path)(*args)
            except Exception:
                # Inline jobs own their retries (they re-enqueue with `at`); never crash the caller.
                count_job_failure(path)
                log.exception("inline job failed", extra={"job": path})
            finally:
                observe_job(path, time.perf_counter() - start)

    def depth(self) -> int:
        return 0


_ENQUEUE_UNLESS_PENDING = """
local status = redis.call("HGET", KEYS[1], "status")
if status and status ~= "finished" and status ~= "failed" then return 0 end
redis.call("SADD", KEYS[3], KEYS[2])
if #ARGV > 2 then redis.call("HSET", KEYS[1], unpack(ARGV, 3)) end
local ttl = tonumber(ARGV[2])
if ttl and ttl > 0 then redis.call("EXPIRE", KEYS[1], ttl) end
redis.call("RPUSH", KEYS[2], ARGV[1])
return 1
"""


class RQQueue:
    """rq on Redis. One rq queue per name; workers drain QUEUES in priority order."""

    is_async = True

    def __init__(self, redis) -> None:
        from rq import Queue

        self.redis = redis
        self._queues = {name: Queue(name, connection=redis) for name in QUEUES}
        self._script = None

    def rq_queue(self, name: str = DEFAULT_QUEUE):
        return self._queues[name]

    def enqueue(
        self,
        func: str | Callable[..., Any],
        *args: Any,
        job_id: str | None = None,
        queue: str = DEFAULT_QUEUE,
        at: datetime | None = None,
        retry_intervals: Sequence[int] | None = None,
        **_: Any,
    ) -> str | None:
        from rq import Retry

        q = self._queues[queue]
        # No job's return value is read: a finished job's hash is deleted at once (core.worker
        # does it in its success pipeline), so its id can be queued again; a failed one stays a week.
        opts: dict[str, Any] = {"job_id": job_id, "result_ttl": 0, "failure_ttl": 7 * 86400}
        if current_request_id():
            opts["meta"] = {"request_id": current_request_id()}  # core.worker runs the job under it
        if retry_intervals:
            opts["retry"] = Retry(max=len(retry_intervals), interval=list(retry_intervals))
        if job_id is not None and (at is None or at <= clock.now()):
            return self._enqueue_unless_pending(q, _path(func), args, opts)
        if job_id is not None:
            from rq.job import Job, JobStatus

            try:
                existing = Job.fetch(job_id, connection=self.redis)
                if existing.get_status(refresh=True) not in (JobStatus.FINISHED, JobStatus.FAILED, None):
                    return job_id
            except Exception:  # noqa: BLE001 - no such job
                pass
        if at is not None and at > clock.now():
            job = q.enqueue_at(at, _path(func), *args, **opts)
        else:
            job = q.enqueue(_path(func), *args, **opts)
        return job.id

    def _enqueue_unless_pending(self, q, path: str, args: tuple[Any, ...], opts: dict[str, Any]) -> str:
        """rq's enqueue in one Redis round trip: the job-id check, the job hash, the push and
        the queue registration run as one Lua script (rq itself costs a fetch, then two
        pipelines). A job with this id still queued or running is left alone; a failed one, or a
        finished one (whose hash is gone), is queued again."""
        from rq.job import JobStatus
        from rq.scripts import _build_hset_args

        job = q.create_job(path, args=args, status=JobStatus.QUEUED, **opts)
        q._prepare_for_queue(job)
        if self._script is None:
            self._script = self.redis.register_script(_ENQUEUE_UNLESS_PENDING)
        ttl = job.ttl if job.ttl is not None else -1
        self._script(keys=[job.key, q.key, q.redis_queues_keys], args=[job.id, ttl, *_build_hset_args(job)])
        return job.id

    def depth(self) -> int:
        return sum(len(q) for q in self._queues.values())


def make_queue(redis) -> InlineQueue | RQQueue:
    return RQQueue(redis) if redis is not None else InlineQueue()
