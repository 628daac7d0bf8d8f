"""Fixtures: real PostgreSQL and Redis where reachable (CI), the embedded defaults otherwise."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

from core import clock
from core.migrate import upgrade
from core.models import Base
from core.runtime import Runtime, build_runtime, set_runtime
from core.settings import Settings
from tests import services

os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
try:
    from hypothesis import HealthCheck
    from hypothesis import settings as hsettings

    hsettings.register_profile(
        "ci", max_examples=int(os.environ.get("SOMO_FUZZ_EXAMPLES", "150")), deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    hsettings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
except ImportError:  # pragma: no cover
    pass


def _pg_url(dbname: str) -> str:
    base = services.PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Iterator[None]:
    """Tests reuse databases (and so row ids) within one process: the per-process caches keyed
    by database URL and id (a learner's class, skill parameters, pack versions) start empty."""
    from conversation import enrolled, world
    from modes import mastery
    from rag import store

    enrolled.forget()
    world.subject_rows.forget()
    mastery.forget_params()
    store.forget_packs()
    yield


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    services.require("PostgreSQL", services.PG_ADMIN_URL)
    name = f"somo_t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(services.PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT",
                          pool_pre_ping=True)  # tests/reliability restarts PostgreSQL mid-session
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = _pg_url(name)
    upgrade(url)
    yield url
    from core.db import _engine_for

    _engine_for.cache_clear()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("db") / "somo.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = services.redis_url_for_worker()
    services.require("Redis", url)
    return url


def _clean(runtime: Runtime) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with runtime.engine.begin() as conn:
        if runtime.engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))


def make_runtime(db_url: str, redis_url: str | None = None, tmp_path=None, **overrides) -> Runtime:
    # A test process starts many apps: freezing its heap at each start would keep every
    # earlier test's garbage cycles for good. tests/core/test_gctune.py turns it on.
    overrides.setdefault("gc_thresholds", "off")
    settings = Settings(
        _env_file=None, database_url=db_url, redis_url=redis_url or "", somo_data_dir=tmp_path or ".somo-data",
        **overrides,
    )
    rt = build_runtime(settings)
    _clean(rt)
    if rt.redis is not None:
        rt.redis.flushdb()
    return rt


@contextmanager
def installed_runtime(db_url: str, tmp_path, **overrides) -> Iterator[Runtime]:
    """A fresh runtime on `db_url` installed as the process runtime for the block."""
    runtime = make_runtime(db_url, tmp_path=tmp_path, **overrides)
    previous = set_runtime(runtime)
    try:
        yield runtime
    finally:
        set_runtime(previous)
        runtime.close()


@pytest.fixture
def db_url(request) -> str:
    """PostgreSQL when reachable (always on CI), else SQLite."""
    if services.REQUIRE or services.pg_available():
        return request.getfixturevalue("pg_url")
    return request.getfixturevalue("sqlite_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request) -> str:
    """Runs the test on both backends."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def rt(db_url, tmp_path) -> Iterator[Runtime]:
    """An in-process runtime (inline jobs, no Redis) on the test database."""
    with installed_runtime(db_url, tmp_path) as runtime:
        yield runtime


@pytest.fixture
def rt_redis(pg_url, redis_url, tmp_path) -> Iterator[Runtime]:
    """A production-shaped runtime: PostgreSQL, Redis, rq."""
    runtime = make_runtime(pg_url, redis_url, tmp_path=tmp_path)
    previous = set_runtime(runtime)
    yield runtime
    set_runtime(previous)
    runtime.redis.flushdb()
    runtime.close()


@pytest.fixture(autouse=True)
def _unfreeze_clock() -> Iterator[None]:
    yield
    clock.freeze(None)
