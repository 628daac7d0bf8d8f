"""A serving process builds its search index before its first request: the API (a USSD question
is answered in-process, within the operator's deadline) and the rq worker (a question's
reply must not wait for qdrant-client's import and the collections' build)."""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient

from core.runtime import build_runtime, set_runtime
from core.settings import Settings
from gateway.app import create_app
from gateway.cli import main as somo
from rag.index import import_pack
from rag.samples import SAMPLES_DIR
from rag.vectors import vector_index, warm_on_start
from tests.rag.conftest import load

KE = "ke-cbc-g6-math"  # (1 pack + 4 topics) x 2 languages


def _collections(rt) -> set[str]:
    return {c.name for c in vector_index(rt).client.get_collections().collections}


def _import_ke(rt) -> None:
    with rt.session() as session:
        import_pack(rt, session, load(SAMPLES_DIR / f"{KE}.yaml"))


def test_the_api_builds_every_collection_before_its_first_request(rt, caplog):
    _import_ke(rt)
    assert _collections(rt) == set()  # importing writes the chunks; no process has searched yet
    caplog.set_level(logging.INFO, logger="somo.rag.vectors")
    with TestClient(create_app(rt)) as client:
        assert len(_collections(rt)) == 10
        assert "search index warmed (api): 10 collections" in caplog.text
        assert client.get("/healthz").status_code == 200


def test_a_worker_builds_every_collection_before_its_first_job(rt_redis, caplog):
    _import_ke(rt_redis)
    before = _collections(rt_redis)
    caplog.set_level(logging.INFO, logger="somo.rag.vectors")
    assert somo(["worker", "--burst", "--no-scheduler"]) == 0
    built = _collections(rt_redis) - before
    assert len([name for name in built if name.startswith(f"somo_{KE}_")]) == 10
    assert "search index warmed (worker):" in caplog.text


def test_a_failure_to_warm_is_logged_and_the_process_still_starts(tmp_path, caplog):
    """A database without the tables (not migrated yet): the warm-up fails, the API still serves."""
    rt = build_runtime(Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'empty.db'}", redis_url="",
                                somo_data_dir=tmp_path, gc_thresholds="off"))
    previous = set_runtime(rt)  # create_app installs it too; the test puts the earlier one back
    try:
        assert warm_on_start(rt, "test") is None
        assert "search index not warmed (test)" in caplog.text and "curriculum_packs" in caplog.text
        with TestClient(create_app(rt)) as client:
            assert client.get("/healthz").status_code == 200
    finally:
        set_runtime(previous)
        rt.close()
