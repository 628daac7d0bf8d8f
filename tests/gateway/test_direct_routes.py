"""The USSD and inbound SMS webhooks are matched ahead of FastAPI's router (DirectRoute),
and everything a caller can see reads as it did through FastAPI."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.webhooks_africastalking import DirectRoute
from tests.gateway.conftest import fixture

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
USSD, SMS = "/webhooks/africastalking/ussd", "/webhooks/africastalking/sms"


class RouteSeen:
    """Pure ASGI, outermost: the route object the router put in the request's scope."""

    def __init__(self, app) -> None:
        self.app = app
        self.routes: list = []

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.routes.append(scope.get("route"))


@pytest.fixture
def seen(gw_rt):
    recorder = RouteSeen(create_app(gw_rt))
    with TestClient(recorder, client=("196.201.214.200", 50000)) as client:
        yield client, recorder


def test_ussd_and_sms_posts_are_served_by_the_direct_routes(seen):
    client, recorder = seen
    dial = client.post(f"{USSD}?token=at-hook-secret", content=urlencode(fixture("africastalking:ussd_dial")),
                       headers=FORM)
    assert dial.status_code == 200 and dial.text.startswith("CON ")
    assert dial.headers["content-type"].startswith("text/plain")
    assert dial.headers["x-content-type-options"] == "nosniff" and dial.headers["x-request-id"]
    sms = client.post(f"{SMS}?token=at-hook-secret", content=urlencode(fixture("africastalking:sms")),
                      headers=FORM)
    assert sms.status_code == 200 and sms.text == ""
    served = recorder.routes[-2:]
    assert [type(r) for r in served] == [DirectRoute, DirectRoute]
    assert [r.path for r in served] == [USSD, SMS]  # the metrics label, the route template as before


def test_their_errors_go_through_the_apps_handlers(seen):
    client, recorder = seen
    refused = client.post(f"{USSD}?token=wrong", content=urlencode(fixture("africastalking:ussd_dial")), headers=FORM)
    assert refused.status_code == 403
    assert "bad or missing token" in refused.json()["error"]
    bad = client.post(f"{SMS}?token=at-hook-secret", content=b"from=%FF&text=x", headers=FORM)
    assert bad.status_code == 400 and "not UTF-8" in bad.json()["error"]
    assert isinstance(recorder.routes[-1], DirectRoute)


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_other_methods_still_get_fastapis_answer(seen, method):
    client, recorder = seen
    answer = client.request(method, f"{USSD}?token=at-hook-secret")
    assert answer.status_code == 405
    assert answer.json() == {"detail": "Method Not Allowed"}
    assert answer.headers["allow"] == "POST"
    assert not isinstance(recorder.routes[-1], DirectRoute)


def test_a_root_path_is_taken_off_before_matching(gw_rt):
    recorder = RouteSeen(create_app(gw_rt))
    with TestClient(recorder, root_path="/somo", client=("196.201.214.200", 50000)) as client:
        # behind a proxy that mounts Somo under /somo, uvicorn's scope path keeps the prefix
        answer = client.post(f"/somo{USSD}?token=at-hook-secret",
                             content=urlencode(fixture("africastalking:ussd_dial")), headers=FORM)
        assert answer.status_code == 200 and answer.text.startswith("CON ")
        assert isinstance(recorder.routes[-1], DirectRoute)


def test_openapi_still_documents_each_webhook_once(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in (USSD, SMS):
        assert list(paths[path]) == ["post"]
