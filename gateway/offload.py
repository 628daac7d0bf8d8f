"""Running a webhook's blocking part (PostgreSQL, Redis) off the event loop, cheaply.

Starlette's `run_in_threadpool` goes through AnyIO's worker threads (a capacity limiter, a
cancel scope and a queue hand-off per call); on the two busiest routes (the USSD step and
inbound SMS) that hop was ~40 % of the event loop's work per request (py-spy of
`bench.inbound_profile --only route`). Here the call goes to a plain
`concurrent.futures.ThreadPoolExecutor` through asyncio's own `run_in_executor`, with the
caller's context variables (the request id the logs carry), as AnyIO would.

The pool has `WEBHOOK_THREADS` threads (8 by default), never more than the database pool
keeps connections (`DB_POOL_SIZE`, 20): each thread holds at most one pooled connection at a
time, so a burst waits here for a free thread instead of opening the pool's overflow
connections. Few on purpose: the steps share one GIL, and 20 threads only interleaved them,
each step stretched by the others under a burst (docs/performance.md, round 8).
An overflow connection is closed when returned: PostgreSQL forks a backend for each one,
and its statements are planned afresh (psycopg prepares a statement only after a connection
has run it five times), which under a burst cost more PostgreSQL CPU than the steps.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

THREADS = 20
_threads = THREADS
_executor: ThreadPoolExecutor | None = None


def use_threads(count: int) -> None:
    """The pool's size (the app factory passes WEBHOOK_THREADS, at most DB_POOL_SIZE); before the first request."""
    global _threads, _executor
    if count != _threads and _executor is not None:
        _executor.shutdown(wait=False)
        _executor = None
    _threads = max(1, count)


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:  # built in the serving process (after uvicorn's workers fork)
        _executor = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="somo-webhook")
    return _executor


async def in_thread(fn, *args: Any) -> Any:
    """`fn(*args)` on a worker thread, with this task's context variables; its result or exception."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_pool(), functools.partial(context.run, fn, *args))
