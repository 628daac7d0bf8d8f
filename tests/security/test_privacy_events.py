"""Privacy of provider events (raw delivery receipts, USSD session ends, opt-outs): their
payloads carry the student's phone number and USSD input, so erasure removes them and
retention deletes old ones, on SQLite and PostgreSQL. Events are written by the real
webhook routes (Africa's Talking, Twilio, Meta), as the providers send them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import String, cast, func, or_, select, update

from admin.students import erase
from channels.receipts import EARLY, replay_early_receipts
from core import clock
from core.models import AuditLog, Contact, Message, ProviderEvent, Student
from core.retention import purge
from gateway.app import create_app
from gateway.cli import main as somo
from tests import factories
from tests.conftest import installed_runtime
from tests.gateway.conftest import PROVIDER_SETTINGS, fixture
from tests.gateway.test_webhooks_twilio import signed_post
from tests.gateway.test_webhooks_whatsapp import signed

PHONE = "+254711000111"  # the number in the AT fixtures
OTHER = "+254711000999"
AT_ID = fixture("africastalking:delivery_success")["id"]
USSD_SESSION = fixture("africastalking:ussd_end")["sessionId"]
TWILIO_SID = fixture("twilio:status_delivered")["MessageSid"]
AT_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def rt(any_db_url, tmp_path):
    with installed_runtime(any_db_url, tmp_path, **PROVIDER_SETTINGS) as runtime:
        yield runtime


@pytest.fixture
def client(rt) -> Iterator[TestClient]:
    with TestClient(create_app(rt), client=("196.201.214.200", 50000)) as c:  # an AT source address
        yield c


def at(client, path: str, form: dict) -> None:
    res = client.post(f"/webhooks/africastalking/{path}?token=at-hook-secret", content=urlencode(form), headers=AT_FORM)
    assert res.status_code == 200, res.text


def twilio_status(client, sid: str, to: str) -> None:
    form = fixture("twilio:status_delivered") | {"MessageSid": sid, "SmsSid": sid, "To": to}
    assert signed_post(client, "/webhooks/twilio/status", form).status_code == 204


def meta_statuses(client, recipient: str) -> None:
    """Two receipts: wamid.OUT1 (a message we sent) and wamid.OUT2 (one we never stored)."""
    body = fixture("meta:statuses")
    for status in body["entry"][0]["changes"][0]["value"]["statuses"]:
        status["recipient_id"] = recipient
    assert signed(client, body).status_code == 200


def student(rt, phone: str, name: str, *, contact_of: int | None = None) -> int:
    with rt.session() as s:
        klass = factories.school_class(s, school=factories.school(s))
        row = factories.student(s, phone=phone, name=name, klass=klass,
                                contact_row=s.get(Contact, contact_of) if contact_of else None)
        return row.id


def sent(rt, student_id: int, provider: str, provider_id: str, channel: str = "sms", **kw) -> None:
    with rt.session() as s:
        st = s.get(Student, student_id)
        s.add(Message(direction="out", channel=channel, provider=provider, provider_message_id=provider_id,
                      contact_id=st.contact_id, student_id=st.id, phone=s.get(Contact, st.contact_id).phone,
                      text="a lesson", status="sent", **kw))


def ussd_step(rt, student_id: int, session_id: str) -> None:
    with rt.session() as s:
        st = s.get(Student, student_id)
        s.add(Message(direction="in", channel="ussd", provider="africastalking", provider_message_id=f"{session_id}:1",
                      contact_id=st.contact_id, student_id=st.id, phone=s.get(Contact, st.contact_id).phone,
                      text="1", status="handled", ussd_session_id=session_id))


def events(rt, *where) -> list[tuple[str, str, str]]:
    with rt.session() as s:
        return sorted(tuple(r) for r in s.execute(
            select(ProviderEvent.provider, ProviderEvent.kind, ProviderEvent.dedupe_key).where(*where)))


def carrying(digits: str):
    return or_(cast(ProviderEvent.payload, String).contains(digits), ProviderEvent.dedupe_key.contains(digits))


def erased(rt, student_id: int) -> dict[str, int]:
    with rt.session() as s:
        return erase(s, s.get(Student, student_id))


def test_erasure_leaves_no_provider_event_carrying_the_phone(rt, client):
    a, b = student(rt, PHONE, "Amina"), student(rt, OTHER, "Baraka")
    sent(rt, a, "africastalking", AT_ID)
    sent(rt, a, "twilio", TWILIO_SID)
    sent(rt, a, "meta", "wamid.OUT1", channel="whatsapp")
    ussd_step(rt, a, USSD_SESSION)
    sent(rt, b, "africastalking", "ATXid_b")
    ussd_step(rt, b, "ATUid_b")

    at(client, "delivery", fixture("africastalking:delivery_success"))
    at(client, "ussd/events", fixture("africastalking:ussd_end"))  # holds the input and the last screen
    at(client, "optout", fixture("africastalking:optout"))
    twilio_status(client, TWILIO_SID, f"whatsapp:{PHONE}")
    meta_statuses(client, PHONE.removeprefix("+"))  # Meta writes the number without its +
    at(client, "delivery", fixture("africastalking:delivery_success") | {"id": "ATXid_b", "phoneNumber": OTHER})
    at(client, "ussd/events", fixture("africastalking:ussd_end") | {"sessionId": "ATUid_b", "phoneNumber": OTHER})
    at(client, "optout", fixture("africastalking:optout") | {"phoneNumber": OTHER})
    mine = events(rt, carrying("711000111"))
    assert len(mine) == 6 and {k for _, k, _ in mine} == {"status", "ussd_end", "optout"}
    assert ("meta", EARLY, "wamid.OUT2") in events(rt)  # a receipt for a message we never stored
    theirs = events(rt, carrying("711000999"))
    assert len(theirs) == 3

    counts = erased(rt, a)
    assert events(rt, carrying("711000111")) == []
    assert events(rt, ProviderEvent.dedupe_key.in_([AT_ID, TWILIO_SID, "wamid.OUT1", "wamid.OUT2", USSD_SESSION])) == []
    assert events(rt) == theirs  # the other student's events untouched
    assert counts.get("provider_events") == 7 and counts["messages"] == 4


def test_erasing_one_of_two_profiles_on_a_phone_keeps_the_numbers_events(rt, client):
    """A sibling on the same number: the erased profile's receipts and USSD sessions go; the
    number's own events (an opt-out) and the sibling's receipts stay until the number goes."""
    a = student(rt, PHONE, "Amina")
    with rt.session() as s:
        contact_id = s.get(Student, a).contact_id
    sibling = student(rt, PHONE, "Zawadi", contact_of=contact_id)
    sent(rt, a, "africastalking", AT_ID)
    ussd_step(rt, a, USSD_SESSION)
    sent(rt, sibling, "twilio", TWILIO_SID)
    at(client, "delivery", fixture("africastalking:delivery_success"))
    at(client, "ussd/events", fixture("africastalking:ussd_end"))
    at(client, "optout", fixture("africastalking:optout"))
    twilio_status(client, TWILIO_SID, PHONE)

    counts = erased(rt, a)
    assert [k for _, k, _ in events(rt)] == ["optout", "status"]
    assert events(rt, ProviderEvent.provider == "twilio") == [("twilio", "status", f"{TWILIO_SID}:delivered:")]
    assert counts.get("provider_events") == 2

    counts = erased(rt, sibling)  # the last profile: the number goes, and its events
    assert events(rt) == [] and counts.get("provider_events") == 2


def test_retention_deletes_old_events_and_recent_ones_still_work(rt, client, capsys):
    a = student(rt, PHONE, "Amina")
    sent(rt, a, "africastalking", "ATXid_old")
    sent(rt, a, "africastalking", AT_ID)
    delivery = fixture("africastalking:delivery_success")
    at(client, "delivery", delivery | {"id": "ATXid_old"})
    at(client, "delivery", delivery | {"id": "ATXid_early_old"})  # beat a send that never came
    at(client, "ussd/events", fixture("africastalking:ussd_end"))
    with rt.session() as s:
        s.execute(update(ProviderEvent).values(created_at=clock.now() - timedelta(days=400)))
    at(client, "delivery", delivery)  # recent: a receipt for a sent message
    at(client, "delivery", delivery | {"id": "ATXid_early_new"})  # recent: it waits for its send
    before = events(rt)
    assert len(before) == 7

    assert somo(["retention", "--dry-run"]) == 0
    assert "would delete 4 provider event(s)" in capsys.readouterr().out
    assert events(rt) == before  # a dry run changes nothing

    result = purge(rt)
    assert result.provider_events == 4
    assert events(rt) == [("africastalking", "status", f"{AT_ID}:delivered:"),
                          ("africastalking", "status", "ATXid_early_new:delivered:"),
                          ("africastalking", EARLY, "ATXid_early_new")]
    with rt.session() as s:
        audit = s.scalar(select(AuditLog).where(AuditLog.action == "retention.purge"))
        assert audit.after["provider_events"] == 4

    at(client, "delivery", delivery)  # the gateway repeats a recent receipt: still skipped
    assert len(events(rt)) == 3
    sent(rt, a, "africastalking", "ATXid_early_new")  # the send's answer finally names the early id
    with rt.session() as s:
        row = s.scalar(select(Message).where(Message.provider_message_id == "ATXid_early_new"))
        replay_early_receipts(s, row)
        assert row.status == "delivered"  # the early receipt kept waiting, and applies
    assert purge(rt).provider_events == 0  # idempotent
    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "retention.purge")) == 2
