"""The relational data model (SQLAlchemy 2 typed mappings).

The same models and migrations run on SQLite (embedded default) and PostgreSQL.
Timestamps are stored as UTC and always come back timezone-aware.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core import clock

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType, list[Any]: JSONType}


def _now() -> datetime:
    return clock.now()


def _where(condition: str) -> dict[str, Any]:
    """A partial index's condition, the same on PostgreSQL and SQLite."""
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


def literal_value(value: str):
    """A fixed string written into the SQL (`col == literal_value("in")`), for conditions a
    partial index is chosen by. Only for the module's own constants, never for input."""
    return literal_column("'" + value.replace("'", "''") + "'")


class Role(enum.StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    SCHOOL_ADMIN = "school_admin"
    TEACHER = "teacher"


class Channel(enum.StrEnum):
    SMS = "sms"
    USSD = "ussd"
    WHATSAPP = "whatsapp"
    CONSOLE = "console"


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


class MessageStatus(enum.StrEnum):
    RECEIVED = "received"  # inbound, stored
    HANDLED = "handled"  # inbound, processed by the engine
    QUEUED = "queued"  # outbound, stored, not yet accepted by the provider
    SENDING = "sending"  # outbound, a send attempt is under way
    RETRYING = "retrying"  # outbound, last attempt failed with a retryable error
    SENT = "sent"  # accepted by the provider
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class School(Base):
    __tablename__ = "schools"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    country: Mapped[str] = mapped_column(String(2), default="KE")
    timezone: Mapped[str] = mapped_column(String(64), default="Africa/Nairobi")
    parent_weekly_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=_now)

    classes: Mapped[list[SchoolClass]] = relationship(back_populates="school")


class SchoolClass(Base):
    """A class of students: reached by its number or keyword, joined with its join code."""

    __tablename__ = "classes"
    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    grade: Mapped[int | None] = mapped_column(Integer)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)  # class phone number / short code
    keyword: Mapped[str | None] = mapped_column(String(32), unique=True)  # keyword on a shared short code
    join_code: Mapped[str] = mapped_column(String(16), unique=True)
    pack: Mapped[str | None] = mapped_column(String(80))  # default curriculum pack for the class
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=_now)

    school: Mapped[School] = relationship(back_populates="classes")


class Contact(Base):
    """One phone number. Several learner profiles may share it (siblings, a parent's phone)."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    country: Mapped[str | None] = mapped_column(String(2))
    channels_seen: Mapped[list[Any]] = mapped_column(default=list)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out_at: Mapped[datetime | None]
    opted_in_at: Mapped[datetime | None]
    last_inbound_sms_at: Mapped[datetime | None]
    last_inbound_ussd_at: Mapped[datetime | None]
    last_inbound_whatsapp_at: Mapped[datetime | None]
    active_student_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(default=_now)

    students: Mapped[list[Student]] = relationship(back_populates="contact", foreign_keys="Student.contact_id")

    def last_inbound_at(self, channel: str) -> datetime | None:
        return getattr(self, f"last_inbound_{channel}_at", None)


class Student(Base):
    """A learner profile."""

    __tablename__ = "students"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    language: Mapped[str] = mapped_column(String(8), default="en")
    preferred_channel: Mapped[str] = mapped_column(String(16), default=Channel.SMS.value)
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    onboarded: Mapped[bool] = mapped_column(Boolean, default=False)
    streak_days: Mapped[int] = mapped_column(Integer, default=0)
    streak_last_day: Mapped[date | None] = mapped_column(Date)
    last_active_at: Mapped[datetime | None]
    last_reminded_at: Mapped[datetime | None]
    parent_phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=_now)

    contact: Mapped[Contact] = relationship(back_populates="students", foreign_keys=[contact_id])
    enrolments: Mapped[list[Enrolment]] = relationship(back_populates="student", cascade="all, delete-orphan")


class StaffUser(Base):
    """A web-admin login: platform admin, school admin or teacher."""

    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(200), unique=True)  # None: messaging-only teacher
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default=Role.TEACHER.value)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)  # E.164, teachers command from it
    language: Mapped[str] = mapped_column(String(8), default="en")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=_now)


class ClassTeacher(Base):
    __tablename__ = "class_teachers"
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True)


class Enrolment(Base):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("student_id", "class_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=_now)

    student: Mapped[Student] = relationship(back_populates="enrolments")
    school_class: Mapped[SchoolClass] = relationship()


class CurriculumPack(Base):
    """An imported curriculum pack; `content` holds the validated pack as JSON."""

    __tablename__ = "curriculum_packs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pack: Mapped[str] = mapped_column(String(80), unique=True)
    curriculum: Mapped[str] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(2))
    subject: Mapped[str] = mapped_column(String(80))
    grade: Mapped[int] = mapped_column(Integer)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int | None] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checksum: Mapped[str] = mapped_column(String(64), default="")
    index_status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | indexed | failed
    index_error: Mapped[str | None] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(default=_now)

    topics: Mapped[list[CurriculumTopic]] = relationship(
        back_populates="pack_row", cascade="all, delete-orphan", order_by="CurriculumTopic.position"
    )


class CurriculumTopic(Base):
    __tablename__ = "curriculum_topics"
    __table_args__ = (UniqueConstraint("pack_id", "topic"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pack_id: Mapped[int] = mapped_column(ForeignKey("curriculum_packs.id", ondelete="CASCADE"), index=True)
    topic: Mapped[str] = mapped_column(String(80))
    title: Mapped[dict[str, Any]] = mapped_column(default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)

    pack_row: Mapped[CurriculumPack] = relationship(back_populates="topics")
    skills: Mapped[list[Skill]] = relationship(back_populates="topic_row", cascade="all, delete-orphan")


class Skill(Base):
    """A skill with its knowledge-tracing parameters (None: the defaults)."""

    __tablename__ = "skills"
    __table_args__ = (UniqueConstraint("topic_id", "skill"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("curriculum_topics.id", ondelete="CASCADE"), index=True)
    skill: Mapped[str] = mapped_column(String(80))
    p_init: Mapped[float | None] = mapped_column(Float)
    p_learn: Mapped[float | None] = mapped_column(Float)
    p_guess: Mapped[float | None] = mapped_column(Float)
    p_slip: Mapped[float | None] = mapped_column(Float)

    topic_row: Mapped[CurriculumTopic] = relationship(back_populates="skills")


class Chunk(Base):
    """A retrievable passage of a pack: the source of truth for every process's index."""

    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_scope", "pack", "language"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pack_id: Mapped[int] = mapped_column(ForeignKey("curriculum_packs.id", ondelete="CASCADE"), index=True)
    pack: Mapped[str] = mapped_column(String(80))
    curriculum: Mapped[str] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(2))
    subject: Mapped[str] = mapped_column(String(80))
    grade: Mapped[int] = mapped_column(Integer)
    topic: Mapped[str] = mapped_column(String(80))
    language: Mapped[str] = mapped_column(String(8))
    section: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    sparse: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"indices": [...], "values": [...]}
    dense: Mapped[list[Any] | None] = mapped_column(JSONType)


class ConversationState(Base):
    """Snapshot of a student's conversation, written through from Redis."""

    __tablename__ = "conversation_states"
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(40), default="menu")
    mode: Mapped[str | None] = mapped_column(String(20))
    pack: Mapped[str | None] = mapped_column(String(80))
    topic: Mapped[str | None] = mapped_column(String(80))
    step: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(BigInteger, default=0)  # fencing / optimistic concurrency
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class Message(Base):
    """Every message in and out. Inbound rows are stored before the gateway is acked."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("provider", "provider_message_id"),
        # Partial indexes: a row is in one only while it matches, so the hot writes (every
        # step's inbound row, its screen or reply, the handled and sent marks) touch fewer
        # indexes, and the indexes the hot reads use stay small. Statements that should use
        # one write its condition as SQL literals (`literal_value`): a prepared statement's
        # generic plan cannot match a bound parameter to an index's condition.
        Index("ix_messages_inbound_phone", "phone", "created_at", **_where("direction = 'in'")),  # the rate limit
        Index("ix_messages_inbox", "contact_id", "id",  # the rows a turn handles, and the sweep's
              **_where("direction = 'in' AND status = 'received'")),
        Index("ix_messages_outbox", "status", "id",  # sends to make, retry or reconcile
              **_where("direction = 'out' AND status IN ('queued', 'sending', 'retrying')")),
        Index("ix_messages_reply_to_id", "reply_to_id", **_where("reply_to_id IS NOT NULL")),
        Index("ix_messages_broadcast_id", "broadcast_id", **_where("broadcast_id IS NOT NULL")),
        Index("ix_messages_ussd_session_id", "ussd_session_id",  # erasure: a session's inbound rows
              **_where("direction = 'in' AND ussd_session_id IS NOT NULL")),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(20))
    provider_message_id: Mapped[str | None] = mapped_column(String(160))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id", ondelete="SET NULL"), index=True)
    phone: Mapped[str] = mapped_column(String(20))  # the student's side, E.164
    service_number: Mapped[str | None] = mapped_column(String(40))  # our side: number, short code, sender id
    text: Mapped[str] = mapped_column(Text, default="")
    segments: Mapped[int] = mapped_column(Integer, default=0)
    encoding: Mapped[str | None] = mapped_column(String(8))  # gsm7 | ucs2
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    ussd_session_id: Mapped[str | None] = mapped_column(String(120))
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="SET NULL"))
    template: Mapped[str | None] = mapped_column(String(120))  # set when sent as an approved template
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # raw inbound / structured outbound
    cost_tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class LessonProgress(Base):
    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("student_id", "pack", "topic", "mode"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), index=True)
    pack: Mapped[str] = mapped_column(String(80))
    topic: Mapped[str] = mapped_column(String(80))
    mode: Mapped[str] = mapped_column(String(20))
    step: Mapped[int] = mapped_column(Integer, default=0)
    steps_total: Mapped[int] = mapped_column(Integer, default=0)
    mastery: Mapped[float] = mapped_column(Float, default=0.0)
    time_spent_s: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None]
    started_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class SkillMastery(Base):
    """Bayesian Knowledge Tracing estimate per student and skill."""

    __tablename__ = "skill_mastery"
    __table_args__ = (UniqueConstraint("student_id", "pack", "skill"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), index=True)
    pack: Mapped[str] = mapped_column(String(80))
    topic: Mapped[str] = mapped_column(String(80))
    skill: Mapped[str] = mapped_column(String(80))
    p_known: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    correct: Mapped[int] = mapped_column(Integer, default=0)
    mastered_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class PracticeAttempt(Base):
    __tablename__ = "practice_attempts"
    __table_args__ = (Index("ix_attempts_student_topic", "student_id", "pack", "topic"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    pack: Mapped[str] = mapped_column(String(80))
    topic: Mapped[str] = mapped_column(String(80))
    skill: Mapped[str] = mapped_column(String(80))
    mode: Mapped[str] = mapped_column(String(20), default="practice")
    question_key: Mapped[str] = mapped_column(String(120))
    question: Mapped[str] = mapped_column(Text)
    qtype: Mapped[str] = mapped_column(String(10))  # mcq | short | numeric
    difficulty: Mapped[int] = mapped_column(Integer, default=1)
    answer_given: Mapped[str] = mapped_column(Text)
    correct_answer: Mapped[str] = mapped_column(Text)
    correct: Mapped[bool] = mapped_column(Boolean)
    first_attempt: Mapped[bool] = mapped_column(Boolean, default=True)
    feedback: Mapped[str] = mapped_column(Text, default="")
    hint_count: Mapped[int] = mapped_column(Integer, default=0)
    time_spent_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Broadcast(Base):
    __tablename__ = "broadcasts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16), default="message")  # message | lesson | reminder | digest
    text: Mapped[str] = mapped_column(Text, default="")
    pack: Mapped[str | None] = mapped_column(String(80))
    topic: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="queued")  # pending_confirm|scheduled|queued|sending|settled|cancelled
    scheduled_at: Mapped[datetime | None]
    total: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    summary_sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=_now)
    settled_at: Mapped[datetime | None]


class BroadcastRecipient(Base):
    __tablename__ = "broadcast_recipients"
    __table_args__ = (UniqueConstraint("broadcast_id", "student_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    channel: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text)


class AuditLog(Base):
    """Append-only record of every admin and teacher action."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    actor_staff_id: Mapped[int | None] = mapped_column(BigId)
    school_id: Mapped[int | None] = mapped_column(BigId, index=True)
    action: Mapped[str] = mapped_column(String(80))
    object_type: Mapped[str | None] = mapped_column(String(60))
    object_id: Mapped[str | None] = mapped_column(String(60))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    ip: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=_now, index=True)


class AIContextRule(Base):
    """How the tutor may answer in a scope: global < subject < class < topic, then by priority."""

    __tablename__ = "ai_context_rules"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    scope: Mapped[str] = mapped_column(String(10), default="global")  # global | subject | class | topic
    subject: Mapped[str | None] = mapped_column(String(80))
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    pack: Mapped[str | None] = mapped_column(String(80))
    topic: Mapped[str | None] = mapped_column(String(80))
    constraints: Mapped[dict[str, Any]] = mapped_column(default=dict)  # max_tokens, temperature, allowed_modes
    knowledge_source: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prompt_template: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class AdminSession(Base):
    """A server-side admin session; the cookie holds a random token, this row its hash."""

    __tablename__ = "admin_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie token
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    expires_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    last_used_at: Mapped[datetime | None]


class ProviderEvent(Base):
    """Provider callbacks that are not messages (delivery receipts, USSD session ends, opt-outs)."""

    __tablename__ = "provider_events"
    __table_args__ = (UniqueConstraint("provider", "kind", "dedupe_key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))  # status | ussd_end | optout
    dedupe_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=_now)


ALL_MODELS = [
    School, SchoolClass, Contact, Student, StaffUser, ClassTeacher, Enrolment, CurriculumPack,
    CurriculumTopic, Skill, Chunk, ConversationState, Message, LessonProgress, SkillMastery,
    PracticeAttempt, Broadcast, BroadcastRecipient, AuditLog, AIContextRule, AdminSession, ApiToken,
    ProviderEvent,
]
