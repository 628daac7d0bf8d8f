"""Arbitrary text in every state (empty, emoji, 2,000 characters, control characters, other
scripts): never an exception, always a reply that fits the channel."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from channels.sms import count_segments
from core.models import Contact, ConversationState, Direction, Message, Student
from core.runtime import set_runtime
from tests.conftest import make_runtime
from tests.conversation.helpers import Phone, load_pack

PHONE = "+254700900900"
# NUL never gets this far: every webhook refuses it with a 400 (gateway/webhooks_body.py); the
# engine itself takes it (test_engine_takes_any_text_even_nul).
NASTY = ["", "\x01\x02\x1b[31m\x7f\u202e", "😀🎉📚", "A" * 2000, "١٢٣ مرحبا 你好 Привет", "STOP", "0", "98",
         "%(name)s {0} %s", "9" * 400, "ZAIDI", "💩" * 300]
_fresh = itertools.count(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory, request):
    """One runtime; a phone walked through every state, with a snapshot of each."""
    db_url = request.getfixturevalue("pg_url") if _pg() else request.getfixturevalue("sqlite_url")
    rt = make_runtime(db_url, tmp_path=tmp_path_factory.mktemp("fuzz"), rate_limit_per_minute=0)
    previous = set_runtime(rt)
    load_pack(rt)
    # WhatsApp walks Teach step by step (over SMS the reading steps flow into one reply with the
    # practice question), so the walk stops on the first step and on the question.
    phone = Phone(rt, PHONE, "whatsapp")
    snaps: dict[str, dict] = {}
    path = ["hi", "1", "Amina", "skip", "1", "1", "1", "1", "1", "1", "1", "LANG", "1", "MENU", "3", "1",
            "Baraka", "1234", "skip", "1", "MENU", "2", "2", "BACK", "1"]
    for text in path:
        phone.send(text)
        snaps.setdefault(_label(rt), snapshot(rt))
    yield rt, snaps
    set_runtime(previous)
    rt.close()


def _pg() -> bool:
    from tests import services

    return services.REQUIRE or services.pg_available()


def _label(rt) -> str:
    with rt.session() as s:
        contact = s.scalar(select(Contact).where(Contact.phone == PHONE))
        state = s.get(ConversationState, contact.active_student_id)
        teach = (state.data.get("modes") or {}).get("teach", {}).get("data", {})
        return f"{state.state}:{teach.get('step')}" if state.state == "lesson" else state.state


def snapshot(rt) -> dict:
    with rt.session() as s:
        contact = s.scalar(select(Contact).where(Contact.phone == PHONE))
        state = s.get(ConversationState, contact.active_student_id)
        student = s.get(Student, contact.active_student_id)
        return {"active": contact.active_student_id,
                "state": {c: getattr(state, c) for c in ("state", "mode", "pack", "topic", "step", "data")},
                "student": {c: getattr(student, c) for c in ("name", "language", "onboarded", "pin_hash")}}


def restore(rt, snap: dict) -> None:
    with rt.session() as s:
        s.execute(update(Contact).where(Contact.phone == PHONE).values(active_student_id=snap["active"],
                                                                        opted_out=False))
        s.execute(update(ConversationState).where(ConversationState.student_id == snap["active"])
                  .values(**snap["state"]))
        s.execute(update(Student).where(Student.id == snap["active"]).values(**snap["student"]))


def assert_fits(rt, channel: str, replies: list[str]) -> None:
    assert replies, "no reply"
    if channel == "ussd":
        assert len(replies) == 1 and replies[0].startswith(("CON ", "END ")) and len(replies[0]) <= 160
    elif channel == "sms":
        assert all(r and count_segments(r) <= rt.settings.sms_max_segments for r in replies)
    else:
        assert all(r and len(r) <= 4096 for r in replies)


def turn(rt, snaps: dict, state: str, channel: str, text: str) -> None:
    if state == "new":
        phone = Phone(rt, f"+2547009{next(_fresh):05d}", channel)
    else:
        restore(rt, snaps[state])
        phone = Phone(rt, PHONE, channel)
    before = _count_out(rt)
    phone.send(text)
    with rt.session() as s:
        replies = [m.text for m in s.scalars(select(Message).where(Message.direction == Direction.OUT.value)
                                             .order_by(Message.id).offset(before))]
    assert_fits(rt, channel, replies)


def _count_out(rt) -> int:
    with rt.session() as s:
        return len(list(s.scalars(select(Message.id).where(Message.direction == Direction.OUT.value))))


EXPECTED_STATES = {"onboard_language", "onboard_name", "onboard_class", "onboard_consent", "menu", "pick_topic",
                   "pick_mode", "lesson:0", "lesson:3", "pick_language", "onboard_pin", "choose_profile",
                   "enter_pin", "resume_offer"}


def test_the_walk_reaches_every_state(world):
    _, snaps = world
    assert EXPECTED_STATES <= set(snaps)


@pytest.mark.parametrize("channel", ["sms", "ussd", "whatsapp"])
def test_nasty_inputs_in_every_state(world, channel):
    rt, snaps = world
    for state in ["new", *sorted(snaps)]:
        for text in NASTY:
            turn(rt, snaps, state, channel, text)


# Nor do lone surrogates: no UTF-8 body can carry one.
NO_NUL = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
texts = st.one_of(st.text(NO_NUL, max_size=40), st.text(NO_NUL, min_size=1500, max_size=2000),
                  st.text(st.characters(min_codepoint=1, max_codepoint=0x1f), max_size=20), st.sampled_from(NASTY))


@pytest.mark.parametrize("channel", ["sms", "ussd", "whatsapp"])
def test_fuzz_any_text_in_any_state(world, channel):
    rt, snaps = world

    @settings(max_examples=int(os.environ.get("SOMO_FUZZ_EXAMPLES", "40")))
    @given(state=st.sampled_from(["new", *sorted(snaps)]), text=texts)
    def run(state, text):
        turn(rt, snaps, state, channel, text)

    run()


@given(text=st.text(max_size=300))
def test_engine_takes_any_text_even_nul(world, text):
    """The engine on its own, below the webhooks: any text, NUL included, gives a reply."""
    from conversation import engine
    from core import clock
    from core.messages import Inbound

    rt, snaps = world
    restore(rt, snaps["menu"])
    with rt.session() as s:
        contact = s.scalar(select(Contact).where(Contact.phone == PHONE))
        reply = engine.handle(rt, s, Inbound(channel="sms", provider="console", provider_message_id=None,
                                             sender=PHONE, recipient=None, text=text, received_at=clock.now()),
                              contact_id=contact.id)
        s.rollback()
    assert reply is not None and reply.full_text().strip()
