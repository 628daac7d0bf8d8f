"""Broadcast fan-out on the queue: a teacher's (or an admin's) message or lesson to a class
or a whole school.

Recipients are resolved when the job runs, not when the broadcast was composed: a student
who opted out in between gets nothing. Each recipient gets one BroadcastRecipient row
(unique per broadcast and student, so a re-run job adds nobody twice) and, for a message,
one outbound Message on their own channel and provider; a lesson starts Teach for each
student through `teachers.pacing`. Sends are throttled per provider and sender in the send
job. `check_broadcast` re-schedules itself until every recipient's delivery has settled,
then sends the teacher a summary ("Delivered 40 of 42; 2 failed").
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from channels.outbound import store_outbound
from channels.render import render_for
from channels.routing import prefill, route_for
from core import clock
from core.i18n import translator
from core.messages import Reply
from core.models import (
    Broadcast,
    BroadcastRecipient,
    Contact,
    Enrolment,
    Message,
    MessageStatus,
    SchoolClass,
    StaffUser,
    Student,
)
from core.runtime import Runtime, get_runtime

log = logging.getLogger("somo.broadcasts")

BATCH = 500
CHECK_EVERY_S = 30
SETTLE_AFTER = timedelta(hours=2)  # a "sent" message with no receipt by then counts as delivered
DELIVERED = {MessageStatus.DELIVERED.value, MessageStatus.READ.value}
FAILED = {MessageStatus.FAILED.value}
QUEUED_STATES = ("queued", "scheduled")
EARLY = timedelta(seconds=5)


def recipients_query(broadcast: Broadcast):
    """Active students with an active enrolment in the class (or any class of the school),
    whose phone has not opted out."""
    q = (
        select(Student.id)
        .join(Enrolment, Enrolment.student_id == Student.id)
        .join(SchoolClass, SchoolClass.id == Enrolment.class_id)
        .join(Contact, Contact.id == Student.contact_id)
        .where(Student.active.is_(True), Enrolment.active.is_(True), Contact.opted_out.is_(False))
    )
    if broadcast.class_id is not None:
        q = q.where(Enrolment.class_id == broadcast.class_id)
    else:
        q = q.where(SchoolClass.school_id == broadcast.school_id)
    return q.distinct()


def school_members_query(broadcast: Broadcast):
    """A whole-school broadcast also reaches the school's students not (yet) in a class."""
    return (
        select(Student.id).join(Contact, Contact.id == Student.contact_id)
        .where(Student.school_id == broadcast.school_id, Student.active.is_(True), Contact.opted_out.is_(False))
    )


def recipient_ids(session: Session, broadcast: Broadcast) -> list[int]:
    ids = set(session.scalars(recipients_query(broadcast)))
    if broadcast.class_id is None:
        ids |= set(session.scalars(school_members_query(broadcast)))
    return sorted(ids)


def count_recipients(session: Session, broadcast: Broadcast) -> int:
    if broadcast.class_id is None:
        return len(recipient_ids(session, broadcast))
    return session.scalar(select(func.count()).select_from(recipients_query(broadcast).subquery())) or 0


def run_broadcast(broadcast_id: int) -> None:
    """The fan-out job. Safe to run twice: recipients already added are skipped."""
    rt = get_runtime()
    with rt.session() as session:
        b = session.get(Broadcast, broadcast_id)
        if b is None or b.status not in (*QUEUED_STATES, "sending"):
            return  # already settled, cancelled, or waiting for the teacher's YES
        if b.scheduled_at is not None and b.scheduled_at > clock.now() + EARLY:
            return  # woken early (a re-delivered job): the scheduled one will come
        if b.class_id is not None and session.get(SchoolClass, b.class_id).paused and b.kind == "lesson":
            b.status = "scheduled"  # waits for RESUME
            return
        b.status = "sending"
        student_ids = recipient_ids(session, b)
        done = set(session.scalars(select(BroadcastRecipient.student_id).where(
            BroadcastRecipient.broadcast_id == b.id)))
        b.total = len(done | set(student_ids))
    todo = [sid for sid in student_ids if sid not in done]
    for start in range(0, len(todo), BATCH):
        _fan_out_batch(rt, broadcast_id, todo[start:start + BATCH])
    rt.queue.enqueue("conversation.teachers.broadcasts.check_broadcast", broadcast_id, queue="low",
                     at=clock.now() + timedelta(seconds=CHECK_EVERY_S) if rt.queue.is_async else None)


def _fan_out_batch(rt: Runtime, broadcast_id: int, student_ids: list[int]) -> None:
    send_ids: list[int] = []
    lesson_ids: list[int] = []
    with rt.session() as session:
        b = session.get(Broadcast, broadcast_id)
        klass = session.get(SchoolClass, b.class_id) if b.class_id else None
        rows = session.execute(
            select(Student.id, Student.language, Student.preferred_channel, Contact.id, Contact.phone)
            .join(Contact, Contact.id == Student.contact_id).where(Student.id.in_(student_ids))
        ).all()
        cache = prefill(session, [r[3] for r in rows])
        for sid, lang, channel, contact_id, phone in rows:
            route = route_for(session, rt.settings, contact_id=contact_id, channel=channel, last_seen=cache)
            recipient = BroadcastRecipient(broadcast_id=b.id, student_id=sid, channel=route.channel)
            if b.kind == "lesson":
                recipient.status = "pending"
                lesson_ids.append(sid)
            else:
                text = message_text(b, klass, lang)
                rendered = render_for(route.channel, Reply(text), provider=route.provider, lang=lang,
                                      max_segments=max(rt.settings.sms_max_segments, 4))
                msgs = store_outbound(session, rendered, channel=route.channel, provider=route.provider, phone=phone,
                                      contact_id=contact_id, student_id=sid, broadcast_id=b.id)
                recipient.message_id = msgs[0].id
                recipient.status = "queued"
                send_ids.extend(m.id for m in msgs)
            session.add(recipient)
    for mid in send_ids:
        rt.queue.enqueue("channels.jobs.send_message", mid, job_id=f"send-{mid}", queue="broadcast")
    for sid in lesson_ids:
        rt.queue.enqueue("conversation.teachers.pacing.class_step", sid, "start", broadcast_id,
                         job_id=f"pace-{broadcast_id}-{sid}-start", queue="broadcast")


def message_text(b: Broadcast, klass: SchoolClass | None, lang: str) -> str:
    _ = translator(lang, "teachers").gettext
    if klass is not None:
        return _("{name}: {text}").format(name=klass.name, text=b.text)
    return b.text


def tally(session: Session, broadcast_id: int) -> tuple[int, int, int]:
    """(delivered, failed, still pending) over the recipients."""
    now = clock.now()
    rows = session.execute(
        select(BroadcastRecipient.status, Message.status, Message.sent_at)
        .outerjoin(Message, Message.id == BroadcastRecipient.message_id)
        .where(BroadcastRecipient.broadcast_id == broadcast_id)
    ).all()
    delivered = failed = pending = 0
    for rstatus, mstatus, sent_at in rows:
        status = mstatus or rstatus
        if status in DELIVERED:
            delivered += 1
        elif status in FAILED or rstatus == "failed":
            failed += 1
        elif status == MessageStatus.SENT.value and sent_at is not None and now - sent_at > SETTLE_AFTER:
            delivered += 1
        else:
            pending += 1
    return delivered, failed, pending


def refresh_counts(session: Session, b: Broadcast) -> Broadcast:
    """Delivered and failed from the recipients' message statuses (for pages and the API)."""
    if b.status in ("sending", "settled"):
        b.delivered, b.failed, _ = tally(session, b.id)
    return b


def check_broadcast(broadcast_id: int) -> None:
    """Update the counts; once nothing is pending, settle and tell the teacher once."""
    rt = get_runtime()
    summary: list[int] = []
    with rt.session() as session:
        b = session.get(Broadcast, broadcast_id)
        if b is None or b.status in ("settled", "cancelled"):
            return
        delivered, failed, pending = tally(session, broadcast_id)
        b.delivered, b.failed = delivered, failed
        if pending:
            again = True
        else:
            again = False
            b.status, b.settled_at = "settled", clock.now()
            if b.summary_sent_at is None and b.kind != "digest":
                b.summary_sent_at = clock.now()
                summary = _summary_to_teacher(rt, session, b)
    if summary:
        for mid in summary:
            rt.queue.enqueue("channels.jobs.send_message", mid, job_id=f"send-{mid}")
    if again:
        if rt.queue.is_async:
            rt.queue.enqueue("conversation.teachers.broadcasts.check_broadcast", broadcast_id, queue="low",
                             at=clock.now() + timedelta(seconds=CHECK_EVERY_S))


def _summary_to_teacher(rt: Runtime, session: Session, b: Broadcast) -> list[int]:
    teacher = session.get(StaffUser, b.created_by_id) if b.created_by_id else None
    if teacher is None or not teacher.phone:
        return []
    _ = translator(teacher.language or "en", "teachers").gettext
    klass = session.get(SchoolClass, b.class_id) if b.class_id else None
    what = _("Lesson") if b.kind == "lesson" else _("Broadcast")
    text = _("{what} to {name}: delivered {delivered} of {total}; {failed} failed.").format(
        what=what, name=klass.name if klass else _("the school"), delivered=b.delivered, total=b.total,
        failed=b.failed)
    return send_to_phone(rt, session, teacher.phone, text, lang=teacher.language or "en")


def send_to_phone(rt: Runtime, session: Session, phone: str, text: str, *, lang: str = "en",
                  channel: str = "sms", broadcast_id: int | None = None) -> list[int]:
    """Store an outbound message to any phone (a teacher, a parent); returns ids to send after commit."""
    contact_id = session.scalar(select(Contact.id).where(Contact.phone == phone))
    route = route_for(session, rt.settings, contact_id=contact_id, channel=channel)
    rendered = render_for(route.channel, Reply(text), provider=route.provider, lang=lang,
                          max_segments=max(rt.settings.sms_max_segments, 4))
    rows = store_outbound(session, rendered, channel=route.channel, provider=route.provider, phone=phone,
                          contact_id=contact_id, broadcast_id=broadcast_id)
    return [r.id for r in rows]
