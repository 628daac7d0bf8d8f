"""Privacy: one student's data exported and erased everywhere (PostgreSQL rows and the Redis
hot copy of the state; the curriculum index holds nothing about students), message text
purged after MESSAGE_RETENTION_DAYS with counts kept, and an audit log that only grows."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, or_, select, update

from conversation.store import key as state_key
from core import clock
from core.audit import AuditLogIsAppendOnly
from core.models import (
    AuditLog,
    Chunk,
    ConversationState,
    LessonProgress,
    Message,
    PracticeAttempt,
    SkillMastery,
    Student,
)
from core.retention import purge
from gateway.cli import main as somo
from tests.admin.conftest import client, signed_in, world  # noqa: F401 - the admin world of two schools


@pytest.fixture
def rt(rt_redis):
    """The admin world on PostgreSQL with Redis, so the hot state copy exists to be erased."""
    return rt_redis


def count(rt, model, *where) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_export_then_erase_leaves_nothing_of_the_student_anywhere(rt, world, client):  # noqa: F811
    a = world.a
    for text in ("MENU", "1"):
        assert client.post("/webhooks/console", json={"phone": a.phone, "text": text}).status_code == 200
    assert rt.redis.exists(state_key(a.student_id))  # the hot copy of the state is in Redis
    csrf = signed_in(client, a.admin_email)
    data = json.loads(client.get(f"/admin/students/{a.student_id}/export.json").text)
    assert data["conversation_state"] is not None and len(data["messages"]) >= 3
    assert {"attempts", "progress", "mastery", "enrolments", "contact"} <= set(data)

    res = client.post(f"/admin/students/{a.student_id}/erase", data={"csrf_token": csrf, "confirm": "ERASE"},
                      follow_redirects=False)
    assert res.status_code == 303
    sid = a.student_id
    for model in (Message, PracticeAttempt, LessonProgress, SkillMastery, ConversationState):
        assert count(rt, model, model.student_id == sid) == 0, model.__name__
    assert count(rt, Message, or_(Message.phone == a.phone, Message.text.contains("Student A"))) == 0
    assert count(rt, Student, Student.id == sid) == 0
    assert not rt.redis.exists(state_key(sid))  # not left in Redis for a week
    assert not [k for k in rt.redis.scan_iter() if str(sid).encode() in k and b"conv" in k]
    assert count(rt, Chunk, or_(Chunk.text.contains("Student A"), Chunk.text.contains(a.phone))) == 0  # no index entries
    assert count(rt, Student, Student.id == world.b.student_id) == 1  # the other school's student untouched
    assert count(rt, AuditLog, AuditLog.action == "student.erase") == 1  # the erasure is itself recorded


def test_retention_blanks_old_text_and_keeps_every_row(rt, world, capsys):  # noqa: F811
    old = clock.now() - timedelta(days=400)
    with rt.session() as s:
        s.execute(update(Message).where(Message.student_id == world.a.student_id).values(created_at=old))
        s.execute(update(PracticeAttempt).where(PracticeAttempt.student_id == world.a.student_id)
                  .values(created_at=old))
    rows_before, answers_before = count(rt, Message), count(rt, PracticeAttempt)

    assert somo(["retention", "--dry-run"]) == 0
    assert "would blank the text of 1 message(s) and 1 typed answer(s)" in capsys.readouterr().out
    assert count(rt, Message, Message.text == "hi from A") == 1  # a dry run changes nothing

    result = purge(rt)
    assert (result.messages, result.answers) == (1, 1)
    assert count(rt, Message) == rows_before and count(rt, PracticeAttempt) == answers_before  # counts kept
    assert count(rt, Message, Message.text == "hi from A") == 0
    assert count(rt, Message, Message.text == "hi from B") == 1  # recent text stays
    with rt.session() as s:
        attempt = s.scalar(select(PracticeAttempt).where(PracticeAttempt.student_id == world.a.student_id))
        assert attempt.answer_given == "" and attempt.correct is True  # the figure stays, the words go
        audit = s.scalar(select(AuditLog).where(AuditLog.action == "retention.purge"))
        assert audit.after["messages"] == 1 and audit.actor == "system"
    assert purge(rt).messages == 0  # idempotent
    assert purge(rt, days=0) is None  # 0 switches retention off
    assert somo(["retention", "--days", "0"]) == 2
    assert "--days: 0" in capsys.readouterr().err


def test_the_audit_log_only_grows(rt):
    with rt.session() as s:
        s.add(AuditLog(actor="system", action="test.append"))
    with pytest.raises(AuditLogIsAppendOnly), rt.session() as s:
        s.scalar(select(AuditLog)).action = "test.rewritten"
    with pytest.raises(AuditLogIsAppendOnly), rt.session() as s:
        s.delete(s.scalar(select(AuditLog)))
    with pytest.raises(AuditLogIsAppendOnly), rt.session() as s:
        s.execute(update(AuditLog).values(actor="someone else"))
    with pytest.raises(AuditLogIsAppendOnly), rt.session() as s:
        s.execute(delete(AuditLog))
    with rt.session() as s:
        (row,) = s.scalars(select(AuditLog)).all()
        assert (row.actor, row.action) == ("system", "test.append")
