"""Twilio webhooks end to end, signed with the SDK's own RequestValidator; sends checked through respx."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import httpx
import pytest
import respx
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from core.models import Contact, Direction, Message, ProviderEvent
from tests.gateway.conftest import fixture

TOKEN = "twilio-auth-token"
BASE = "https://somo.example.org"
CREATE = "https://twilio.test/2010-04-01/Accounts/AC" + "a" * 32 + "/Messages.json"
FORM = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "TwilioProxy/1.1"}


def signed_post(client, path, form, *, token=TOKEN, url_base=BASE, query=""):
    url = f"{url_base}{path}" + (f"?{query}" if query else "")
    signature = RequestValidator(token).compute_signature(url, form)
    return client.post(path + (f"?{query}" if query else ""), content=urlencode(form),
                       headers=FORM | {"X-Twilio-Signature": signature})


def rows(rt, *where):
    with rt.session() as s:
        return list(s.scalars(select(Message).where(*where).order_by(Message.id)))


def count(rt, model=Message):
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(model))


@respx.mock
def test_inbound_sms_is_acked_with_empty_twiml_and_answered_through_the_api(client, gw_rt):
    route = respx.post(CREATE).mock(return_value=httpx.Response(201, json=fixture("twilio:create_answer")))
    res = signed_post(client, "/webhooks/twilio/messages", fixture("twilio:sms"))
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/xml")
    assert res.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    inbound = rows(gw_rt, Message.direction == Direction.IN.value)[0]
    assert (inbound.channel, inbound.provider, inbound.phone, inbound.text, inbound.status) == (
        "sms", "twilio", "+254711000222", "Hello Somo", "handled")
    out = rows(gw_rt, Message.direction == Direction.OUT.value)
    assert out and route.call_count == len(out)
    sent = parse_qs(route.calls[0].request.content.decode())
    assert sent["To"] == ["+254711000222"] and sent["From"] == ["+15005550006"]
    assert sent["Body"] == [out[0].text]
    assert sent["StatusCallback"] == [f"{BASE}/webhooks/twilio/status"]
    assert route.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert out[0].provider_message_id == "SMffffffffffffffffffffffffffffffff" and out[0].status == "sent"


@respx.mock
def test_inbound_whatsapp_replies_with_numbered_text_from_our_whatsapp_number(client, gw_rt):
    route = respx.post(CREATE).mock(return_value=httpx.Response(201, json=fixture("twilio:create_answer")))
    res = signed_post(client, "/webhooks/twilio/messages", fixture("twilio:whatsapp"))
    assert res.status_code == 200
    inbound = rows(gw_rt, Message.direction == Direction.IN.value)[0]
    assert (inbound.channel, inbound.phone, inbound.service_number) == (
        "whatsapp", "+254711000333", "whatsapp:+14155238886")
    with gw_rt.session() as s:
        assert s.scalar(select(Contact)).last_inbound_whatsapp_at is not None
    sent = parse_qs(route.calls[0].request.content.decode())
    assert sent["To"] == ["whatsapp:+254711000333"] and sent["From"] == ["whatsapp:+14155238886"]
    assert len(sent["Body"][0]) <= 1600


@respx.mock
def test_whatsapp_button_reply_keeps_the_payload(client, gw_rt):
    respx.post(CREATE).mock(return_value=httpx.Response(201, json=fixture("twilio:create_answer")))
    signed_post(client, "/webhooks/twilio/messages", fixture("twilio:whatsapp_button"))
    inbound = rows(gw_rt, Message.direction == Direction.IN.value)[0]
    assert inbound.payload["_button_id"] == "practice" and inbound.text == "Practice"


@respx.mock
def test_signature_holds_behind_a_proxy_and_with_a_query(client, gw_rt):
    respx.post(CREATE).mock(return_value=httpx.Response(201, json=fixture("twilio:create_answer")))
    # The test client calls http://testserver/..., Twilio signed https://somo.example.org/...
    res = signed_post(client, "/webhooks/twilio/messages", fixture("twilio:sms"), query="school=7")
    assert res.status_code == 200


@pytest.mark.parametrize("how", ["wrong token", "wrong url", "missing", "tampered"])
def test_bad_signature_is_403_and_stores_nothing(client, gw_rt, how):
    form = fixture("twilio:sms")
    if how == "wrong token":
        res = signed_post(client, "/webhooks/twilio/messages", form, token="not-the-token")
    elif how == "wrong url":
        res = signed_post(client, "/webhooks/twilio/messages", form, url_base="https://evil.example.org")
    elif how == "missing":
        res = client.post("/webhooks/twilio/messages", content=urlencode(form), headers=FORM)
    else:
        sig = RequestValidator(TOKEN).compute_signature(f"{BASE}/webhooks/twilio/messages", form)
        res = client.post("/webhooks/twilio/messages", content=urlencode(form | {"Body": "changed"}),
                          headers=FORM | {"X-Twilio-Signature": sig})
    assert res.status_code == 403 and "twilio webhook refused" in res.json()["error"]
    assert count(gw_rt) == 0 and count(gw_rt, Contact) == 0


@pytest.mark.parametrize(("field", "value"), [("From", None), ("To", None), ("MessageSid", None), ("From", "hello")])
def test_missing_or_bad_fields_are_400(client, gw_rt, field, value):
    form = fixture("twilio:sms")
    if value is None:
        form.pop(field)
        if field == "MessageSid":
            form.pop("SmsSid")
    else:
        form[field] = value
    res = signed_post(client, "/webhooks/twilio/messages", form)
    assert res.status_code == 400 and res.json()["error"].startswith(f"{field}:")
    assert count(gw_rt) == 0


@respx.mock
def test_repeated_delivery_is_acked_and_changes_nothing(client, gw_rt):
    route = respx.post(CREATE).mock(return_value=httpx.Response(201, json=fixture("twilio:create_answer")))
    signed_post(client, "/webhooks/twilio/messages", fixture("twilio:sms"))
    before, calls = [(m.id, m.status) for m in rows(gw_rt)], route.call_count
    assert signed_post(client, "/webhooks/twilio/messages", fixture("twilio:sms")).status_code == 200
    assert [(m.id, m.status) for m in rows(gw_rt)] == before and route.call_count == calls


@respx.mock
def test_status_callbacks_update_the_row_and_21610_opts_out(client, gw_rt):
    respx.post(CREATE).mock(return_value=httpx.Response(201, json=fixture("twilio:create_answer")))
    signed_post(client, "/webhooks/twilio/messages", fixture("twilio:sms"))
    assert signed_post(client, "/webhooks/twilio/status", fixture("twilio:status_delivered")).status_code == 204
    out = rows(gw_rt, Message.provider_message_id == "SMffffffffffffffffffffffffffffffff")[0]
    assert out.status == "delivered"
    # A late `undelivered` with 21610 does not undo delivery, but the opt-out is recorded.
    assert signed_post(client, "/webhooks/twilio/status", fixture("twilio:status_undelivered_21610")).status_code == 204
    with gw_rt.session() as s:
        assert s.scalar(select(Contact)).opted_out
        assert s.get(Message, out.id).status == "delivered"
        assert s.scalar(select(func.count()).select_from(ProviderEvent)) == 2


def test_status_with_unknown_value_is_400(client, gw_rt):
    res = signed_post(client, "/webhooks/twilio/status", fixture("twilio:status_delivered") | {"MessageStatus": "lost"})
    assert res.status_code == 400 and res.json()["error"].startswith("MessageStatus:")
    assert count(gw_rt, ProviderEvent) == 0


@pytest.mark.parametrize("gw_rt", [{"twilio_auth_token": ""}], indirect=True)
def test_unconfigured_twilio_is_refused(client, gw_rt):
    res = client.post("/webhooks/twilio/messages", content=urlencode(fixture("twilio:sms")),
                      headers=FORM | {"X-Twilio-Signature": "x"})
    assert res.status_code == 403 and "TWILIO_AUTH_TOKEN" in res.json()["error"]
