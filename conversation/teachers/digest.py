"""Periodic work: reminders to inactive students, the weekly teacher digest, and the weekly
parent SMS a school may switch on. `tick()` is idempotent (each kind at most once per
period, recorded on the rows it touches), so a scheduler may call it as often as it likes:
`somo tick` from cron or a Kubernetes CronJob, or the self-scheduling `tick_and_reschedule`.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from conversation.teachers.broadcasts import send_to_phone
from conversation.teachers.results import summary
from core import clock
from core.i18n import translator
from core.models import Broadcast, ClassTeacher, Contact, School, SchoolClass, StaffUser, Student
from core.runtime import Runtime, get_runtime

WEEK = timedelta(days=7)
TICK_EVERY = timedelta(hours=1)


def tick() -> dict[str, int]:
    rt = get_runtime()
    counts = {"reminders": send_reminders(rt), "digests": send_digests(rt), "parents": send_parent_sms(rt)}
    return counts


def tick_and_reschedule() -> None:
    rt = get_runtime()
    tick()
    if rt.queue.is_async:
        at = clock.now() + TICK_EVERY
        rt.queue.enqueue("conversation.teachers.digest.tick_and_reschedule", queue="low", at=at,
                         job_id=f"tick-{at:%Y%m%d%H}")


def send_reminders(rt: Runtime) -> int:
    """Students inactive for N days get one nudge per N-day period."""
    days = rt.settings.reminder_inactive_days
    if days <= 0:
        return 0
    cutoff = clock.now() - timedelta(days=days)
    ids: list[int] = []
    with rt.session() as session:
        rows = session.execute(
            select(Student, Contact.phone).join(Contact, Contact.id == Student.contact_id).where(
                Student.active.is_(True), Student.onboarded.is_(True), Contact.opted_out.is_(False),
                Student.last_active_at.is_not(None), Student.last_active_at < cutoff,
                (Student.last_reminded_at.is_(None)) | (Student.last_reminded_at < cutoff),
            ).limit(10_000)
        ).all()
        for student, phone in rows:
            _ = translator(student.language, "teachers").gettext
            text = _("Hi {name}, we miss you on Somo! Reply MENU to carry on learning. Reply STOP to stop.").format(
                name=student.name or "")
            ids += send_to_phone(rt, session, phone, text, lang=student.language, channel=student.preferred_channel)
            student.last_reminded_at = clock.now()
    _send(rt, ids)
    return len(rows)


def send_digests(rt: Runtime) -> int:
    """Each teacher with a phone gets one short SMS a week per class."""
    since = clock.now() - WEEK
    sent = 0
    ids: list[int] = []
    with rt.session() as session:
        pairs = session.execute(
            select(StaffUser, SchoolClass).join(ClassTeacher, ClassTeacher.staff_user_id == StaffUser.id)
            .join(SchoolClass, SchoolClass.id == ClassTeacher.class_id)
            .where(StaffUser.active.is_(True), StaffUser.phone.is_not(None))
        ).all()
        for teacher, klass in pairs:
            done = session.scalar(select(Broadcast.id).where(
                Broadcast.kind == "digest", Broadcast.class_id == klass.id, Broadcast.created_by_id == teacher.id,
                Broadcast.created_at >= since).limit(1))
            if done is not None:
                continue
            text = summary(session, klass, teacher.language or "en")
            b = Broadcast(school_id=klass.school_id, class_id=klass.id, created_by_id=teacher.id, kind="digest",
                          text=text, status="settled", total=1, settled_at=clock.now())
            session.add(b)
            session.flush()
            ids += send_to_phone(rt, session, teacher.phone, text, lang=teacher.language or "en", broadcast_id=b.id)
            sent += 1
    _send(rt, ids)
    return sent


def send_parent_sms(rt: Runtime) -> int:
    """Schools that switched it on: one weekly progress SMS per student to the parent's phone."""
    since = clock.now() - WEEK
    sent = 0
    ids: list[int] = []
    with rt.session() as session:
        schools = list(session.scalars(select(School).where(School.parent_weekly_sms.is_(True))))
        for school in schools:
            done = session.scalar(select(Broadcast.id).where(
                Broadcast.kind == "parents", Broadcast.school_id == school.id, Broadcast.created_at >= since).limit(1))
            if done is not None:
                continue
            b = Broadcast(school_id=school.id, kind="parents", text="weekly parent SMS", status="settled",
                          settled_at=clock.now())
            session.add(b)
            session.flush()
            students = session.scalars(select(Student).where(
                Student.school_id == school.id, Student.active.is_(True), Student.parent_phone.is_not(None)))
            for student in students:
                _ = translator(student.language, "teachers").gettext
                active = student.last_active_at is not None and student.last_active_at >= since
                text = (_("{name} learned on Somo this week. Streak: {days} days.") if active else
                        _("{name} did not use Somo this week.")).format(name=student.name, days=student.streak_days)
                ids += send_to_phone(rt, session, student.parent_phone, text, lang=student.language, broadcast_id=b.id)
                sent += 1
            b.total = sent
    _send(rt, ids)
    return sent


def _send(rt: Runtime, ids: list[int]) -> None:
    for mid in ids:
        rt.queue.enqueue("channels.jobs.send_message", mid, job_id=f"send-{mid}", queue="low")
