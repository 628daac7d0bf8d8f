"""Meta WhatsApp Cloud API webhook end to end: handshake, signed JSON events, replies through respx."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from sqlalchemy import func, select

from core.models import Contact, Direction, Message, ProviderEvent
from gateway.security import meta_signature
from tests.gateway.conftest import fixture

SECRET = "meta-app-secret"
SEND = "https://graph.test/v21.0/106540352242922/messages"


def signed(client, payload, *, secret=SECRET, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()  # json.dumps escapes non-ASCII as \uXXXX
    return client.post("/webhooks/whatsapp", content=body,
                       headers={"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(secret, body)})


def rows(rt, *where):
    with rt.session() as s:
        return list(s.scalars(select(Message).where(*where).order_by(Message.id)))


def count(rt, model=Message):
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_verify_handshake_echoes_the_challenge(client):
    res = client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "meta-verify-token",
                                                   "hub.challenge": "1158201444"})
    assert res.status_code == 200 and res.text == "1158201444"


@pytest.mark.parametrize("params", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.verify_token": "meta-verify-token", "hub.challenge": "1"},
    {"hub.challenge": "1"},
])
def test_verify_handshake_refuses_a_bad_token(client, params):
    assert client.get("/webhooks/whatsapp", params=params).status_code == 403


@respx.mock
def test_inbound_text_is_stored_and_answered_through_the_graph_api(client, gw_rt):
    route = respx.post(SEND).mock(return_value=httpx.Response(200, json=fixture("meta:send_answer")))
    res = signed(client, fixture("meta:text"))
    assert res.status_code == 200
    inbound = rows(gw_rt, Message.direction == Direction.IN.value)[0]
    assert (inbound.channel, inbound.provider, inbound.phone, inbound.status) == (
        "whatsapp", "meta", "+254711000444", "handled")
    assert inbound.provider_message_id == "wamid.HBgMMjU0NzExMDAwNDQ0FQIAEhgUM0VCMDRBNDM2QzA5RjA4QkU5NTYA"
    assert inbound.text == "Habari ‘Somo’ — ninaweza kujifunza?"  # non-ASCII survives the \\u escapes
    assert inbound.created_at.timestamp() == 1717400000
    out = rows(gw_rt, Message.direction == Direction.OUT.value)
    assert out and route.call_count == len(out)
    request = route.calls[0].request
    assert request.headers["Authorization"] == "Bearer meta-access-token"
    sent = json.loads(request.content)
    assert sent["messaging_product"] == "whatsapp" and sent["to"] == "254711000444"
    if sent["type"] == "text":
        assert sent["text"]["body"] == out[0].text and len(out[0].text) <= 4096
    else:
        assert sent["type"] == "interactive" and sent["interactive"] == out[0].payload["interactive"]
    assert out[0].provider_message_id == "wamid.HBgMMjU0NzExMDAwNDQ0FQIAERgSOUQ5RjY2QzQ0RkI0RkQ3RjU3AA=="


@pytest.mark.parametrize(("name", "button_id", "text"), [
    ("button_reply", "practice", "Practice"), ("list_reply", "fractions", "Fractions")])
@respx.mock
def test_button_and_list_replies_carry_their_ids(client, gw_rt, name, button_id, text):
    respx.post(SEND).mock(return_value=httpx.Response(200, json=fixture("meta:send_answer")))
    assert signed(client, fixture(f"meta:{name}")).status_code == 200
    inbound = rows(gw_rt, Message.direction == Direction.IN.value)[0]
    assert inbound.payload["_button_id"] == button_id and inbound.text == text


@respx.mock
def test_repeated_event_changes_nothing(client, gw_rt):
    route = respx.post(SEND).mock(return_value=httpx.Response(200, json=fixture("meta:send_answer")))
    signed(client, fixture("meta:text"))
    before, calls = [(m.id, m.status) for m in rows(gw_rt)], route.call_count
    assert signed(client, fixture("meta:text")).status_code == 200
    assert [(m.id, m.status) for m in rows(gw_rt)] == before and route.call_count == calls


def test_statuses_update_rows(client, gw_rt):
    with gw_rt.session() as s:
        contact = Contact(phone="+254711000444", channels_seen=[])
        s.add(contact)
        s.flush()
        for wamid in ("wamid.OUT1", "wamid.OUT2"):
            s.add(Message(direction="out", channel="whatsapp", provider="meta", provider_message_id=wamid,
                          phone="+254711000444", contact_id=contact.id, text="hi", status="sent"))
    assert signed(client, fixture("meta:statuses")).status_code == 200
    delivered, failed = rows(gw_rt, Message.direction == "out")
    assert delivered.status == "delivered" and delivered.delivered_at is not None
    assert failed.status == "failed" and failed.error.startswith("Meta error 131047")
    assert count(gw_rt, ProviderEvent) == 2


@pytest.mark.parametrize("how", ["wrong secret", "missing", "tampered"])
def test_bad_signature_is_403_and_stores_nothing(client, gw_rt, how):
    payload = fixture("meta:text")
    if how == "wrong secret":
        res = signed(client, payload, secret="nope")
    elif how == "missing":
        res = client.post("/webhooks/whatsapp", content=json.dumps(payload), headers={"Content-Type": "application/json"})
    else:
        body = json.dumps(payload).encode()
        res = client.post("/webhooks/whatsapp", content=body.replace(b"Habari", b"Jambo"),
                          headers={"X-Hub-Signature-256": meta_signature(SECRET, body)})
    assert res.status_code == 403 and "meta webhook refused" in res.json()["error"]
    assert count(gw_rt) == 0 and count(gw_rt, Contact) == 0


def test_malformed_json_is_400(client, gw_rt):
    res = signed(client, None, raw=b'{"object": "whatsapp_business_account", "entry": [')
    assert res.status_code == 400 and "malformed JSON" in res.json()["error"]


def test_non_utf8_is_400(client, gw_rt):
    res = signed(client, None, raw=b'{"object": "\xff"}')
    assert res.status_code == 400 and "UTF-8" in res.json()["error"]


def test_oversized_body_is_413(client, gw_rt):
    payload = fixture("meta:text")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "x" * 70_000
    res = signed(client, payload)
    assert res.status_code == 413 and count(gw_rt) == 0


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda p: p.pop("object"), "object"),
    (lambda p: p["entry"][0]["changes"][0]["value"]["messages"][0].pop("id"), "entry[0].changes[0].value.messages[0].id"),
    (lambda p: p["entry"][0]["changes"][0]["value"]["messages"][0].update({"from": "12"}),
     "entry[0].changes[0].value.messages[0].from"),
    (lambda p: p["entry"][0]["changes"][0]["value"]["metadata"].update({"phone_number_id": "999"}),
     "entry[0].changes[0].value.metadata.phone_number_id"),
    (lambda p: p["entry"][0]["changes"][0]["value"]["messages"][0].update({"timestamp": "soon"}),
     "entry[0].changes[0].value.messages[0].timestamp"),
    (lambda p: p.update({"entry": "nope"}), "entry"),
])
def test_bad_events_are_400_naming_the_field_and_store_nothing(client, gw_rt, mutate, field):
    payload = fixture("meta:text")
    mutate(payload)
    res = signed(client, payload)
    assert res.status_code == 400 and res.json()["error"].startswith(f"{field}:")
    assert count(gw_rt) == 0 and count(gw_rt, Contact) == 0


def test_half_bad_batch_stores_nothing(client, gw_rt):
    payload = fixture("meta:text")
    good = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    bad = dict(good, id="wamid.second", **{"from": "xx"})
    payload["entry"][0]["changes"][0]["value"]["messages"].append(bad)
    assert signed(client, payload).status_code == 400
    assert count(gw_rt) == 0


def test_a_bsuid_only_message_is_recorded_and_skipped_while_the_rest_is_stored(client, gw_rt):
    payload = fixture("meta:text")
    value = payload["entry"][0]["changes"][0]["value"]
    good = value["messages"][0]
    value["contacts"].append({"profile": {"name": "Juma", "username": "juma"}, "user_id": "KE.13491208655302741918"})
    value["messages"].append({"from_user_id": "KE.13491208655302741918", "id": "wamid.bsuid1",
                              "timestamp": "1717400300", "type": "text", "text": {"body": "hi"}})
    with respx.mock:
        respx.post(SEND).mock(return_value=httpx.Response(200, json=fixture("meta:send_answer")))
        assert signed(client, payload).status_code == 200
    stored = rows(gw_rt, Message.direction == Direction.IN.value)
    assert [m.provider_message_id for m in stored] == [good["id"]]
    with gw_rt.session() as s:
        (event,) = s.scalars(select(ProviderEvent).where(ProviderEvent.kind == "skipped")).all()
        assert event.dedupe_key == "wamid.bsuid1" and "business-scoped" in event.payload["reason"]


def test_from_falls_back_to_the_single_contact_wa_id(client, gw_rt):
    payload = fixture("meta:text")
    payload["entry"][0]["changes"][0]["value"]["messages"][0].pop("from")
    with respx.mock:
        respx.post(SEND).mock(return_value=httpx.Response(200, json=fixture("meta:send_answer")))
        assert signed(client, payload).status_code == 200
    assert rows(gw_rt, Message.direction == Direction.IN.value)[0].phone == "+254711000444"


@respx.mock
def test_two_messages_from_one_student_in_one_batch_are_both_handled_in_order(client, gw_rt):
    answers = iter(range(100))
    route = respx.post(SEND).mock(side_effect=lambda request: httpx.Response(
        200, json={"messaging_product": "whatsapp", "messages": [{"id": f"wamid.out{next(answers)}"}]}))
    payload = fixture("meta:text")
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    messages.append(dict(messages[0], id="wamid.second", timestamp="1717400010", text={"body": "second"}))
    assert signed(client, payload).status_code == 200
    inbound = rows(gw_rt, Message.direction == Direction.IN.value)
    assert [m.provider_message_id for m in inbound][1] == "wamid.second"
    assert all(m.status == "handled" for m in inbound)
    out = rows(gw_rt, Message.direction == Direction.OUT.value)
    assert route.call_count == len(out) and all(m.status == "sent" and m.error is None for m in out)
    assert {m.reply_to_id for m in out} == {m.id for m in inbound}
