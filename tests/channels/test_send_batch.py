"""A reply's parts sent together (`send_messages`, as the job that stored them does): one
statement per part claims it just before its provider call, one success write for all of
them, each part its own provider id and status, in order; a part that cannot go out holds
back the parts after it, which stay queued and come again. Providers are mocked at the HTTP
layer."""

from __future__ import annotations

import itertools
import json
import time
from urllib.parse import parse_qs

import pytest
import responses
from sqlalchemy import event

from channels.base import Rendered, StatusUpdate
from channels.jobs import send_message, send_messages
from channels.outbound import store_outbound
from channels.receipts import apply_status
from core.models import Contact, Message
from tests.channels.conftest import fixture
from tests.channels.test_jobs import AT_SEND, row


def _reply(rt, parts: list[str], phone: str = "+254711000601") -> list[int]:
    with rt.session() as s:
        contact = Contact(phone=phone, channels_seen=["sms"])
        s.add(contact)
        s.flush()
        inbound = Message(direction="in", channel="sms", provider="africastalking", phone=phone,
                          contact_id=contact.id, text="q", status="handled")
        s.add(inbound)
        s.flush()
        rows = store_outbound(s, Rendered(messages=parts), channel="sms", provider="africastalking", phone=phone,
                              contact_id=contact.id, reply_to_id=inbound.id)
        return [r.id for r in rows]


def _answers(fail_first: int = 0):
    """AT answers with a new message id per send (after `fail_first` 502s)."""
    ids = itertools.count(1)
    calls = itertools.count()

    def answer(request):
        if next(calls) < fail_first:
            return 502, {}, "gateway down"
        body = fixture("africastalking:send_answer")
        body["SMSMessageData"]["Recipients"][0]["messageId"] = f"ATXid_part{next(ids)}"
        return 201, {}, json.dumps(body)

    return answer


def _sent_texts() -> list[str]:
    return [parse_qs(c.request.body)["message"][0] for c in responses.calls if c.response is not None
            and c.response.status_code == 201]


def _statements(engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda conn, cur, statement, *a: seen.append(statement))
    return seen


def _wait_for(rt, mid: int, status: str) -> None:
    deadline = time.monotonic() + 5
    while row(rt, mid).status != status and time.monotonic() < deadline:
        time.sleep(0.05)


@responses.activate
def test_a_replys_parts_are_claimed_one_by_one_and_written_once_each_with_its_own_id(gw_rt):
    responses.add_callback(responses.POST, AT_SEND, callback=_answers())
    ids = _reply(gw_rt, ["part one", "part two", "part three"])
    seen = _statements(gw_rt.engine)
    checkouts = [0]
    event.listen(gw_rt.engine.pool, "checkout", lambda *a: checkouts.__setitem__(0, checkouts[0] + 1))
    send_messages(gw_rt, ids)
    assert _sent_texts() == ["part one", "part two", "part three"]
    assert len(seen) == 4 and all(s.lstrip().upper().startswith("UPDATE") for s in seen)  # 3 claims, 1 write
    assert checkouts == [1]  # one pooled connection for the whole reply
    rows = [row(gw_rt, mid) for mid in ids]
    assert [(m.status, m.attempts, m.provider_message_id) for m in rows] == [
        ("sent", 1, "ATXid_part1"), ("sent", 1, "ATXid_part2"), ("sent", 1, "ATXid_part3")]
    assert all(m.sent_at is not None and m.error is None for m in rows)
    send_messages(gw_rt, ids)  # the same job again: nothing goes out twice
    assert len(_sent_texts()) == 3 and [row(gw_rt, mid).attempts for mid in ids] == [1, 1, 1]


@pytest.mark.parametrize("gw_rt", [{"send_backoff_base_s": 0.3}], indirect=True)
@responses.activate
def test_a_failing_part_holds_back_the_parts_after_it(gw_rt):
    responses.add_callback(responses.POST, AT_SEND, callback=_answers(fail_first=1))
    ids = _reply(gw_rt, ["part one", "part two"])
    send_messages(gw_rt, ids)  # part one: 502, retried in 0.3 s; part two waits for it
    assert _sent_texts() == [] and (row(gw_rt, ids[1]).status, row(gw_rt, ids[1]).attempts) == ("queued", 0)
    _wait_for(gw_rt, ids[0], "sent")
    _wait_for(gw_rt, ids[1], "sent")
    assert _sent_texts() == ["part one", "part two"]
    first, second = row(gw_rt, ids[0]), row(gw_rt, ids[1])
    assert (first.status, first.attempts) == ("sent", 2)
    assert (second.status, second.attempts) == ("sent", 1)


@responses.activate
def test_a_part_whose_earlier_part_is_in_flight_elsewhere_goes_back_unsent(gw_rt):
    responses.add_callback(responses.POST, AT_SEND, callback=_answers())
    ids = _reply(gw_rt, ["part one", "part two"])
    with gw_rt.session() as s:  # another job claimed part one and is calling the provider
        s.get(Message, ids[0]).status = "sending"
    send_messages(gw_rt, ids)
    assert _sent_texts() == []
    assert (row(gw_rt, ids[1]).status, row(gw_rt, ids[1]).attempts) == ("queued", 0)
    with gw_rt.session() as s:  # the other job is done with part one
        s.get(Message, ids[0]).status = "sent"
    _wait_for(gw_rt, ids[1], "sent")  # part two came back by itself
    assert _sent_texts() == ["part two"]


@responses.activate
def test_a_refused_part_does_not_hold_back_the_others(gw_rt):
    responses.add_callback(responses.POST, AT_SEND, callback=_answers())
    ids = _reply(gw_rt, ["part one", "part two"])
    with gw_rt.session() as s:
        s.query(Contact).update({"opted_out": True})
        s.get(Message, ids[1]).payload = {"bypass_optout": True}
    send_messages(gw_rt, ids)
    assert (row(gw_rt, ids[0]).status, row(gw_rt, ids[0]).error) == ("failed", "opted out")
    assert row(gw_rt, ids[1]).status == "sent" and _sent_texts() == ["part two"]


@responses.activate
def test_a_receipt_that_beat_one_part_is_applied_to_that_part_only(gw_rt):
    responses.add_callback(responses.POST, AT_SEND, callback=_answers())
    ids = _reply(gw_rt, ["part one", "part two"])
    with gw_rt.session() as s:  # part two's receipt arrives before its send is recorded
        assert apply_status(s, "africastalking", StatusUpdate("ATXid_part2", "delivered"), {}) is None
    send_messages(gw_rt, ids)
    first, second = row(gw_rt, ids[0]), row(gw_rt, ids[1])
    assert (first.status, first.delivered_at) == ("sent", None)
    assert second.status == "delivered" and second.delivered_at is not None


@responses.activate
def test_a_repeated_provider_id_among_parts_is_written_as_an_error_on_that_part(gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)  # the same id every time
    ids = _reply(gw_rt, ["part one", "part two"])
    send_messages(gw_rt, ids)
    first, second = row(gw_rt, ids[0]), row(gw_rt, ids[1])
    assert first.status == "sent" and first.provider_message_id == "ATXid_af51d4b2d1a4c8c5c8f3e7c5a1b2c3d4"
    assert second.status == "sent" and second.provider_message_id is None and "already recorded" in second.error


@responses.activate
def test_the_lone_send_job_still_sends_one_row(gw_rt):
    responses.add_callback(responses.POST, AT_SEND, callback=_answers())
    (mid,) = _reply(gw_rt, ["only part"])
    send_message(mid)
    assert (row(gw_rt, mid).status, row(gw_rt, mid).provider_message_id) == ("sent", "ATXid_part1")


@responses.activate
def test_a_crash_mid_reply_leaves_only_the_part_in_flight_claimed(gw_rt):
    """The process dies while the provider holds part two: part one was accepted, part two may
    have been, part three was never claimed, so the sweep can still send it (and only it)."""
    answers = _answers()

    def die_on_second(request):
        if "part+two" in request.body:
            raise SystemExit("worker killed")
        return answers(request)

    responses.add_callback(responses.POST, AT_SEND, callback=die_on_second)
    ids = _reply(gw_rt, ["part one", "part two", "part three"])
    with pytest.raises(SystemExit):
        send_messages(gw_rt, ids)
    assert [(row(gw_rt, mid).status, row(gw_rt, mid).provider_message_id) for mid in ids] == [
        ("sent", "ATXid_part1"), ("sending", None), ("queued", None)]
