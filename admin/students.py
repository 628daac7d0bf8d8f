"""Student services: add, edit, move, export and erase. Views and the API call these."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from channels.receipts import forget
from core.i18n import LANGUAGES
from core.models import (
    BroadcastRecipient,
    Contact,
    ConversationState,
    Enrolment,
    LessonProgress,
    Message,
    PracticeAttempt,
    SchoolClass,
    SkillMastery,
    Student,
)
from core.phone import InvalidPhone, country_of, is_valid_for, to_e164

CHANNELS = ("sms", "ussd", "whatsapp")
EDITABLE = ("name", "language", "preferred_channel", "parent_phone", "active")


class StudentInvalid(ValueError):
    """Bad input for a student; the message starts with the field name."""


def check_phone(raw: str, country: str, field: str = "phone") -> str:
    """E.164 for `raw`, valid for the school's country (phonenumbers), or a StudentInvalid naming the field."""
    try:
        e164 = to_e164(raw, country)
    except InvalidPhone as exc:
        raise StudentInvalid(f"{field}: {exc}") from exc
    if not is_valid_for(e164, country):
        raise StudentInvalid(f"{field}: not a valid number for {country}: {raw!r}")
    return e164


def check_choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    value = (value or "").strip().lower()
    if value not in allowed:
        raise StudentInvalid(f"{field}: must be one of {', '.join(allowed)}, got {value!r}")
    return value


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise StudentInvalid("name: required, at most 120 characters")
    return name


def upsert_student(session: Session, klass: SchoolClass, *, name: str, phone: str, language: str = "en",
                   channel: str = "sms") -> tuple[Student, bool]:
    """The student with this phone and name, created if new, enrolled in `klass` (idempotent)."""
    name = check_name(name)
    e164 = check_phone(phone, klass.school.country)
    language = check_choice(language or "en", LANGUAGES, "language")
    channel = check_choice(channel or "sms", CHANNELS, "channel")
    contact = session.scalar(select(Contact).where(Contact.phone == e164))
    if contact is None:
        contact = Contact(phone=e164, country=country_of(e164), channels_seen=[])
        session.add(contact)
        session.flush()
    student = session.scalar(select(Student).where(Student.contact_id == contact.id, Student.name == name))
    created = student is None
    if created:
        student = Student(contact_id=contact.id, school_id=klass.school_id, name=name, language=language,
                          preferred_channel=channel)
        session.add(student)
        session.flush()
        if contact.active_student_id is None:
            contact.active_student_id = student.id
    else:
        student.language, student.preferred_channel = language, channel
    enrol(session, student, klass)
    return student, created


def enrol(session: Session, student: Student, klass: SchoolClass) -> Enrolment:
    row = session.scalar(select(Enrolment).where(Enrolment.student_id == student.id, Enrolment.class_id == klass.id))
    if row is None:
        row = Enrolment(student_id=student.id, class_id=klass.id)
        session.add(row)
    row.active = True
    session.flush()
    return row


def move(session: Session, student: Student, to_class: SchoolClass) -> list[int]:
    """Enrol in `to_class` and end the student's other enrolments in that school; returns the old class ids."""
    old = list(session.scalars(
        select(Enrolment).join(SchoolClass, SchoolClass.id == Enrolment.class_id)
        .where(Enrolment.student_id == student.id, SchoolClass.school_id == to_class.school_id,
               Enrolment.class_id != to_class.id, Enrolment.active)
    ))
    for row in old:
        row.active = False
    enrol(session, student, to_class)
    student.school_id = to_class.school_id
    return [row.class_id for row in old]


def classes_of(session: Session, student: Student) -> list[SchoolClass]:
    return list(session.scalars(
        select(SchoolClass).join(Enrolment, Enrolment.class_id == SchoolClass.id)
        .where(Enrolment.student_id == student.id, Enrolment.active).order_by(SchoolClass.name)
    ))


def _row(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {}
    for col in obj.__table__.columns:
        if col.key in skip:
            continue
        value = getattr(obj, col.key)
        out[col.key] = value.isoformat() if hasattr(value, "isoformat") else value
    return out


def export(session: Session, student: Student) -> dict[str, Any]:
    """Everything Somo holds about one student (the right of access), as JSON-ready data."""
    contact = session.get(Contact, student.contact_id)

    def rows(model, *conds):
        return [_row(r) for r in session.scalars(select(model).where(*conds).order_by(model.id))]

    state = session.get(ConversationState, student.id)
    return {
        "student": _row(student, skip=("pin_hash",)),
        "contact": _row(contact) if contact else None,
        "enrolments": rows(Enrolment, Enrolment.student_id == student.id),
        "messages": rows(Message, Message.student_id == student.id),
        "attempts": rows(PracticeAttempt, PracticeAttempt.student_id == student.id),
        "progress": rows(LessonProgress, LessonProgress.student_id == student.id),
        "mastery": rows(SkillMastery, SkillMastery.student_id == student.id),
        "conversation_state": _row(state) if state else None,
    }


def erase(session: Session, student: Student) -> dict[str, int]:
    """Delete the student and every row about them; the contact too when no other profile uses it.

    Provider events go too: those naming the erased messages (receipts, USSD session ends)
    and, when the contact goes, every one that carries the phone number.

    Deletes explicitly rather than trusting ON DELETE CASCADE, which SQLite only honours
    when foreign keys are switched on.
    """
    sid, contact_id = student.id, student.contact_id
    _drop_hot_state(sid)
    others = list(session.scalars(select(Student.id).where(Student.contact_id == contact_id, Student.id != sid)))
    counts: dict[str, int] = {}
    msg_cond = Message.student_id == sid if others else or_(Message.student_id == sid, Message.contact_id == contact_id)
    contact = session.get(Contact, contact_id)
    counts["provider_events"] = forget(session, msg_cond, contact.phone if contact is not None and not others else None)
    message_ids = select(Message.id).where(msg_cond)
    session.execute(update(Message).where(Message.reply_to_id.in_(message_ids)).values(reply_to_id=None))
    session.execute(update(BroadcastRecipient).where(BroadcastRecipient.message_id.in_(message_ids))
                    .values(message_id=None))
    counts["messages"] = session.execute(delete(Message).where(msg_cond)).rowcount
    for name, model in (("attempts", PracticeAttempt), ("progress", LessonProgress), ("mastery", SkillMastery),
                        ("conversation_state", ConversationState), ("enrolments", Enrolment),
                        ("broadcast_recipients", BroadcastRecipient)):
        counts[name] = session.execute(delete(model).where(model.student_id == sid)).rowcount
    session.execute(delete(Student).where(Student.id == sid))
    if contact is not None and not others:
        session.delete(contact)
        counts["contact"] = 1
    elif contact is not None and contact.active_student_id == sid:
        contact.active_student_id = others[0]
    session.flush()
    return counts


def _drop_hot_state(student_id: int) -> None:
    """The Redis copy of the conversation state (name, answers, what waits for MORE) goes too.
    Dropped before the commit: if the erase rolls back, the state simply reloads from PostgreSQL."""
    from conversation.store import key
    from core.runtime import get_runtime

    redis = get_runtime().redis
    if redis is not None:
        redis.delete(key(student_id))
