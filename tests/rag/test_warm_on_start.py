"""A serving process builds its answer path before its first request: the API (a USSD question
is answered in-process, within the operator's deadline) and the rq worker (a question's
reply must not wait for qdrant-client's and openai's imports and the collections' build)."""

from __future__ import annotations

import logging

import respx
from fastapi.testclient import TestClient

from core.runtime import build_runtime, set_runtime
from core.settings import Settings
from gateway.app import create_app
from gateway.cli import main as somo
from rag.index import import_pack
from rag.samples import SAMPLES_DIR
from rag.vectors import vector_index
from rag.warmup import warm_on_start
from tests.conftest import installed_runtime
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
    caplog.set_level(logging.INFO, logger="somo.rag.warmup")
    with TestClient(create_app(rt)) as client:
        assert len(_collections(rt)) == 10
        assert "answer path warmed (api): 10 search collections in" in caplog.text
        assert client.get("/healthz").status_code == 200


def test_with_an_llm_configured_the_client_is_built_too_and_nothing_is_sent(db_url, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="somo.rag.warmup")
    with respx.mock(assert_all_called=False) as mock:  # any request to the LLM would be recorded here
        with installed_runtime(db_url, tmp_path, openai_api_key="sk-test",
                               openai_base_url="http://llm.test/v1") as rt:
            _import_ke(rt)
            with TestClient(create_app(rt)):
                assert "openai" in rt.extras and "qdrant" in rt.extras
                assert "answer path warmed (api): 10 search collections, the LLM client in" in caplog.text
        assert not mock.calls


def test_a_worker_builds_every_collection_before_its_first_job(rt_redis, caplog):
    _import_ke(rt_redis)
    before = _collections(rt_redis)
    caplog.set_level(logging.INFO, logger="somo.rag.warmup")
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        assert somo(["worker", "--burst", "--no-scheduler"]) == 0
    finally:  # the command installs Somo's log handler on the root logger: put it back
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
    built = _collections(rt_redis) - before
    assert len([name for name in built if name.startswith(f"somo_{KE}_")]) == 10
    assert "answer path warmed (worker):" in caplog.text


def test_a_failure_to_warm_is_logged_and_the_process_still_starts(tmp_path, caplog):
    """A database without the tables (not migrated yet): the warm-up fails, the API still serves."""
    rt = build_runtime(Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'empty.db'}", redis_url="",
                                somo_data_dir=tmp_path, gc_thresholds="off"))
    previous = set_runtime(rt)  # create_app installs it too; the test puts the earlier one back
    try:
        assert warm_on_start(rt, "test") is None
        assert "answer path not warmed (test)" in caplog.text and "curriculum_packs" in caplog.text
        with TestClient(create_app(rt)) as client:
            assert client.get("/healthz").status_code == 200
    finally:
        set_runtime(previous)
        rt.close()
