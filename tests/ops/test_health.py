"""/healthz answers while the process is up; /readyz names the backend that is not reachable."""

from __future__ import annotations

import httpx
import respx
from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.conftest import make_runtime

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1
QDRANT = "http://qdrant.test:6333"


def test_healthz_is_up_without_any_backend(rt):
    response = TestClient(create_app(rt)).get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_ready_on_database_and_redis(rt_redis):
    response = TestClient(create_app(rt_redis)).get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_answers_503_naming_redis_when_redis_is_down(db_url, tmp_path):
    rt = _runtime_with_dead_redis(db_url, tmp_path)
    try:
        response = TestClient(create_app(rt)).get("/readyz")
    finally:
        rt.close()
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unreachable: ")


def _runtime_with_dead_redis(db_url, tmp_path):
    # make_runtime flushes Redis, which would fail on a dead one: build it without the flush.
    from core.runtime import build_runtime
    from core.settings import Settings

    settings = Settings(_env_file=None, database_url=db_url, redis_url=DEAD_REDIS, somo_data_dir=tmp_path)
    return build_runtime(settings)


def test_readyz_answers_503_naming_the_database_when_it_is_down(tmp_path):
    from core.runtime import build_runtime
    from core.settings import Settings

    rt = build_runtime(Settings(_env_file=None, database_url="postgresql://nobody@127.0.0.1:1/none",
                                somo_data_dir=tmp_path))
    try:
        response = TestClient(create_app(rt)).get("/readyz")
    finally:
        rt.close()
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]


@respx.mock
def test_readyz_checks_qdrant_when_configured(db_url, tmp_path):
    route = respx.get(f"{QDRANT}/readyz").mock(return_value=httpx.Response(200, text="all shards are ready"))
    rt = make_runtime(db_url, tmp_path=tmp_path, qdrant_url=QDRANT, qdrant_api_key="qk-secret")
    try:
        response = TestClient(create_app(rt)).get("/readyz")
    finally:
        rt.close()
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["qdrant"] == "ok"
    assert route.called and route.calls.last.request.headers["api-key"] == "qk-secret"


@respx.mock
def test_readyz_answers_503_naming_qdrant_when_it_is_not_ready_or_unreachable(db_url, tmp_path):
    rt = make_runtime(db_url, tmp_path=tmp_path, qdrant_url=QDRANT)
    client = TestClient(create_app(rt))
    try:
        respx.get(f"{QDRANT}/readyz").mock(return_value=httpx.Response(503, text="not ready"))
        first = client.get("/readyz")
        respx.get(f"{QDRANT}/readyz").mock(side_effect=httpx.ConnectError("connection refused"))
        second = client.get("/readyz")
    finally:
        rt.close()
    assert first.status_code == 503 and first.json()["failing"] == ["qdrant"]
    assert first.json()["checks"]["qdrant"] == "not ready: HTTP 503"
    assert second.status_code == 503 and second.json()["checks"]["qdrant"] == "unreachable: ConnectError"
