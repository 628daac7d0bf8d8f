"""The send job: claim once, retry transient failures with back-off, stop on permanent ones,
honour opt-outs and the WhatsApp 24-hour window. Providers are mocked at the HTTP layer."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import parse_qs

import httpx
import pytest
import responses
import respx

from channels.base import Rendered
from channels.jobs import send_message
from channels.outbound import store_outbound
from core import clock
from core.models import Contact, Message
from tests.channels.conftest import fixture

AT_SEND = "https://at.test/version1/messaging"
TWILIO = "https://twilio.test/2010-04-01/Accounts/AC" + "a" * 32 + "/Messages.json"
META = "https://graph.test/v21.0/106540352242922/messages"


def outbound(rt, *, channel="sms", provider="africastalking", text="Hello", opted_out=False, meta=None,
             whatsapp_age_h: float | None = 1, payloads=None) -> int:
    with rt.session() as s:
        contact = Contact(phone="+254711000555", channels_seen=[channel], opted_out=opted_out)
        if whatsapp_age_h is not None:
            contact.last_inbound_whatsapp_at = clock.now() - timedelta(hours=whatsapp_age_h)
        s.add(contact)
        s.flush()
        (row,) = store_outbound(s, Rendered(messages=[text], payloads=payloads), channel=channel, provider=provider,
                                phone=contact.phone, contact_id=contact.id, meta=meta)
        return row.id


def row(rt, mid) -> Message:
    with rt.session() as s:
        return s.get(Message, mid)


@responses.activate
def test_5xx_is_retried_then_sent(gw_rt):
    responses.post(AT_SEND, body="gateway down", status=502)
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    mid = outbound(gw_rt)
    send_message(mid)
    m = row(gw_rt, mid)
    assert (m.status, m.attempts, m.provider_message_id) == ("sent", 2, "ATXid_af51d4b2d1a4c8c5c8f3e7c5a1b2c3d4")
    assert len(responses.calls) == 2 and m.error is None


@respx.mock
def test_429_honours_retry_after(gw_rt):
    route = respx.post(TWILIO).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "1"}, json={"code": 20429, "message": "Too Many Requests"}),
        httpx.Response(201, json=fixture("twilio:create_answer")),
    ])
    mid = outbound(gw_rt, provider="twilio")
    started = clock.now()
    send_message(mid)
    m = row(gw_rt, mid)
    assert m.status == "retrying" and "429" in m.error
    assert (m.next_attempt_at - started).total_seconds() >= 1.0
    send_message(mid)  # too early: the job refuses to jump the back-off
    assert route.call_count == 1
    deadline = time.monotonic() + 5
    while row(gw_rt, mid).status != "sent" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert row(gw_rt, mid).status == "sent" and route.call_count == 2


@pytest.mark.parametrize("gw_rt", [{"send_max_attempts": 3}], indirect=True)
@respx.mock
def test_timeouts_stop_at_max_attempts(gw_rt):
    route = respx.post(META).mock(side_effect=httpx.ConnectTimeout("timed out"))
    mid = outbound(gw_rt, channel="whatsapp", provider="meta")
    send_message(mid)
    m = row(gw_rt, mid)
    assert (m.status, m.attempts, route.call_count) == ("failed", 3, 3)
    assert m.error.startswith("gave up after 3 attempts: network error: ConnectTimeout")


@respx.mock
def test_permanent_4xx_is_not_retried_and_21610_opts_out(gw_rt):
    route = respx.post(TWILIO).mock(return_value=httpx.Response(400, json=fixture("twilio:error_21610")))
    mid = outbound(gw_rt, provider="twilio")
    send_message(mid)
    m = row(gw_rt, mid)
    assert (m.status, m.attempts, route.call_count) == ("failed", 1, 1)
    assert "21610" in m.error
    with gw_rt.session() as s:
        assert s.get(Contact, m.contact_id).opted_out


@responses.activate
def test_at_blacklisted_recipient_opts_out(gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_blacklisted"), status=201)
    mid = outbound(gw_rt)
    send_message(mid)
    m = row(gw_rt, mid)
    assert m.status == "failed" and "UserInBlacklist" in m.error and len(responses.calls) == 1
    with gw_rt.session() as s:
        assert s.get(Contact, m.contact_id).opted_out


@responses.activate
def test_a_row_is_never_sent_twice(gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    mid = outbound(gw_rt)
    send_message(mid)
    send_message(mid)
    assert len(responses.calls) == 1 and row(gw_rt, mid).attempts == 1


@responses.activate
def test_opted_out_contact_gets_nothing_but_the_stop_confirmation(gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    blocked = outbound(gw_rt, opted_out=True)
    send_message(blocked)
    assert (row(gw_rt, blocked).status, row(gw_rt, blocked).error) == ("failed", "opted out")
    assert len(responses.calls) == 0
    with gw_rt.session() as s:
        s.delete(s.get(Message, blocked))
        s.query(Contact).delete()
    confirm = outbound(gw_rt, opted_out=True, text="You will get no more messages.", meta={"bypass_optout": True})
    send_message(confirm)
    assert row(gw_rt, confirm).status == "sent" and len(responses.calls) == 1


@respx.mock
def test_meta_interactive_payload_is_sent_as_is(gw_rt):
    route = respx.post(META).mock(return_value=httpx.Response(200, json=fixture("meta:send_answer")))
    interactive = {"type": "button", "body": {"text": "Pick"},
                   "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "Teach"}}]}}
    mid = outbound(gw_rt, channel="whatsapp", provider="meta", payloads=[interactive])
    send_message(mid)
    body = json.loads(route.calls[0].request.content)
    assert body == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "254711000555",
                    "type": "interactive", "interactive": interactive}


@respx.mock
def test_meta_window_error_is_permanent(gw_rt):
    respx.post(META).mock(return_value=httpx.Response(400, json=fixture("meta:error_window")))
    mid = outbound(gw_rt, channel="whatsapp", provider="meta")
    send_message(mid)
    m = row(gw_rt, mid)
    assert m.status == "failed" and "131047" in m.error and m.attempts == 1


@pytest.mark.parametrize("gw_rt", [{"twilio_whatsapp_template_sid": "HXb5b62575e6e4ff6129ad7c8efe1f983e"}],
                         indirect=True)
@respx.mock
def test_outside_the_window_twilio_sends_the_template(gw_rt):
    route = respx.post(TWILIO).mock(return_value=httpx.Response(201, json=fixture("twilio:create_answer")))
    mid = outbound(gw_rt, channel="whatsapp", provider="twilio", text="Your lesson is ready", whatsapp_age_h=25)
    send_message(mid)
    sent = parse_qs(route.calls[0].request.content.decode())
    assert sent["ContentSid"] == ["HXb5b62575e6e4ff6129ad7c8efe1f983e"] and "Body" not in sent
    assert json.loads(sent["ContentVariables"][0]) == {"1": "Your lesson is ready"}
    assert sent["To"] == ["whatsapp:+254711000555"] and sent["From"] == ["whatsapp:+14155238886"]
    assert row(gw_rt, mid).template == "HXb5b62575e6e4ff6129ad7c8efe1f983e"


@pytest.mark.parametrize("gw_rt", [{"whatsapp_template_name": "lesson_ready", "whatsapp_template_lang": "sw"}],
                         indirect=True)
@respx.mock
def test_outside_the_window_meta_sends_the_template(gw_rt):
    route = respx.post(META).mock(return_value=httpx.Response(200, json=fixture("meta:send_answer")))
    mid = outbound(gw_rt, channel="whatsapp", provider="meta", text="Somo lako liko tayari", whatsapp_age_h=None)
    send_message(mid)
    body = json.loads(route.calls[0].request.content)
    assert body["type"] == "template" and body["template"]["name"] == "lesson_ready"
    assert body["template"]["language"] == {"code": "sw"}
    assert body["template"]["components"][0]["parameters"] == [{"type": "text", "text": "Somo lako liko tayari"}]


@responses.activate
@respx.mock
def test_outside_the_window_without_template_falls_back_to_sms(gw_rt):
    meta = respx.post(META).mock(return_value=httpx.Response(200, json=fixture("meta:send_answer")))
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    mid = outbound(gw_rt, channel="whatsapp", provider="meta", text="Lesson ready", whatsapp_age_h=30)
    send_message(mid)
    m = row(gw_rt, mid)
    assert meta.call_count == 0 and len(responses.calls) == 1
    assert (m.channel, m.provider, m.status, m.segments) == ("sms", "africastalking", "sent", 1)
    assert parse_qs(responses.calls[0].request.body)["message"] == ["Lesson ready"]


@pytest.mark.parametrize("gw_rt", [{"at_api_key": "", "twilio_auth_token": ""}], indirect=True)
def test_outside_the_window_with_no_way_through_fails_with_the_reason(gw_rt):
    mid = outbound(gw_rt, channel="whatsapp", provider="meta", whatsapp_age_h=48)
    send_message(mid)
    m = row(gw_rt, mid)
    assert m.status == "failed" and "24-hour window" in m.error


@responses.activate
def test_parts_of_one_reply_go_out_in_order(gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    with gw_rt.session() as s:
        contact = Contact(phone="+254711000556", channels_seen=["sms"])
        s.add(contact)
        s.flush()
        first = Message(direction="in", channel="sms", provider="africastalking", phone=contact.phone,
                        contact_id=contact.id, text="q", status="handled")
        s.add(first)
        s.flush()
        part1, part2 = store_outbound(s, Rendered(messages=["part one", "part two"]), channel="sms",
                                      provider="africastalking", phone=contact.phone, contact_id=contact.id,
                                      reply_to_id=first.id)
        ids = (part1.id, part2.id)
    send_message(ids[1])  # its job ran first: it waits for part one
    assert row(gw_rt, ids[1]).status == "queued" and len(responses.calls) == 0
    send_message(ids[0])
    deadline = time.monotonic() + 5
    while row(gw_rt, ids[1]).status != "sent" and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = [parse_qs(c.request.body)["message"][0] for c in responses.calls]
    assert sent == ["part one", "part two"]


@responses.activate
def test_a_repeated_provider_id_does_not_leave_the_row_stuck(gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    first = outbound(gw_rt)
    send_message(first)
    with gw_rt.session() as s:
        contact_id = s.get(Message, first).contact_id
        (second,) = store_outbound(s, Rendered(messages=["again"]), channel="sms", provider="africastalking",
                                   phone="+254711000555", contact_id=contact_id)
        second_id = second.id
    send_message(second_id)
    m = row(gw_rt, second_id)
    assert m.status == "sent" and m.provider_message_id is None and "already recorded" in m.error
