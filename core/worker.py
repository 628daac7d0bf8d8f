"""The rq worker Somo runs: jobs carry the request id that enqueued them and report metrics.

`somo worker` builds it. In-process (SimpleWorker): one process per worker, so its counters
live in its own registry, served on `--metrics-port` (see docs/operations.md).

rq's own bookkeeping cost ~19 Redis round trips per job (a suspension check, heartbeats
before and after, a pop per queue, the job fetch, two preparation pipelines, the end
heartbeat, the success transaction and the idle state). `LeanWorker` keeps rq's records
(the execution in the StartedJobRegistry, the worker's hash, state and counts, the failed
registry and retries) and writes them in three: one script pops the job, one pipeline starts
it, one ends it. Failures, retries and jobs that keep a result take rq's own paths.
"""

from __future__ import annotations

import time

from rq.executions import Execution
from rq.intermediate_queue import IntermediateQueue
from rq.job import JobStatus
from rq.rate_limit import release_slot
from rq.results import Result
from rq.suspension import WORKERS_SUSPENDED
from rq.utils import as_text, now
from rq.worker import SimpleWorker, WorkerStatus

from core.observability import count_job_failure, count_job_retry, observe_job, request_id_scope

REQUEST_ID_META = "request_id"

# KEYS: rq's suspension flag, then the queues in priority order. ARGV: the job key prefix, and
# the intermediate list a one-queue worker moves the job to (rq's LMOVE), or "".
# Returns 0 when suspended, nil when every queue is empty, else {queue key, job id, job hash}.
_POP = """
if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
for i = 2, #KEYS do
  local id
  if ARGV[2] ~= "" then id = redis.call("LMOVE", KEYS[i], ARGV[2], "LEFT", "RIGHT")
  else id = redis.call("LPOP", KEYS[i]) end
  if id then return {KEYS[i], id, redis.call("HGETALL", ARGV[1] .. id)} end
end
return false
"""


def job_name(job) -> str:
    try:
        return job.func_name
    except Exception:  # noqa: BLE001 - a job that cannot be deserialised still gets counted
        return "unknown"


def count_failure(job, *_exc_info) -> bool:
    """rq exception handler: a failure with retries left is a retry, otherwise a failure for good."""
    if job.should_retry:
        count_job_retry(job_name(job))
    else:
        count_job_failure(job_name(job))
    return True  # let rq's next handler (and its default failed-registry handling) run


class LeanWorker(SimpleWorker):
    """A SimpleWorker that writes rq's per-job records in three round trips instead of ~19."""

    _pop_script = None

    def check_for_suspension(self, burst: bool) -> None:
        """The pop script checks `rq suspend`'s flag with every pop (see dequeue)."""

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        # While jobs flow, each job's start pipeline beats with a TTL that outlives the job (its
        # timeout + 60 s); rq's extra beats around every job are skipped. Idle (about to block on
        # the queues) or with explicit arguments, rq's heartbeat runs.
        if timeout is None and pipeline is None and self.get_state() == WorkerStatus.BUSY:
            return
        super().heartbeat(timeout, pipeline)

    def unsubscribe(self) -> None:
        """rq's, in the order that cannot hang. rq sends UNSUBSCRIBE, then stops its pubsub thread
        (redis-py's stop() joins it, with no time limit). A thread that read the UNSUBSCRIBE reply
        before the stop flag was cleared goes back to wait for a subscription, for its 60 s: a
        burst worker took a minute to exit, most often under CPU load. Cleared first, the flag
        is seen when the reply wakes the thread; the join is bounded anyway, as rq's used to be."""
        thread = self.pubsub_thread
        if thread is None:
            return
        thread._running.clear()  # what stop() clears, without its unbounded join
        self.pubsub.unsubscribe()  # the reply wakes the thread's read; it exits and closes the pubsub
        thread.join(timeout=1)
        self.pubsub.close()

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None):
        while True:
            popped = self._pop()
            if popped != 0:
                break
            super().check_for_suspension(burst=timeout is None)  # waits, or stops a burst worker
        if popped is not None:
            return popped
        # Every queue empty: rq's path sets the state idle, beats and blocks on the queues.
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def _pop(self):
        """(job, queue) from the first non-empty queue, None when all are empty, 0 when suspended."""
        if self._pop_script is None:
            self._pop_script = self.connection.register_script(_POP)
        queues = {q.key: q for q in self._ordered_queues}
        moved = IntermediateQueue.get_intermediate_queue_key(self.queues[0].key) if len(self.queues) == 1 else ""
        while True:
            popped = self._pop_script(keys=[WORKERS_SUSPENDED, *queues],
                                      args=[self.job_class.redis_job_namespace_prefix, moved])
            if popped in (0, None):
                return popped
            queue_key, job_id, fields = popped
            if not fields:
                continue  # the job's hash is gone (deleted or expired): rq skips such an id too
            job = self.job_class(as_text(job_id), connection=self.connection, serializer=self.serializer)
            job.restore(dict(zip(fields[::2], fields[1::2], strict=True)))
            job.redis_server_version = self.get_redis_server_version()
            queue = queues[as_text(queue_key)]
            self.reorder_queues(reference_queue=queue)
            return job, queue

    def execute_job(self, job, queue) -> None:
        # The state stays busy between back-to-back jobs; rq's dequeue sets it idle when the
        # queues are empty.
        self.perform_job(job, queue, self.prepare_execution(job))

    def prepare_execution(self, job) -> Execution:
        """rq's prepare_execution and prepare_job_execution (two pipelines) in one."""
        with self.connection.pipeline() as pipeline:
            ttl = self.get_heartbeat_ttl(job)
            execution = Execution.create(job, ttl, pipeline=pipeline, worker_name=self.name)
            self.executions[execution.id] = execution
            if self.get_state() != WorkerStatus.BUSY:
                self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
            self.heartbeat(ttl, pipeline=pipeline)
            job.prepare_for_execution(self.name, pipeline=pipeline)  # status, started_at, its heartbeat
            pipeline.persist(job.key)
            if len(self.queues) == 1:
                pipeline.lrem(IntermediateQueue.get_intermediate_queue_key(self.queues[0].key), 1, job.id)
            pipeline.execute()
        return execution

    def prepare_job_execution(self, job, remove_from_intermediate_queue: bool = False) -> None:
        self.procline(f"Processing {job.func_name} from {job.origin} since {time.time()}")

    def _deleted_on_success(self, job) -> bool:
        return job.get_result_ttl(self.default_result_ttl) == 0 and not job.repeats_left

    def handle_execution_ended(self, job, queue, heartbeat_ttl: int) -> None:
        if job.get_status(refresh=False) == JobStatus.FAILED or not self._deleted_on_success(job):
            return super().handle_execution_ended(job, queue, heartbeat_ttl)
        job.ended_at = now()  # no heartbeat to write: the hash goes in the success pipeline

    def handle_job_success(self, job, queue, started_job_registry, execution) -> None:
        """A job enqueued with result_ttl=0 (the seam's; they have no dependents): rq's counts
        and execution clean-up, and the job's keys deleted, in one pipeline. rq reads the
        dependents, the stored status and the executions first, then runs a transaction."""
        if not self._deleted_on_success(job):
            return super().handle_job_success(job, queue, started_job_registry, execution)
        with self.connection.pipeline() as pipeline:
            self.increment_successful_job_count(pipeline=pipeline)
            self.increment_total_working_time(job.ended_at - job.started_at, pipeline)
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            pipeline.delete(job.key, job.dependents_key, job.dependencies_key, Result.get_key(job.id))
            pipeline.execute()
        release_slot(job)


class ObservedWorker(LeanWorker):
    """A LeanWorker that runs each job under its request id and times it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.push_exc_handler(count_failure)

    def perform_job(self, job, queue, execution) -> bool:
        start = time.perf_counter()
        with request_id_scope((job.meta or {}).get(REQUEST_ID_META)):
            try:
                return super().perform_job(job, queue, execution)
            finally:
                observe_job(job_name(job), time.perf_counter() - start)
