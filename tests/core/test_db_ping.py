"""Pooled PostgreSQL connections are pinged only after sitting idle (core.db.ping_when_idle)."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text

from core.db import make_engine, ping_when_idle
from core.settings import normalise_db_url


def _engine(pg_url: str, after_s: float):
    engine = create_engine(normalise_db_url(pg_url), pool_size=1, max_overflow=0)
    ping_when_idle(engine, after_s)
    pings: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_conn):  # SQLAlchemy's own ping, counted
        pings.append(1)
        return ping(dbapi_conn)

    engine.dialect.do_ping = counted
    return engine, pings


def _backend(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_returned_moments_ago_is_not_pinged(pg_url):
    engine, pings = _engine(pg_url, after_s=60.0)
    try:
        first = _backend(engine)
        assert [_backend(engine) for _ in range(5)] == [first] * 5  # the same pooled connection
        assert pings == []
    finally:
        engine.dispose()


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(pg_url):
    engine, pings = _engine(pg_url, after_s=0.05)
    admin = make_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        first = _backend(engine)
        with admin.connect() as conn:  # the server drops the pooled connection while it is idle
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one() is True
        time.sleep(0.1)
        second = _backend(engine)  # no error: the ping found it dead and the pool reconnected
        assert second != first
        assert pings == [1]
        time.sleep(0.1)
        assert _backend(engine) == second  # a healthy idle connection passes its ping and is kept
        assert pings == [1, 1]
    finally:
        engine.dispose()
        admin.dispose()


def test_the_app_engine_pings_idle_connections(pg_url):
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)
    admin = make_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        first = _backend(engine)
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        time.sleep(1.1)  # longer than core.db.PING_AFTER_IDLE_S
        assert _backend(engine) != first
    finally:
        engine.dispose()
        admin.dispose()



def test_fastapi_native_telemetry_is_off(pg_url):
    """Somo's metrics are Prometheus: FastAPI's OpenTelemetry hooks stay off on every request."""
    from fastapi import FastAPI

    from gateway.app import create_app
    from tests.conftest import make_runtime

    app = create_app(make_runtime(pg_url))
    mounted = [getattr(route, "app", None) for route in app.routes]
    subs = [getattr(each, "app", each) for each in mounted]  # the admin, inside its headers middleware
    subs = [each for each in subs if isinstance(each, FastAPI)]
    assert subs, "the admin is mounted as a FastAPI sub-app"
    for each in [app, *subs]:
        assert each._native_telemetry.enabled() is False
        assert each._telemetry["tracing"] is False and each._telemetry["metrics"] is False
