"""The rq worker Somo runs: jobs carry the request id that enqueued them and report metrics.

`somo worker` builds it. In-process (SimpleWorker): one process per worker, so its counters
live in its own registry, served on `--metrics-port` (see docs/operations.md).
"""

from __future__ import annotations

import time

from rq.worker import SimpleWorker

from core.observability import count_job_failure, count_job_retry, observe_job, request_id_scope

REQUEST_ID_META = "request_id"


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


class ObservedWorker(SimpleWorker):
    """A SimpleWorker that runs each job under its request id and times it."""

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
