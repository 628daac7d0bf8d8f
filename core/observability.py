"""Metrics, structured logs and the request id: the one place every package reports to.

Metric names and labels are a contract with dashboards and alerts (deploy/grafana): change
them only together. Other packages call the small helpers below (`count_inbound(...)`)
instead of touching metric objects, so a label set stays the same everywhere.

Processes: the API runs several uvicorn workers, so it uses prometheus-client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set before this module is imported; see
`gateway.metrics`). An rq worker is one process and serves its own registry on
`somo worker --metrics-port`. Values that are facts about shared state (queue depth,
oldest job, active students) are not counted by any process: they are read at scrape
time by `StateCollector`, so every API worker reports the same truth.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("somo.observability")

# Latency buckets in seconds: webhooks answer in milliseconds, USSD must stay well under
# the operator's ~10 s deadline, an LLM-backed job may take several seconds.
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
ACTIVE_WINDOW = timedelta(days=7)

INBOUND = Counter(
    "somo_inbound_messages", "Inbound messages by channel, provider and outcome (stored, duplicate, rejected)",
    ["channel", "provider", "status"],
)
OUTBOUND = Counter(
    "somo_outbound_messages", "Outbound send attempts by channel, provider and resulting status",
    ["channel", "provider", "status"],
)
WEBHOOK_SECONDS = Histogram(
    "somo_webhook_seconds", "HTTP request latency per route template", ["route"], buckets=FAST_BUCKETS
)
HTTP_REQUESTS = Counter(
    "somo_http_requests", "HTTP requests per route template, method and status code", ["route", "method", "code"]
)
USSD_SECONDS = Histogram(
    "somo_ussd_response_seconds", "Time to answer a USSD screen (operator deadline ~10 s)", buckets=FAST_BUCKETS
)
JOB_SECONDS = Histogram("somo_job_seconds", "Job run time by job function", ["job"], buckets=SLOW_BUCKETS)
JOB_FAILURES = Counter("somo_job_failures", "Jobs that failed for good (no retry left)", ["job"])
JOB_RETRIES = Counter("somo_job_retries", "Job attempts that failed and will be retried", ["job"])
SEND_RECONCILED = Counter(  # channels.reconcile
    "somo_send_reconciled", "Outbound rows found left `sending` by a dead worker, by provider and outcome",
    ["provider", "outcome"],
)
SMS_SEGMENTS = Counter("somo_sms_segments", "SMS segments sent, by encoding and provider", ["encoding", "provider"])
LLM_CALLS = Counter("somo_llm_calls", "LLM calls by model and outcome (ok, error, timeout)", ["model", "outcome"])
LLM_TOKENS = Counter("somo_llm_tokens", "LLM tokens by kind (prompt, completion, embedding)", ["kind"])
LLM_COST = Counter("somo_llm_cost_usd", "Money spent on LLM calls, in US dollars")
LLM_FALLBACKS = Counter("somo_llm_fallbacks", "Answers that fell back to the offline path, by reason", ["reason"])
RETRIEVAL_SECONDS = Histogram("somo_retrieval_seconds", "Curriculum retrieval latency", buckets=FAST_BUCKETS)


# --- helpers other packages call (one line at their code point) -------------------------

def count_inbound(channel: str, provider: str, status: str = "stored") -> None:
    INBOUND.labels(channel=channel or "unknown", provider=provider or "unknown", status=status).inc()


def count_outbound(channel: str, provider: str, status: str) -> None:
    OUTBOUND.labels(channel=channel or "unknown", provider=provider or "unknown", status=status).inc()


def count_segments(encoding: str, provider: str, segments: int) -> None:
    if segments > 0:
        SMS_SEGMENTS.labels(encoding=encoding or "unknown", provider=provider or "unknown").inc(segments)


def observe_ussd(seconds: float) -> None:
    USSD_SECONDS.observe(seconds)


def observe_retrieval(seconds: float) -> None:
    RETRIEVAL_SECONDS.observe(seconds)


@contextmanager
def time_retrieval() -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        RETRIEVAL_SECONDS.observe(time.perf_counter() - start)


def record_llm_call(
    model: str, outcome: str = "ok", *, prompt_tokens: int = 0, completion_tokens: int = 0,
    embedding_tokens: int = 0, cost_usd: float = 0.0,
) -> None:
    """One call to an LLM or embedding endpoint, with what it cost."""
    LLM_CALLS.labels(model=model or "unknown", outcome=outcome).inc()
    for kind, n in (("prompt", prompt_tokens), ("completion", completion_tokens), ("embedding", embedding_tokens)):
        if n > 0:
            LLM_TOKENS.labels(kind=kind).inc(n)
    if cost_usd > 0:
        LLM_COST.inc(cost_usd)


def count_llm_fallback(reason: str) -> None:
    LLM_FALLBACKS.labels(reason=reason).inc()


def count_job_failure(job: str) -> None:
    JOB_FAILURES.labels(job=job).inc()


def count_job_retry(job: str) -> None:
    JOB_RETRIES.labels(job=job).inc()


def observe_job(job: str, seconds: float) -> None:
    JOB_SECONDS.labels(job=job).observe(seconds)


# --- values read at scrape time ----------------------------------------------------------

class StateCollector:
    """Queue depth, oldest job age and active students, read from shared state per scrape.

    A failing backend must not take /metrics down: the failing family is left out and the
    error logged, so the scrape still carries every counter.
    """

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def describe(self) -> list:
        return []  # values come from the backends at collect time; skip the registry's probe

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            depth, age = self._queues()
        except Exception as exc:  # noqa: BLE001
            log.warning("queue metrics unavailable: %s", type(exc).__name__)
        else:
            yield depth
            yield age
        try:
            yield self._active_students()
        except Exception as exc:  # noqa: BLE001
            log.warning("active-student metric unavailable: %s", type(exc).__name__)

    def _queues(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        from core.queue import QUEUES

        depth = GaugeMetricFamily("somo_queue_depth", "Jobs waiting per queue", labels=["queue"])
        age = GaugeMetricFamily("somo_job_age_seconds", "Age of the oldest waiting job per queue", labels=["queue"])
        queue = self.runtime.queue
        now = datetime.now(UTC)
        for name in QUEUES:
            if not getattr(queue, "is_async", False):
                depth.add_metric([name], 0)
                age.add_metric([name], 0)
                continue
            rq_queue = queue.rq_queue(name)
            depth.add_metric([name], rq_queue.count)
            age.add_metric([name], _oldest_age(rq_queue, now))
        return depth, age

    def _active_students(self) -> GaugeMetricFamily:
        from sqlalchemy import func, select

        from core import clock
        from core.models import Student

        since = clock.now() - ACTIVE_WINDOW
        with self.runtime.session() as session:
            n = session.scalar(select(func.count(Student.id)).where(Student.last_active_at >= since)) or 0
        gauge = GaugeMetricFamily("somo_active_students", "Students active in the last 7 days")
        gauge.add_metric([], n)
        return gauge


def _oldest_age(rq_queue: Any, now: datetime) -> float:
    ids = rq_queue.get_job_ids(0, 1)  # (offset, length): the head of the list is the oldest
    if not ids:
        return 0.0
    job = rq_queue.fetch_job(ids[0])
    if job is None or job.enqueued_at is None:
        return 0.0
    enqueued = job.enqueued_at if job.enqueued_at.tzinfo else job.enqueued_at.replace(tzinfo=UTC)
    return max(0.0, (now - enqueued).total_seconds())


from core.logs import (  # noqa: E402  (re-exported: one import for every package)
    REQUEST_ID,
    JsonFormatter,
    SecretScrubber,
    configure_logging,
    current_request_id,
    new_request_id,
    request_id_scope,
)

__all__ = [
    "INBOUND", "OUTBOUND", "WEBHOOK_SECONDS", "HTTP_REQUESTS", "USSD_SECONDS", "JOB_SECONDS", "JOB_FAILURES",
    "JOB_RETRIES", "SMS_SEGMENTS", "LLM_CALLS", "LLM_TOKENS", "LLM_COST", "LLM_FALLBACKS", "RETRIEVAL_SECONDS",
    "StateCollector", "configure_logging", "JsonFormatter", "SecretScrubber", "count_inbound", "count_outbound",
    "count_segments", "observe_ussd", "observe_retrieval", "time_retrieval", "record_llm_call",
    "count_llm_fallback", "count_job_failure", "count_job_retry", "observe_job", "REQUEST_ID",
    "current_request_id", "new_request_id", "request_id_scope",
]


# FastAPI's native OpenTelemetry hooks, off: Somo's metrics are Prometheus (/metrics) and its
# traces are the request id in the logs. Left on, every request asked the OpenTelemetry API
# (environment look-ups included) whether a provider was configured.
NO_OTEL = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
