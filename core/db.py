"""Database engine and sessions. The edges (request dependency, job wrapper, CLI) commit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings, get_settings, normalise_db_url


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int | None = None) -> Engine:
    """An engine for `url`. PostgreSQL: a pool of `pool_size` kept connections plus at most
    `max_overflow` (default: `pool_size`) opened for a burst and closed when returned, which
    costs PostgreSQL a new backend each time, so size the pool to the process's concurrency
    (DB_POOL_SIZE, DB_MAX_OVERFLOW)."""
    url = normalise_db_url(url)
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    overflow = pool_size if max_overflow is None else max_overflow
    engine = create_engine(url, pool_size=pool_size, max_overflow=overflow, pool_recycle=1800)
    ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_S = 1.0
_IDLE_SINCE = "somo.idle_since"


def ping_when_idle(engine: Engine, after_s: float = PING_AFTER_IDLE_S) -> None:
    """Check a pooled connection with a round trip only when it sat idle for `after_s` or more.

    SQLAlchemy's `pool_pre_ping` pings on every checkout: under load that is a `SELECT 1`
    round trip per unit of work (two per USSD step), for connections returned a millisecond
    earlier. A connection idle since before a restart or a dropped link is still checked; a
    dead one found here is replaced, as pre-ping does (DisconnectionError: the pool retries
    with a new connection), and a connection that breaks while busy is handled by the
    engine's disconnect detection (the pool drops every connection older than the failure).
    """

    @event.listens_for(engine, "checkin")
    def _idle(_dbapi_conn, record) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < after_s:
            return  # new (just connected) or returned moments ago
        try:
            engine.dialect.do_ping(dbapi_conn)  # the dialect's own ping (autocommitted SELECT 1)
        except Exception as error:  # noqa: BLE001 - any failure means the connection is unusable
            raise exc.DisconnectionError(f"idle connection failed its ping: {error}") from error


@lru_cache
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine(settings: Settings | None = None) -> Engine:
    return _engine_for((settings or get_settings()).sqlalchemy_url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    import core.audit  # noqa: F401 - the audit log's append-only guard, for every session
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dialect_insert(dialect: str):
    """The dialect's own `insert` (with ON CONFLICT): PostgreSQL's, or SQLite's for the
    embedded demo and the tests."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def is_unique_violation(exc: Exception) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "unique" in text or "duplicate key" in text
