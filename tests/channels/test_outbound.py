"""Storing a rendered reply: USSD screens as sent with an SMS follow-up, SMS parts, flags, language."""

from __future__ import annotations

from sqlalchemy import select

from channels.outbound import store_reply
from core.messages import Option, Reply
from core.models import Contact, Message, Student


def inbound_row(s, *, channel, provider="africastalking", network="63903", language="sw"):
    contact = Contact(phone="+254711000666", channels_seen=[channel])
    s.add(contact)
    s.flush()
    student = Student(contact_id=contact.id, name="Baraka", language=language)
    s.add(student)
    s.flush()
    row = Message(direction="in", channel=channel, provider=provider, provider_message_id=f"x-{channel}",
                  phone=contact.phone, contact_id=contact.id, student_id=student.id, text="",
                  status="received", payload={"networkCode": network}, ussd_session_id="ATUid_1")
    s.add(row)
    s.flush()
    return row


def test_ussd_screen_is_stored_sent_and_the_long_answer_follows_by_sms(gw_rt):
    long_answer = "Photosynthesis makes food from light. " * 20
    with gw_rt.session() as s:
        inbound = inbound_row(s, channel="ussd")
        to_send, rendered = store_reply(s, gw_rt.settings, inbound, Reply(
            "Jibu litakuja kwa SMS.", options=[Option("1", "Menyu")], sms_followup=long_answer))
        screens = list(s.scalars(select(Message).where(Message.channel == "ussd", Message.direction == "out")))
        assert [m.status for m in screens] == ["sent"] and screens[0].text == rendered.messages[0]
        assert screens[0].text.startswith("CON ") and screens[0].ussd_session_id == "ATUid_1"
        assert to_send and all(m.channel == "sms" and m.status == "queued" for m in to_send)
        assert all(m.provider == "africastalking" and m.service_number == "SOMO" for m in to_send)
        assert len(to_send) == gw_rt.settings.sms_max_segments  # capped; the rest waits for MORE
        assert to_send[-1].text.endswith("Jibu MORE kupata zaidi")  # the student's language


def test_ussd_screen_limit_follows_the_network(gw_rt):
    text = "word " * 80
    with gw_rt.session() as s:
        inbound = inbound_row(s, channel="ussd", network="63903")  # Airtel KE: 182 in the default settings
        _, rendered = store_reply(s, gw_rt.settings, inbound, Reply(text))
        assert 160 < len(rendered.messages[0]) <= 182 and rendered.rest


def test_bypass_flag_is_kept_on_every_part(gw_rt):
    with gw_rt.session() as s:
        inbound = inbound_row(s, channel="sms")
        rows, _ = store_reply(s, gw_rt.settings, inbound, Reply("Umeondolewa. " * 30, meta={"bypass_optout": True}))
        assert len(rows) > 1 and all(m.payload == {"bypass_optout": True} for m in rows)
        assert all(m.segments == 1 and m.encoding == "gsm7" for m in rows)
        assert all(m.reply_to_id == inbound.id for m in rows)


def test_reply_parts_are_stored_in_order_on_both_backends(any_db_url, tmp_path):
    """One INSERT ... RETURNING for a reply's parts: the ids come back in the parts' order,
    and the stored rows are what the send job reads (SQLite for the demo, PostgreSQL)."""
    from tests.conftest import make_runtime

    runtime = make_runtime(any_db_url, tmp_path=tmp_path)
    try:
        with runtime.session() as s:
            inbound = inbound_row(s, channel="sms")
            rows, rendered = store_reply(s, runtime.settings, inbound, Reply("Jifunze hesabu kila siku. " * 20))
            ids = [r.id for r in rows]
        assert len(rendered.messages) > 1 and len(ids) == len(rendered.messages) and ids == sorted(ids)
        with runtime.session() as s:
            stored = list(s.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id)))
        assert [m.text for m in stored] == rendered.messages
        assert all(m.status == "queued" and m.direction == "out" and m.reply_to_id == inbound.id for m in stored)
        assert all(m.student_id == inbound.student_id and m.contact_id == inbound.contact_id for m in stored)
        assert all(m.created_at is not None and m.attempts == 0 for m in stored)
    finally:
        runtime.close()
