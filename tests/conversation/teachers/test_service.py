"""Teacher commands over messaging, through the console path as a teacher's phone sends them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.models import (
    AuditLog,
    Broadcast,
    BroadcastRecipient,
    Contact,
    LessonProgress,
    Message,
    SchoolClass,
)
from tests import factories
from tests.conftest import installed_runtime
from tests.conversation.helpers import Phone, load_pack

TEACHER = "+254722000111"
OTHER_TEACHER = "+254722000222"


@pytest.fixture
def rt(db_url, tmp_path):
    with installed_runtime(db_url, tmp_path, rate_limit_per_minute=0, broadcast_confirm_over=3) as runtime:
        yield runtime


@pytest.fixture
def school(rt):
    load_pack(rt)
    with rt.session() as s:
        school = factories.school(s, name="Kilimani")
        six_b = factories.school_class(s, school=school, name="6B", pack="mini-math", keyword="SITA")
        seven_a = factories.school_class(s, school=school, name="7A", pack="mini-math")
        phones = []
        for i in range(3):
            st = factories.student(s, phone=f"+25471100010{i}", name=f"Pupil{i}", klass=six_b)
            phones.append(s.get(Contact, st.contact_id).phone)
        opted = factories.student(s, phone="+254711000199", name="Gone", klass=six_b)
        s.get(Contact, opted.contact_id).opted_out = True
        factories.student(s, phone="+254711000200", name="Other", klass=seven_a)
        factories.staff(s, school=school, phone=TEACHER, classes=[six_b])
        factories.staff(s, school=school, phone=OTHER_TEACHER, classes=[seven_a])
    return {"phones": phones}


def _count(rt, model, *where):
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _texts_to(rt, phone):
    with rt.session() as s:
        return [m.text for m in s.scalars(select(Message).where(Message.phone == phone, Message.direction == "out")
                                          .order_by(Message.id))]


def _last(rt, phone, since: int) -> str:
    """Everything sent to `phone` after the first `since` messages (a reply may be several SMS)."""
    return "\n".join(_texts_to(rt, phone)[since:])


def _sizes(rt, phones) -> dict[str, int]:
    return {p: len(_texts_to(rt, p)) for p in phones}


def test_broadcast_reaches_each_enrolled_student_once_and_not_the_opted_out(rt, school):
    teacher = Phone(rt, TEACHER)
    answer = teacher.send("BROADCAST 6B Test on Friday, bring a ruler")
    assert "Sending to 3 students in 6B." in answer
    for phone in school["phones"]:
        assert _texts_to(rt, phone) == ["6B: Test on Friday, bring a ruler"]
    assert _texts_to(rt, "+254711000199") == []  # opted out
    assert _texts_to(rt, "+254711000200") == []  # another class
    with rt.session() as s:
        b = s.scalar(select(Broadcast))
        assert (b.status, b.total, b.delivered, b.failed) == ("settled", 3, 3, 0)
    summary = _texts_to(rt, TEACHER)[-1]
    assert summary == "Broadcast to 6B: delivered 3 of 3; 0 failed."
    assert _count(rt, AuditLog, AuditLog.action == "message.send") == 1


def test_big_broadcast_waits_for_yes_and_no_cancels(rt, school):
    with rt.session() as s:
        klass = s.scalar(select(SchoolClass).where(SchoolClass.name == "6B"))
        factories.student(s, phone="+254711000150", name="Fourth", klass=klass)
    teacher = Phone(rt, TEACHER)
    assert "Send to 4 students in 6B? Reply YES or NO." in teacher.send("broadcast 6b Holiday homework")
    assert _count(rt, Message, Message.broadcast_id.is_not(None)) == 0
    assert "Sending now." in teacher.send("yes")
    assert _count(rt, BroadcastRecipient) == 4
    assert "Send to 4 students" in teacher.send("TANGAZA SITA Kesho hakuna shule")
    assert "Cancelled" in teacher.send("hapana")
    assert _count(rt, BroadcastRecipient) == 4
    assert "nothing waiting" in teacher.send("YES")


def test_a_teacher_cannot_command_another_teachers_class(rt, school):
    answer = Phone(rt, TEACHER).send("BROADCAST 7A hello")
    assert "Unknown class 7A" in answer and "6B" in answer
    assert _count(rt, Broadcast) == 0
    assert "Unknown class" in Phone(rt, OTHER_TEACHER).send("NEXT 6B")


def test_a_student_cannot_use_teacher_commands(rt, school):
    pupil = Phone(rt, school["phones"][0])
    pupil.send("BROADCAST 6B no school tomorrow")
    pupil.send("NEXT 6B")
    assert _count(rt, Broadcast) == 0
    assert all("no school tomorrow" not in t for p in school["phones"][1:] for t in _texts_to(rt, p))


def test_lesson_then_next_moves_every_active_student_of_the_class(rt, school):
    teacher = Phone(rt, TEACHER)
    phones = school["phones"]  # over SMS: a class lesson goes step by step (a student's own one flows)
    assert "Sending to 3 students in 6B." in teacher.send("LESSON 6B fractions-add")
    for phone in phones:
        first = _last(rt, phone, 0)
        assert "Step 1/6" in first and "Step 2/6" not in first  # the teacher sets the pace, not the flow
    with rt.session() as s:
        steps = s.scalars(select(LessonProgress.step).where(LessonProgress.topic == "fractions-add")).all()
    assert sorted(steps) == [1, 1, 1]
    before = _sizes(rt, phones)
    assert "Moving 3 students of 6B to the next step." in teacher.send("NEXT 6B")
    for phone in phones:
        assert "Step 2/6" in _last(rt, phone, before[phone])
    with rt.session() as s:
        steps = s.scalars(select(LessonProgress.step).where(LessonProgress.topic == "fractions-add")).all()
    assert sorted(steps) == [2, 2, 2]
    # A student who left for the menu is not dragged along.
    Phone(rt, phones[0]).send("MENU")
    before = _sizes(rt, phones)
    teacher.send("REPEAT 6B")
    assert "Step 2/6" in _last(rt, phones[1], before[phones[1]])
    assert _last(rt, phones[0], before[phones[0]]) == ""
    # A student's own NEXT in the class lesson moves one step too, not to the question.
    before = _sizes(rt, phones)
    Phone(rt, phones[1]).send("1")
    own = _last(rt, phones[1], before[phones[1]])
    assert "Step 3/6" in own and "Step 4/6" not in own


def test_next_waits_for_an_unanswered_question_but_skip_does_not(rt, school):
    teacher = Phone(rt, TEACHER)
    pupil = school["phones"][0]
    teacher.send("LESSON 6B fractions-add")
    teacher.send("NEXT 6B")  # explanation
    teacher.send("NEXT 6B")  # example
    n = len(_texts_to(rt, pupil))
    teacher.send("NEXT 6B")  # practice: a question
    assert "Step 4/6" in _last(rt, pupil, n)
    n = len(_texts_to(rt, pupil))
    teacher.send("NEXT 6B")  # nobody answered: they are nudged, not moved
    nudge = _last(rt, pupil, n)
    assert "Answer this question to catch up" in nudge and "Step 4/6" in nudge
    n = len(_texts_to(rt, pupil))
    assert "Skipping the step for 3 students" in teacher.send("SKIP 6B")
    moved = _last(rt, pupil, n)
    assert "Step 5/6" in moved or "(2/" in moved  # the next step, or the practice step's next question


def test_pause_holds_pacing_and_resume_releases(rt, school):
    teacher = Phone(rt, TEACHER)
    teacher.send("LESSON 6B fractions-add")
    assert "6B is paused" in teacher.send("PAUSE 6B")
    assert "paused" in teacher.send("NEXT 6B")
    assert "continues" in teacher.send("RESUME 6B")
    assert "Moving 3 students" in teacher.send("NEXT 6B")


def test_results_and_help(rt, school):
    teacher = Phone(rt, TEACHER)
    results = teacher.send("RESULTS 6B")
    assert results.startswith("6B: 0 of 4 students active this week.")  # the opted-out pupil is still enrolled
    assert "Falling behind:" in results
    assert "LESSON 6B <topic>" in teacher.send("HELP")
    assert "did not understand" in teacher.send("what is going on")


def test_teacher_can_still_opt_out(rt, school):
    teacher = Phone(rt, TEACHER)
    teacher.send("STOP")
    with rt.session() as s:
        assert s.scalar(select(Contact).where(Contact.phone == TEACHER)).opted_out


def test_a_lesson_can_be_scheduled_for_a_time(rt_redis):
    """'at 07:30' schedules for the next 07:30 in the school's time zone, on the rq scheduler."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from rq.registry import ScheduledJobRegistry

    from core import clock

    rt = rt_redis
    clock.freeze(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))  # 13:00 in Nairobi
    load_pack(rt)
    with rt.session() as s:
        school = factories.school(s, name="Scheduled")
        klass = factories.school_class(s, school=school, name="6B", pack="mini-math")
        factories.student(s, phone="+254711000500", klass=klass)
        factories.staff(s, school=school, phone=TEACHER, classes=[klass])
    answer = Phone(rt, TEACHER).send("LESSON 6B fractions-add at 07:30")
    assert "Scheduled for 1 students in 6B." in answer
    with rt.session() as s:
        b = s.scalar(select(Broadcast))
        assert b.status == "scheduled" and b.kind == "lesson" and b.topic == "fractions-add"
        local = b.scheduled_at.astimezone(ZoneInfo("Africa/Nairobi"))
        assert (local.day, local.hour, local.minute) == (24, 7, 30)  # tomorrow morning
    jobs = ScheduledJobRegistry(queue=rt.queue.rq_queue("broadcast")).get_job_ids()
    assert f"broadcast-{b.id}" in jobs
    assert _count(rt, Message, Message.broadcast_id == b.id) == 0  # nothing sent yet
