"""Reminders, weekly digests and parent SMS: sent when due, at most once per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from conversation.teachers.digest import tick
from core import clock
from core.models import Contact, Message, School, SkillMastery
from tests import factories

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(rt):
    clock.freeze(NOW)
    with rt.session() as s:
        school = factories.school(s, name="Mbita")
        klass = factories.school_class(s, school=school, name="7C")
        quiet = factories.student(s, phone="+254711000301", name="Quiet", klass=klass)
        quiet.last_active_at = NOW - timedelta(days=5)
        busy = factories.student(s, phone="+254711000302", name="Busy", klass=klass, language="sw")
        busy.last_active_at = NOW - timedelta(hours=3)
        busy.parent_phone = "+254733000302"
        busy.streak_days = 4
        gone = factories.student(s, phone="+254711000303", name="Gone", klass=klass)
        gone.last_active_at = NOW - timedelta(days=9)
        s.get(Contact, gone.contact_id).opted_out = True
        s.add(SkillMastery(student_id=busy.id, pack="p", topic="fractions", skill="f", p_known=0.97))
        s.add(SkillMastery(student_id=quiet.id, pack="p", topic="fractions", skill="f", p_known=0.2))
        factories.staff(s, school=school, phone="+254722000301", classes=[klass])
    return rt


def _to(rt, phone):
    with rt.session() as s:
        return [m.text for m in s.scalars(select(Message).where(Message.phone == phone, Message.direction == "out"))]


def test_reminders_go_to_inactive_students_once_per_period(world):
    rt = world
    assert tick()["reminders"] == 1
    assert len(_to(rt, "+254711000301")) == 1 and "we miss you" in _to(rt, "+254711000301")[0]
    assert _to(rt, "+254711000302") == []  # active today
    assert _to(rt, "+254711000303") == []  # opted out
    clock.freeze(NOW + timedelta(days=1))
    assert tick()["reminders"] == 0  # already reminded this period
    clock.freeze(NOW + timedelta(days=4))
    assert tick()["reminders"] == 2  # a new period: Quiet again, and Busy has gone quiet too
    assert len(_to(rt, "+254711000301")) == 2 and len(_to(rt, "+254711000302")) == 1


def test_weekly_digest_for_each_teacher_once_a_week(world):
    rt = world
    assert tick()["digests"] == 1
    [digest] = _to(rt, "+254722000301")
    # Quiet (5 days ago) and Busy were active within the week; Gone was not.
    assert digest.startswith("7C: 2 of 3 students active this week.")
    assert "fractions 58%" in digest and "Topics mastered: 1." in digest
    behind = digest.split("Falling behind: ")[1].rstrip(".").split(", ")
    assert sorted(behind) == ["Gone", "Quiet"]  # inactive for a week / mastery below 40%
    clock.freeze(NOW + timedelta(days=6))
    assert tick()["digests"] == 0
    clock.freeze(NOW + timedelta(days=7, hours=1))
    assert tick()["digests"] == 1


def test_parent_sms_only_when_the_school_switched_it_on(world):
    rt = world
    assert tick()["parents"] == 0
    with rt.session() as s:
        s.scalar(select(School)).parent_weekly_sms = True
    assert tick()["parents"] == 1
    assert _to(rt, "+254733000302") == ["Busy alijifunza kwenye Somo wiki hii. Mfululizo: siku 4."]
    assert tick()["parents"] == 0


def test_somo_tick_cli(world, capsys):
    from gateway.cli import main

    assert main(["tick"]) == 0
    out = capsys.readouterr().out
    assert "1 reminders" in out and "1 digests" in out and "0 parents" in out
