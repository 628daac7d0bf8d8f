"""Job functions for the ops tests (real code paths run them: the inline queue and an rq worker)."""

from __future__ import annotations

import logging

from core.observability import current_request_id
from core.runtime import get_runtime

log = logging.getLogger("somo.test.jobs")


def fail_loudly(reason: str) -> None:
    raise RuntimeError(f"job failed on purpose: {reason}")


def remember_request_id(key: str) -> None:
    """Writes the request id the job runs under into Redis, for the test to read back."""
    get_runtime().redis.set(key, current_request_id() or "")


def always_fails(key: str) -> None:
    get_runtime().redis.incr(key)
    raise RuntimeError("always fails")
