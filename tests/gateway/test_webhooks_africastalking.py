"""Africa's Talking webhooks end to end: real-shaped form posts, stored rows, HTTP answers,
and (through `responses`) exactly what went to the AT messaging API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import pytest
import responses
from sqlalchemy import func, select

from core.models import Contact, Direction, Message, ProviderEvent
from tests.gateway.conftest import fixture

TOKEN = "?token=at-hook-secret"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
AT_SEND = "https://at.test/version1/messaging"


def post(client, path, form, token=TOKEN, **kw):
    return client.post(f"/webhooks/africastalking/{path}{token}", content=urlencode(form), headers=FORM, **kw)


def rows(rt, *where):
    with rt.session() as s:
        return list(s.scalars(select(Message).where(*where).order_by(Message.id)))


def count(rt, model=Message):
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_ussd_dial_answers_the_stored_screen(client, gw_rt):
    res = post(client, "ussd", fixture("africastalking:ussd_dial"))
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/plain")
    assert res.text.startswith(("CON ", "END ")) and len(res.text) <= 160  # 63902: 160
    inbound, screen = rows(gw_rt)[0], rows(gw_rt, Message.direction == Direction.OUT.value)[0]
    assert (inbound.provider, inbound.provider_message_id, inbound.text, inbound.phone) == (
        "africastalking", "ATUid_5d3b4c2bc589f4811820a7184eed4df5:", "", "+254711000111")
    assert inbound.ussd_session_id == "ATUid_5d3b4c2bc589f4811820a7184eed4df5"
    assert inbound.status == "handled"
    assert (screen.text, screen.status, screen.reply_to_id, screen.channel) == (res.text, "sent", inbound.id, "ussd")


def test_ussd_step_gives_the_engine_the_newest_input_only(client, gw_rt):
    post(client, "ussd", fixture("africastalking:ussd_dial"))
    res = post(client, "ussd", fixture("africastalking:ussd_step"))
    assert res.status_code == 200 and res.text.startswith(("CON ", "END "))
    step = rows(gw_rt, Message.provider_message_id == "ATUid_5d3b4c2bc589f4811820a7184eed4df5:1*2")[0]
    assert step.text == "2"


def test_ussd_retry_returns_the_same_screen_and_changes_nothing(client, gw_rt):
    first = post(client, "ussd", fixture("africastalking:ussd_step"))
    before = [(m.id, m.status, m.text) for m in rows(gw_rt)]
    again = post(client, "ussd", fixture("africastalking:ussd_step"))
    assert again.status_code == 200 and again.text == first.text
    assert [(m.id, m.status, m.text) for m in rows(gw_rt)] == before


@pytest.mark.parametrize("token", ["", "?token=wrong", "?token="])
def test_ussd_bad_token_is_403_and_stores_nothing(client, gw_rt, token):
    res = post(client, "ussd", fixture("africastalking:ussd_dial"), token=token)
    assert res.status_code == 403 and "token" in res.json()["error"]
    assert count(gw_rt) == 0 and count(gw_rt, Contact) == 0


@pytest.mark.parametrize("gw_rt", [{"at_allowed_ips": "196.201.214.0/24"}], indirect=True)
def test_ip_allow_list_admits_the_listed_network(client, gw_rt):
    assert post(client, "ussd", fixture("africastalking:ussd_dial")).status_code == 200


@pytest.mark.parametrize("gw_rt", [{"at_allowed_ips": "10.0.0.0/8, 192.0.2.7"}], indirect=True)
def test_ip_allow_list_refuses_other_sources(client, gw_rt):
    res = post(client, "ussd", fixture("africastalking:ussd_dial"))
    assert res.status_code == 403 and "196.201.214.200" in res.json()["error"]
    assert count(gw_rt) == 0


@pytest.mark.parametrize("gw_rt", [{"at_webhook_token": ""}], indirect=True)
def test_unconfigured_token_switches_the_webhooks_off(client, gw_rt):
    res = post(client, "sms", fixture("africastalking:sms"), token="?token=anything")
    assert res.status_code == 403 and "AT_WEBHOOK_TOKEN" in res.json()["error"]


@pytest.mark.parametrize(("path", "name", "field"), [
    ("ussd", "ussd_dial", "sessionId"), ("ussd", "ussd_dial", "phoneNumber"), ("ussd", "ussd_dial", "serviceCode"),
    ("sms", "sms", "id"), ("sms", "sms", "from"), ("sms", "sms", "to"), ("sms", "sms", "text"),
    ("delivery", "delivery_success", "id"), ("delivery", "delivery_success", "status"),
    ("optout", "optout", "phoneNumber"), ("ussd/events", "ussd_end", "sessionId"),
])
def test_missing_field_is_400_naming_it(client, gw_rt, path, name, field):
    form = fixture(f"africastalking:{name}")
    del form[field]
    res = post(client, path, form)
    assert res.status_code == 400 and res.json()["error"].startswith(f"{field}:")
    assert count(gw_rt) == 0 and count(gw_rt, ProviderEvent) == 0 and count(gw_rt, Contact) == 0


@pytest.mark.parametrize(("path", "name", "field", "value"), [
    ("ussd", "ussd_dial", "phoneNumber", "12"),
    ("sms", "sms", "from", "not-a-number"),
    ("sms", "sms", "date", "yesterday"),
    ("delivery", "delivery_success", "status", "Teleported"),
    ("ussd/events", "ussd_end", "status", "Maybe"),
])
def test_bad_values_are_400_naming_the_field(client, gw_rt, path, name, field, value):
    form = fixture(f"africastalking:{name}") | {field: value}
    res = post(client, path, form)
    assert res.status_code == 400 and res.json()["error"].startswith(f"{field}:")
    assert count(gw_rt) == 0 and count(gw_rt, Contact) == 0


def test_oversized_body_is_413(client, gw_rt):
    form = fixture("africastalking:sms") | {"text": "x" * 70_000}
    res = post(client, "sms", form)
    assert res.status_code == 413 and "limit" in res.json()["error"]
    assert count(gw_rt) == 0


def test_non_utf8_body_is_400(client, gw_rt):
    body = b"from=%2B254711000111&to=40404&id=ATPid_1&text=caf\xe9"
    res = client.post("/webhooks/africastalking/sms" + TOKEN, content=body, headers=FORM)
    assert res.status_code == 400 and "UTF-8" in res.json()["error"]
    escaped = b"from=%2B254711000111&to=40404&id=ATPid_1&text=caf%E9"
    res = client.post("/webhooks/africastalking/sms" + TOKEN, content=escaped, headers=FORM)
    assert res.status_code == 400 and "UTF-8" in res.json()["error"]
    assert count(gw_rt) == 0


@responses.activate
def test_inbound_sms_is_stored_handled_and_answered_through_the_at_api(client, gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    res = post(client, "sms", fixture("africastalking:sms"))
    assert res.status_code == 200 and res.text == ""
    inbound = rows(gw_rt, Message.direction == Direction.IN.value)[0]
    assert (inbound.provider_message_id, inbound.text, inbound.service_number, inbound.status) == (
        "ATPid_64eec2b1a3d0b4d1c0ad2a7bd5c4d80b", "Hello Somo", "40404", "handled")
    assert inbound.created_at.isoformat() == "2017-05-03T06:04:45+00:00"
    out = rows(gw_rt, Message.direction == Direction.OUT.value)
    assert out and all(m.status == "sent" and m.provider == "africastalking" for m in out)
    assert out[0].provider_message_id == "ATXid_af51d4b2d1a4c8c5c8f3e7c5a1b2c3d4"
    assert len(responses.calls) == len(out)
    call = responses.calls[0].request
    assert call.headers["apiKey"] == "at-api-key"
    sent = parse_qs(call.body)
    assert sent["username"] == ["somo"] and sent["to"] == ["+254711000111"] and sent["from"] == ["SOMO"]
    assert sent["message"] == [out[0].text]


@responses.activate
def test_repeated_inbound_sms_is_acked_and_changes_nothing(client, gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    post(client, "sms", fixture("africastalking:sms"))
    before = [(m.id, m.status) for m in rows(gw_rt)]
    calls = len(responses.calls)
    again = post(client, "sms", fixture("africastalking:sms"))
    assert again.status_code == 200
    assert [(m.id, m.status) for m in rows(gw_rt)] == before and len(responses.calls) == calls


@responses.activate
def test_delivery_reports_move_the_status_once(client, gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    post(client, "sms", fixture("africastalking:sms"))
    assert post(client, "delivery", fixture("africastalking:delivery_success")).status_code == 200
    out = rows(gw_rt, Message.provider_message_id == "ATXid_af51d4b2d1a4c8c5c8f3e7c5a1b2c3d4")[0]
    assert out.status == "delivered" and out.delivered_at is not None
    assert post(client, "delivery", fixture("africastalking:delivery_success")).status_code == 200
    assert count(gw_rt, ProviderEvent) == 1


@responses.activate
def test_blacklisted_delivery_marks_the_contact_opted_out(client, gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    post(client, "sms", fixture("africastalking:sms"))
    post(client, "delivery", fixture("africastalking:delivery_blacklisted"))
    with gw_rt.session() as s:
        contact = s.scalar(select(Contact))
        assert contact.opted_out and contact.opted_out_at is not None


def test_delivery_for_an_unknown_message_is_recorded_and_acked(client, gw_rt):
    assert post(client, "delivery", fixture("africastalking:delivery_success")).status_code == 200
    # The receipt itself, and the marker a later send of that provider id looks up.
    with gw_rt.session() as s:
        assert sorted(s.scalars(select(ProviderEvent.kind))) == ["status", "status_early"]
    assert count(gw_rt) == 0


def test_optout_callback_marks_the_contact(client, gw_rt):
    post(client, "ussd", fixture("africastalking:ussd_dial"))
    assert post(client, "optout", fixture("africastalking:optout")).status_code == 200
    assert post(client, "optout", fixture("africastalking:optout")).status_code == 200
    with gw_rt.session() as s:
        assert s.scalar(select(Contact)).opted_out
        assert s.scalar(select(func.count()).select_from(ProviderEvent)) == 1


def test_ussd_end_notification_is_kept_once(client, gw_rt):
    for _ in range(2):
        assert post(client, "ussd/events", fixture("africastalking:ussd_end")).status_code == 200
    with gw_rt.session() as s:
        (event,) = s.scalars(select(ProviderEvent)).all()
        assert (event.kind, event.dedupe_key, event.payload["status"]) == (
            "ussd_end", "ATUid_5d3b4c2bc589f4811820a7184eed4df5", "Incomplete")
