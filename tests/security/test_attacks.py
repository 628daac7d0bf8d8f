"""Attacks the first-wave suites did not already try (see docs/reliability.md for the rest):
one provider's webhook sent to another's route, replayed signed webhooks, SQL injection
through the admin search fields and the API, secrets and full phone numbers in the logs of a
whole flow, and security headers on the API and webhook answers."""

from __future__ import annotations

import io
import json
import logging
import re
from urllib.parse import urlencode

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from admin import auth
from core.models import Message, StaffUser, Student
from core.observability import configure_logging
from gateway.app import create_app
from gateway.security import meta_signature
from tests.admin.conftest import client as admin_client  # noqa: F401
from tests.admin.conftest import signed_in, world  # noqa: F401
from tests.gateway.conftest import PROVIDER_SETTINGS, fixture
from tests.reliability.conftest import AT_TOKEN, FORM, sms_form

TWILIO_PATH, META_PATH = "/webhooks/twilio/messages", "/webhooks/whatsapp"
AT_ROUTES = ["/webhooks/africastalking/sms", "/webhooks/africastalking/ussd"]


@pytest.fixture
def client(gw_rt, at_api):
    with TestClient(create_app(gw_rt), raise_server_exceptions=False, client=("196.201.214.200", 1)) as c:
        yield c


def twilio_signed(form: dict, path: str = TWILIO_PATH) -> dict:
    signature = RequestValidator("twilio-auth-token").compute_signature("https://somo.example.org" + path, form)
    return FORM | {"X-Twilio-Signature": signature}


def meta_signed(body: bytes) -> dict:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature("meta-app-secret", body)}


def stored(rt) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(Message))


def test_a_webhook_sent_to_another_providers_route_is_refused_and_stores_nothing(client, gw_rt):
    twilio_form = fixture("twilio:sms")
    meta_body = json.dumps(fixture("meta:text")).encode()
    at_body = sms_form("+254711000901", "Hello", "ATPid_cross")
    attempts = {
        "Twilio-signed form to AT SMS": client.post("/webhooks/africastalking/sms", content=urlencode(twilio_form),
                                                     headers=twilio_signed(twilio_form)),
        "Meta-signed JSON to AT USSD": client.post("/webhooks/africastalking/ussd", content=meta_body,
                                                    headers=meta_signed(meta_body)),
        "AT form with its token to Twilio": client.post(TWILIO_PATH + AT_TOKEN, content=at_body, headers=FORM),
        "Meta-signed JSON to Twilio": client.post(TWILIO_PATH, content=meta_body, headers=meta_signed(meta_body)),
        "AT form with its token to Meta": client.post(META_PATH + AT_TOKEN, content=at_body, headers=FORM),
        "Twilio-signed form to Meta": client.post(META_PATH, content=urlencode(twilio_form),
                                                  headers=twilio_signed(twilio_form, META_PATH)),
        "Twilio status route with a messages signature": client.post(
            "/webhooks/twilio/status", content=urlencode(twilio_form), headers=twilio_signed(twilio_form)),
    }
    for what, res in attempts.items():
        assert res.status_code == 403, (what, res.status_code, res.text)
        assert "refused" in res.json()["error"], what
    assert stored(gw_rt) == 0


def test_replayed_signed_webhooks_change_nothing_and_a_tampered_replay_is_refused(client, gw_rt):
    form = fixture("twilio:sms")
    headers = twilio_signed(form)
    body = json.dumps(fixture("meta:text")).encode()
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="twilio.test").mock(return_value=httpx.Response(201, json=fixture("twilio:create_answer")))
        mock.route(host="graph.test").mock(return_value=httpx.Response(200, json=fixture("meta:send_answer")))
        for _ in range(3):  # a captured request played again, signature and all
            assert client.post(TWILIO_PATH, content=urlencode(form), headers=headers).status_code == 200
            assert client.post(META_PATH, content=body, headers=meta_signed(body)).status_code == 200
        inbound = stored(gw_rt)
        tampered = dict(form, Body="STOP")
        assert client.post(TWILIO_PATH, content=urlencode(tampered), headers=headers).status_code == 403
        evil = body.replace(b"Habari", b"STOP!!")
        assert evil != body
        res = client.post(META_PATH, content=evil, headers=meta_signed(body))
        assert res.status_code == 403
    with gw_rt.session() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) == 2
    assert stored(gw_rt) == inbound


INJECTIONS = ["' OR '1'='1", "%' OR 1=1 --", "0711'; DROP TABLE students; --", "\\", "%_%", "') UNION SELECT 1--"]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_through_search_fields_finds_nothing_and_breaks_nothing(rt, world, admin_client, payload):  # noqa: F811
    signed_in(admin_client, world.a.admin_email)
    for path, params in (("/admin/students", {"q": payload}), ("/admin/messages", {"phone": payload}),
                         ("/admin/students", {"q": payload, "class_id": payload}), ("/admin/audit", {"action": payload})):
        res = admin_client.get(path, params=params)
        assert res.status_code in (200, 400), (path, res.status_code)
        assert "Student B" not in res.text  # never another school's rows
    listing = admin_client.get("/admin/students", params={"q": payload}).text
    if not any(ch.isdigit() or ch in "%_" for ch in payload):  # digits search phones; % and _ are LIKE wildcards
        assert "Student A" not in listing  # the text is searched for literally
    with rt.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == world.a.admin_email))
        token, _ = auth.new_api_token(s, user, "inj")
    api = admin_client.get("/api/v1/students", params={"class_id": payload}, headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 422
    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(Student)) == 2  # the table is still there, whole


PHONE = re.compile(r"\+?2547\d{8}")


def test_a_whole_flow_logs_no_secret_and_no_full_phone_number(gw_rt, at_api):
    buf = io.StringIO()
    settings = gw_rt.settings.model_copy(update={"log_level": "DEBUG"})
    handler = configure_logging(settings, stream=buf)
    try:
        with TestClient(create_app(gw_rt), raise_server_exceptions=False, client=("196.201.214.200", 1)) as client:
            client.post("/webhooks/africastalking/sms" + AT_TOKEN, content=sms_form("+254711000902", "Hi", "ATPid_log"),
                        headers=FORM)
            client.post("/webhooks/africastalking/sms?token=wrong-token", content=sms_form("+254711000903", "x", "A2"),
                        headers=FORM)
            client.post("/webhooks/console", json={"phone": "+254711000904", "text": "hello"})
            client.post(TWILIO_PATH, content=urlencode(fixture("twilio:sms")), headers=FORM | {"X-Twilio-Signature": "x"})
            client.post("/webhooks/console", json={"phone": "0711000905", "text": "\x00"})
    finally:
        logging.getLogger().removeHandler(handler)
    text = buf.getvalue()
    assert text.count("\n") >= 3  # the flow did log (refusals, requests)
    secrets = [v for k, v in PROVIDER_SETTINGS.items()
               if any(word in k for word in ("key", "token", "secret")) and isinstance(v, str)]
    for secret in secrets:
        assert secret not in text, secret
    assert not PHONE.findall(text), PHONE.findall(text)[:3]


def test_api_and_webhook_answers_carry_security_headers(client, gw_rt):
    for res in (client.get("/healthz"), client.post("/webhooks/console", json={"phone": "+254711000906", "text": "hi"}),
                client.get("/api/v1/classes"), client.post("/webhooks/africastalking/sms", content=b"", headers=FORM)):
        assert res.headers.get("x-content-type-options") == "nosniff", res.request.url
        assert res.headers.get("cache-control") == "no-store", res.request.url
        assert res.headers.get("x-frame-options") == "DENY", res.request.url
