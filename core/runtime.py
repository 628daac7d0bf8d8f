"""The explicit runtime: one object holding the engine, Redis, the queue and optional clients.

Optional features are None when not configured; callers check. One runtime per process,
built lazily from settings; tests build their own and install it with `use_runtime`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, session_factory
from core.queue import InlineQueue, RQQueue, make_queue
from core.settings import Settings, get_settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    redis: Any | None  # redis.Redis or None (in-process mode)
    queue: InlineQueue | RQQueue
    sessions: sessionmaker[Session]
    extras: dict[str, Any] = field(default_factory=dict)  # lazily built clients (qdrant, http, llm)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work that commits on success."""
        s = self.sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def extra(self, name: str, build) -> Any:
        """A lazily built, process-wide client (built once, under a lock)."""
        if name not in self.extras:
            with self._lock:
                if name not in self.extras:
                    self.extras[name] = build(self)
        return self.extras[name]

    def close(self) -> None:
        for value in self.extras.values():
            close = getattr(value, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001
                    pass
        self.engine.dispose()
        if self.redis is not None:
            self.redis.close()


def make_redis(url: str):
    import redis

    pool = redis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=5)
    return redis.Redis(connection_pool=pool)


def build_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or get_settings()
    engine = make_engine(settings.sqlalchemy_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    redis = make_redis(settings.redis_url) if settings.redis_url else None
    return Runtime(
        settings=settings, engine=engine, redis=redis, queue=make_queue(redis), sessions=session_factory(engine)
    )


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                _runtime = build_runtime()
    return _runtime


def set_runtime(runtime: Runtime | None) -> Runtime | None:
    """Install `runtime` as the process runtime; returns the previous one."""
    global _runtime
    previous, _runtime = _runtime, runtime
    return previous


@contextmanager
def use_runtime(runtime: Runtime) -> Iterator[Runtime]:
    previous = set_runtime(runtime)
    try:
        yield runtime
    finally:
        set_runtime(previous)
