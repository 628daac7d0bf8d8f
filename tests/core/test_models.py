"""Every model round-trips on SQLite and PostgreSQL, and migrations match the models."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.db import make_engine, session_factory
from core.migrate import alembic_config
from core.models import (
    ALL_MODELS,
    AdminSession,
    AIContextRule,
    ApiToken,
    AuditLog,
    Base,
    Broadcast,
    BroadcastRecipient,
    Chunk,
    ClassTeacher,
    Contact,
    ConversationState,
    CurriculumPack,
    CurriculumTopic,
    Enrolment,
    LessonProgress,
    Message,
    PracticeAttempt,
    ProviderEvent,
    School,
    SchoolClass,
    Skill,
    SkillMastery,
    StaffUser,
    Student,
)
from tests.conftest import make_runtime

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def _graph(s):
    school = School(name="Kilimani", country="KE", created_at=WHEN)
    s.add(school)
    s.flush()
    klass = SchoolClass(school_id=school.id, name="6B", grade=6, keyword="SIXB", number="+254700999000",
                        join_code="ABC123", pack="ke-cbc-g6-math")
    contact = Contact(phone="+254712345678", country="KE", channels_seen=["sms", "ussd"], opted_out=True,
                      opted_out_at=WHEN, last_inbound_whatsapp_at=WHEN)
    s.add_all([klass, contact])
    s.flush()
    student = Student(contact_id=contact.id, school_id=school.id, name="Amina Wanjiru", language="sw",
                      preferred_channel="whatsapp", streak_days=3, streak_last_day=date(2026, 3, 4))
    sibling = Student(contact_id=contact.id, school_id=school.id, name="Baraka", language="en", pin_hash="x")
    teacher = StaffUser(email="t@example.org", name="Mwalimu", role="teacher", school_id=school.id,
                        phone="+254722000111", locked_until=WHEN)
    s.add_all([student, sibling, teacher])
    s.flush()
    pack = CurriculumPack(pack="ke-cbc-g6-math", curriculum="KE-CBC", country="KE", subject="Mathematics", grade=6,
                          languages=["en", "sw"], version=3, content={"topics": [{"id": "fractions-add"}]})
    s.add(pack)
    s.flush()
    topic = CurriculumTopic(pack_id=pack.id, topic="fractions-add", title={"en": "Adding fractions"})
    s.add(topic)
    s.flush()
    broadcast = Broadcast(school_id=school.id, class_id=klass.id, created_by_id=teacher.id, text="Kesho mtihani",
                          scheduled_at=WHEN, total=2)
    s.add(broadcast)
    s.flush()
    msg = Message(direction="out", channel="sms", provider="africastalking", provider_message_id="ATXid_1",
                  contact_id=contact.id, student_id=student.id, phone=contact.phone, text="Habari “Amina”",
                  segments=1, encoding="ucs2", status="sent", broadcast_id=broadcast.id, payload={"a": [1, 2]},
                  sent_at=WHEN)
    s.add_all([
        ClassTeacher(class_id=klass.id, staff_user_id=teacher.id),
        Enrolment(student_id=student.id, class_id=klass.id),
        Skill(topic_id=topic.id, skill="fractions-add-like", p_init=0.2, p_guess=0.2),
        Chunk(pack_id=pack.id, pack=pack.pack, curriculum="KE-CBC", country="KE", subject="Mathematics", grade=6,
              topic="fractions-add", language="en", section="reference", text="A fraction has...",
              token_count=4, sparse={"indices": [1, 5], "values": [1.0, 2.0]}, dense=[0.1, 0.2]),
        ConversationState(student_id=student.id, state="teach", mode="teach", pack=pack.pack, topic="fractions-add",
                          step=3, data={"answered": True, "nested": {"k": [1]}}),
        msg,
        LessonProgress(student_id=student.id, pack=pack.pack, topic="fractions-add", mode="teach", step=3,
                       steps_total=6, mastery=0.72, time_spent_s=300),
        SkillMastery(student_id=student.id, pack=pack.pack, topic="fractions-add", skill="fractions-add-like",
                     p_known=0.42, attempts=3, correct=2),
        PracticeAttempt(student_id=student.id, pack=pack.pack, topic="fractions-add", skill="fractions-add-like",
                        question_key="q1", question="1/4+2/4?", qtype="numeric", difficulty=1, answer_given="3/4",
                        correct_answer="3/4", correct=True, feedback="Yes", hint_count=1, time_spent_ms=5000),
        AuditLog(actor="admin@example.org", action="student.update", object_type="student",
                 object_id=str(student.id), before={"name": "A"}, after={"name": "Amina"}, at=WHEN),
        AIContextRule(name="short", scope="topic", pack=pack.pack, topic="fractions-add",
                      constraints={"max_tokens": 120, "temperature": 0.2, "allowed_modes": ["explore"]},
                      knowledge_source={"sections": ["reference"]}, prompt_template="Be brief.", priority=5),
        AdminSession(id="h" * 64, staff_user_id=teacher.id, csrf_token="c" * 32, expires_at=WHEN),
        ApiToken(name="sis", token_hash="t" * 64, staff_user_id=teacher.id),
        ProviderEvent(provider="africastalking", kind="status", dedupe_key="ATXid_1:Success", payload={"x": 1}),
    ])
    s.flush()
    s.add(BroadcastRecipient(broadcast_id=broadcast.id, student_id=student.id, message_id=msg.id, channel="sms",
                             status="delivered"))
    contact.active_student_id = student.id
    return school


def test_every_model_round_trips(any_db_url, tmp_path):
    rt = make_runtime(any_db_url, tmp_path=tmp_path)
    with rt.session() as s:
        _graph(s)
    # A fresh session reads everything back from the database.
    with rt.session() as s:
        counts = {m.__name__: len(s.scalars(select(m)).all()) for m in ALL_MODELS}
        assert all(n >= 1 for n in counts.values()), counts
        contact = s.scalar(select(Contact))
        assert contact.opted_out_at == WHEN and contact.opted_out_at.tzinfo is not None
        assert contact.last_inbound_at("whatsapp") == WHEN
        assert contact.channels_seen == ["sms", "ussd"]
        assert {st.name for st in contact.students} == {"Amina Wanjiru", "Baraka"}
        state = s.scalar(select(ConversationState))
        assert state.data == {"answered": True, "nested": {"k": [1]}} and state.step == 3
        msg = s.scalar(select(Message))
        assert msg.text == "Habari “Amina”" and msg.payload == {"a": [1, 2]} and msg.sent_at == WHEN
        rule = s.scalar(select(AIContextRule))
        assert rule.constraints["allowed_modes"] == ["explore"]
        chunk = s.scalar(select(Chunk))
        assert chunk.sparse["values"] == [1.0, 2.0] and chunk.dense == [0.1, 0.2]
        student = s.scalar(select(Student).where(Student.name == "Amina Wanjiru"))
        assert student.streak_last_day == date(2026, 3, 4)
        assert [e.school_class.name for e in student.enrolments] == ["6B"]
    rt.close()


def test_provider_message_id_is_unique_per_provider(any_db_url, tmp_path):
    rt = make_runtime(any_db_url, tmp_path=tmp_path)
    with rt.session() as s:
        for provider in ("africastalking", "twilio"):
            s.add(Message(direction="in", channel="sms", provider=provider, provider_message_id="same",
                          phone="+254712345678", status="received"))
    with pytest.raises(IntegrityError), rt.session() as s:
        s.add(Message(direction="in", channel="sms", provider="twilio", provider_message_id="same",
                      phone="+254712345678", status="received"))
    rt.close()


def test_migrations_match_models_on_postgresql(pg_url):
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == [], f"models changed without a migration: {diff}"


def test_migrations_match_models_on_sqlite(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models changed without a migration: {diff}"


def test_one_migration_head():
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"


def test_upgrade_from_empty_postgresql_creates_every_table(pg_url):
    engine = make_engine(pg_url)
    from sqlalchemy import inspect

    names = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {t.name for t in Base.metadata.sorted_tables} <= names
    assert "alembic_version" in names


def test_session_factory_does_not_expire_on_commit(sqlite_url):
    engine = make_engine(sqlite_url)
    with session_factory(engine)() as s:
        assert s.expire_on_commit is False
    engine.dispose()
