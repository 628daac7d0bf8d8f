"""gateway.offload: the webhook's blocking part runs on a worker thread, with the request's context."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from gateway.offload import in_thread

REQUEST = contextvars.ContextVar("request", default="none")


def _where(value: int) -> tuple[str, str, int]:
    return threading.current_thread().name, REQUEST.get(), value * 2


def _fails() -> None:
    raise ValueError("bad row")


def test_it_runs_off_the_loop_with_the_callers_context_and_raises_what_the_call_raises():
    async def main():
        REQUEST.set("req-42")
        loop_thread = threading.current_thread().name
        name, seen, doubled = await in_thread(_where, 21)
        with pytest.raises(ValueError, match="bad row"):
            await in_thread(_fails)
        return loop_thread, name, seen, doubled

    loop_thread, name, seen, doubled = asyncio.run(main())
    assert name != loop_thread and name.startswith("somo-webhook")
    assert (seen, doubled) == ("req-42", 42)


def test_many_calls_at_once_each_get_their_own_context():
    async def one(i: int):
        REQUEST.set(f"req-{i}")
        await asyncio.sleep(0)
        return await in_thread(_where, i)

    async def main():
        return await asyncio.gather(*(one(i) for i in range(100)))

    results = asyncio.run(main())
    assert [(seen, doubled) for _name, seen, doubled in results] == [(f"req-{i}", 2 * i) for i in range(100)]


def test_the_pool_has_webhook_threads_threads_never_more_than_the_database_pool(rt):
    import gateway.offload as offload
    from gateway.app import create_app

    assert rt.settings.webhook_threads < rt.settings.db_pool_size  # the defaults: 8 and 20
    create_app(rt)
    assert offload._threads == rt.settings.webhook_threads

    async def main():
        return await asyncio.gather(*(in_thread(lambda: threading.current_thread().name) for _ in range(200)))

    names = set(asyncio.run(main()))
    assert 1 <= len(names) <= rt.settings.webhook_threads

    # more threads than pooled connections would open the pool's overflow under a burst
    rt.settings.webhook_threads = rt.settings.db_pool_size + 7
    try:
        create_app(rt)
        assert offload._threads == rt.settings.db_pool_size
    finally:
        rt.settings.webhook_threads = 8
        create_app(rt)
    assert offload._threads == 8
