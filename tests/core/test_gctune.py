"""GC_THRESHOLDS and DB_POOL_SIZE: parsed with clear errors, applied by the serving processes."""

from __future__ import annotations

import gc

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from core import gctune
from core.settings import Settings


@pytest.fixture
def gc_state():
    """Put the interpreter's collector back as it was (these tests change process-wide state)."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_parse_accepts_off_and_three_positive_integers():
    assert gctune.parse("off") is None
    assert gctune.parse(" OFF ") is None
    assert gctune.parse("10000, 20, 100") == (10000, 20, 100)


@pytest.mark.parametrize("spec", ["", "10000,20", "10000,20,100,5", "a,b,c", "0,20,100", "-1,20,100", "1.5,2,3"])
def test_parse_refuses_anything_else_saying_what_and_where(spec):
    with pytest.raises(ValueError) as err:
        gctune.parse(spec)
    assert "GC_THRESHOLDS" in str(err.value) and repr(spec) in str(err.value)


def test_a_bad_setting_fails_at_start_up_not_later():
    with pytest.raises(ValidationError, match="GC_THRESHOLDS"):
        Settings(gc_thresholds="lots")
    with pytest.raises(ValidationError, match="db_pool_size"):
        Settings(db_pool_size=0)


def test_tune_freezes_the_heap_and_sets_the_thresholds(gc_state):
    gc.unfreeze()
    assert gctune.tune("5000,15,25", where="test") is True
    assert gc.get_threshold() == (5000, 15, 25)
    assert gc.get_freeze_count() > 10_000  # everything this test process has built


def test_off_leaves_the_collector_alone(gc_state):
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    assert gctune.tune("off", where="test") is False
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0


def test_the_api_tunes_when_it_starts_serving(gc_state, rt):
    from gateway.app import create_app

    rt.settings.gc_thresholds = "7000,11,13"
    gc.unfreeze()
    app = create_app(rt)
    assert gc.get_freeze_count() == 0  # building the app is not serving yet
    with TestClient(app) as client:
        assert gc.get_threshold() == (7000, 11, 13) and gc.get_freeze_count() > 0
        assert client.get("/healthz").status_code == 200


def test_the_pool_size_comes_from_the_settings(pg_url):
    from core.runtime import build_runtime

    rt = build_runtime(Settings(database_url=pg_url, db_pool_size=3, db_max_overflow=1))
    try:
        assert rt.engine.pool.size() == 3
        assert rt.engine.pool._max_overflow == 1
    finally:
        rt.close()
