"""Broadcasts from the admin: compose (now or scheduled), fan out at send time, count outcomes.

The fan-out runs as a job (`run_broadcast`, ids only) so a class of 60 does not hold a web
request, and so a scheduled broadcast resolves its recipients when it goes out, not when it
was written: students who left or opted out in between are not messaged.
"""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from admin.scope import Scope
from channels.outbound import enqueue_sends, store_outbound
from channels.render import render_for
from core import clock
from core.messages import Reply
from core.models import (
    Broadcast,
    BroadcastRecipient,
    Contact,
    Enrolment,
    Message,
    MessageStatus,
    School,
    SchoolClass,
    Student,
)
from core.runtime import Runtime, get_runtime
from core.settings import Settings

MAX_TEXT = 640
WHATSAPP_WINDOW = timedelta(hours=24)
DELIVERED = {MessageStatus.DELIVERED.value, MessageStatus.READ.value}


class BroadcastInvalid(ValueError):
    """Bad input for a broadcast; the message starts with the field name."""


def job_path() -> str:
    """The conversation package's broadcast job when it exists (issue 7), else ours."""
    if importlib.util.find_spec("conversation.broadcasts") is not None:
        return "conversation.broadcasts.run_broadcast"
    return "admin.broadcasts.run_broadcast"


def parse_local(value: str, tz: str) -> datetime | None:
    """A `datetime-local` form value in the school's time zone, as an aware UTC datetime."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BroadcastInvalid(f"scheduled_at: expected a date and time like 2025-03-01T08:00, got {value!r}") from exc
    if naive.tzinfo is None:
        naive = naive.replace(tzinfo=ZoneInfo(tz))
    return naive.astimezone(ZoneInfo("UTC"))


def compose(session: Session, scope: Scope, *, school: School, klass: SchoolClass | None, text: str,
            scheduled_at: datetime | None) -> Broadcast:
    """Store the broadcast; the caller commits, then calls `dispatch`."""
    text = (text or "").strip()
    if not text:
        raise BroadcastInvalid("text: required")
    if len(text) > MAX_TEXT:
        raise BroadcastInvalid(f"text: at most {MAX_TEXT} characters (got {len(text)})")
    if klass is None:
        scope.require_manager()  # teachers broadcast to their classes only
    elif klass.school_id != school.id:
        raise BroadcastInvalid("class_id: this class belongs to another school")
    now = clock.now()
    if scheduled_at is not None and scheduled_at < now - timedelta(minutes=1):
        raise BroadcastInvalid("scheduled_at: that time has passed")
    later = scheduled_at is not None and scheduled_at > now + timedelta(seconds=30)
    row = Broadcast(school_id=school.id, class_id=klass.id if klass else None, created_by_id=scope.user.id,
                    kind="message", text=text, status="scheduled" if later else "queued",
                    scheduled_at=scheduled_at if later else None)
    session.add(row)
    session.flush()
    return row


def dispatch(runtime: Runtime, broadcast: Broadcast) -> None:
    """Queue the fan-out job (after the commit that stored the broadcast)."""
    runtime.queue.enqueue(job_path(), broadcast.id, job_id=f"broadcast-{broadcast.id}", queue="broadcast",
                          at=broadcast.scheduled_at)


def provider_for(settings: Settings, channel: str) -> str:
    """The provider a broadcast goes out through: the configured one, else the console."""
    if channel == "whatsapp":
        if settings.whatsapp_access_token.get_secret_value() and settings.whatsapp_phone_number_id:
            return "meta"
        if settings.twilio_account_sid and settings.twilio_whatsapp_from:
            return "twilio"
        return "console"
    if settings.at_api_key.get_secret_value():
        return "africastalking"
    if settings.twilio_account_sid and settings.twilio_sms_from:
        return "twilio"
    return "console"


def recipients(session: Session, broadcast: Broadcast) -> list[tuple[Student, Contact]]:
    """Active, not opted-out students enrolled in the class (or anywhere in the school), once each."""
    if broadcast.class_id is not None:
        enrolled = select(Enrolment.student_id).where(Enrolment.class_id == broadcast.class_id, Enrolment.active)
        who = Student.id.in_(enrolled)
    else:
        enrolled = select(Enrolment.student_id).join(SchoolClass, SchoolClass.id == Enrolment.class_id).where(
            SchoolClass.school_id == broadcast.school_id, Enrolment.active)
        who = or_(Student.school_id == broadcast.school_id, Student.id.in_(enrolled))
    rows = session.execute(
        select(Student, Contact).join(Contact, Contact.id == Student.contact_id)
        .where(who, Student.active, Contact.opted_out.is_(False)).order_by(Student.id)
    )
    return [(student, contact) for student, contact in rows]


def channel_for(student: Student, contact: Contact, now: datetime) -> str:
    """USSD cannot be pushed to, and WhatsApp free-form only within 24 h of the student's last
    message: both fall back to SMS."""
    if student.preferred_channel == "whatsapp":
        last = contact.last_inbound_whatsapp_at
        if last is not None and now - last < WHATSAPP_WINDOW:
            return "whatsapp"
    return "sms"


def run_broadcast(broadcast_id: int) -> None:
    """The fan-out job: one recipient row and outbound message(s) per student, sends after commit."""
    runtime = get_runtime()
    ids: list[int] = []
    with runtime.session() as session:
        now = clock.now()
        claimed = session.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status.in_(["queued", "scheduled"]),
                                    or_(Broadcast.scheduled_at.is_(None), Broadcast.scheduled_at <= now + timedelta(seconds=5)))
            .values(status="sending")
        ).rowcount
        if not claimed:
            return  # already sent, cancelled, or woken early
        broadcast = session.get(Broadcast, broadcast_id)
        found = recipients(session, broadcast)
        for student, contact in found:
            channel = channel_for(student, contact, now)
            provider = provider_for(runtime.settings, channel)
            rendered = render_for(channel, Reply(broadcast.text), provider=provider, lang=student.language)
            rows = store_outbound(session, rendered, channel=channel, provider=provider, phone=contact.phone,
                                  contact_id=contact.id, student_id=student.id, broadcast_id=broadcast.id)
            session.add(BroadcastRecipient(broadcast_id=broadcast.id, student_id=student.id, channel=channel,
                                           message_id=rows[0].id if rows else None, status="queued"))
            ids.extend(r.id for r in rows)
        broadcast.total = len(found)
        if not found:
            broadcast.status, broadcast.settled_at = "settled", now
    enqueue_sends(runtime, ids)


def refresh_counts(session: Session, broadcast: Broadcast) -> Broadcast:
    """Delivered and failed per student from the message statuses; settled once every student is."""
    if broadcast.status not in ("sending", "settled"):
        return broadcast
    per_student: dict[int, list[str]] = {}
    for student_id, status in session.execute(
        select(Message.student_id, Message.status).where(Message.broadcast_id == broadcast.id)
    ).all():
        per_student.setdefault(student_id or 0, []).append(status)
    delivered = sum(1 for s in per_student.values() if all(x in DELIVERED for x in s))
    failed = sum(1 for s in per_student.values() if any(x == MessageStatus.FAILED.value for x in s))
    broadcast.delivered, broadcast.failed = delivered, failed
    for rec in session.scalars(select(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == broadcast.id)):
        statuses = per_student.get(rec.student_id, [])
        rec.status = ("failed" if MessageStatus.FAILED.value in statuses
                      else "delivered" if statuses and all(x in DELIVERED for x in statuses) else rec.status)
    if broadcast.status == "sending" and delivered + failed >= broadcast.total:
        broadcast.status, broadcast.settled_at = "settled", clock.now()
    return broadcast
