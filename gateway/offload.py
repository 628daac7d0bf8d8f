"""Running a webhook's blocking part (PostgreSQL, Redis) off the event loop, cheaply.

Starlette's `run_in_threadpool` goes through AnyIO's worker threads (a capacity limiter, a
cancel scope and a queue hand-off per call); on the two busiest routes (the USSD step and
inbound SMS) that hop was ~40 % of the event loop's work per request (py-spy of
`bench.inbound_profile --only route`). Here the call goes to a plain
`concurrent.futures.ThreadPoolExecutor` through asyncio's own `run_in_executor`, with the
caller's context variables (the request id the logs carry), as AnyIO would.

The pool has as many threads as AnyIO's default limiter (40): a request waits for a free
thread rather than starting one, and each thread holds at most one pooled database
connection at a time.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

THREADS = 40
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:  # built in the serving process (after uvicorn's workers fork)
        _executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="somo-webhook")
    return _executor


async def in_thread(fn, *args: Any) -> Any:
    """`fn(*args)` on a worker thread, with this task's context variables; its result or exception."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_pool(), functools.partial(context.run, fn, *args))
