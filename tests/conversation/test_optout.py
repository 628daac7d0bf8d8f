"""STOP overrides any lesson, stops every message until START; both recorded and confirmed once.
And the per-number rate limit with its one polite warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core import clock
from core.models import AuditLog, Direction, Message
from tests.conftest import make_runtime
from tests.conversation.helpers import Phone, load_pack


def onboarded(rt, number="+254711000101", channel="sms") -> Phone:
    phone = Phone(rt, number, channel)
    if channel == "ussd":
        phone.dial()
    else:
        phone.send("hi")
    for text in ("1", "Juma", "skip", "1"):
        phone.send(text)
    return phone


def outbound(rt) -> list[Message]:
    with rt.session() as s:
        return list(s.scalars(select(Message).where(Message.direction == Direction.OUT.value).order_by(Message.id)))


@pytest.mark.parametrize("stop", ["STOP", "stop please", "Stop. Thank you", "ACHA", "unsubscribe", "stpo"])
def test_stop_mid_lesson_opts_out_and_confirms_once(rt, stop):
    load_pack(rt)
    phone = onboarded(rt)
    phone.send("1"), phone.send("1"), phone.send("1")  # into the Teach lesson
    assert phone.state().state == "lesson"
    confirmation = phone.send(stop)
    assert "no more messages from Somo" in confirmation and "START" in confirmation
    assert outbound(rt)[-1].payload.get("bypass_optout") is True
    contact = phone.contact()
    assert contact.opted_out and contact.opted_out_at is not None
    sent = len(outbound(rt))
    assert phone.send("1") == ""  # a lesson answer gets nothing now
    assert phone.send("STOP") == ""  # confirmed once only
    assert len(outbound(rt)) == sent
    welcome = phone.send("START")
    assert "Welcome back to Somo!" in welcome and "Continue Adding fractions" in welcome
    contact = phone.contact()
    assert not contact.opted_out and contact.opted_in_at is not None
    with rt.session() as s:
        assert [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))] == [
            "contact.opt_out", "contact.opt_in"]


def test_stop_works_during_onboarding_and_in_kiswahili(rt):
    phone = Phone(rt, "+254711000102")
    phone.send("hi"), phone.send("2")
    assert "Hutapokea ujumbe zaidi kutoka Somo" in phone.send("acha")
    assert phone.contact().opted_out


def test_an_answer_containing_stop_is_not_an_opt_out(rt):
    phone = onboarded(rt, "+254711000103")
    phone.send("I want to stop now and go home")
    assert not phone.contact().opted_out


def test_an_opted_out_number_dialling_ussd_can_start_again(rt):
    phone = onboarded(rt, "+254711000104", "ussd")
    phone.send("STOP")
    screen = phone.dial()
    assert screen.startswith("CON ") and "You stopped Somo messages." in screen and "1. Start again" in screen
    assert "Welcome back to Somo!" in phone.send("1")
    assert not phone.contact().opted_out


def test_rate_limit_warns_once_then_is_silent_until_the_minute_passes(db_url, tmp_path):
    rt = make_runtime(db_url, tmp_path=tmp_path, rate_limit_per_minute=3)
    try:
        t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        clock.freeze(t0)
        phone = Phone(rt, "+254711000105")
        assert phone.send("hi") and phone.send("1") and phone.send("Juma")
        warning = phone.send("skip")
        assert "sending messages very fast" in warning and "12:01" in warning  # Nairobi time, by babel
        assert phone.send("1") == "" and phone.send("1") == ""
        clock.freeze(t0 + timedelta(seconds=61))
        assert "reply STOP" in phone.send("skip")  # answered again, and the flow is intact
        clock.freeze(t0 + timedelta(seconds=62))
        assert "Please wait" not in phone.send("STOP") and phone.contact().opted_out  # STOP is never limited
    finally:
        rt.close()


def test_rate_limit_on_ussd_always_answers_the_screen(db_url, tmp_path):
    rt = make_runtime(db_url, tmp_path=tmp_path, rate_limit_per_minute=2)
    try:
        clock.freeze(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
        phone = Phone(rt, "+254711000106", "ussd")
        phone.dial(), phone.send("1")
        for _ in range(2):
            screen = phone.send("Juma")
            assert screen.startswith("END ") and "sending messages very fast" in screen
    finally:
        rt.close()
