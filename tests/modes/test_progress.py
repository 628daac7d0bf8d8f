"""Streaks and the one motivation line per mode run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.models import Student
from modes.progress import touch_streak


def test_streak_counts_consecutive_days_and_restarts_after_a_gap():
    s = Student(streak_days=0, streak_last_day=None)
    assert touch_streak(s, datetime(2025, 3, 1, 9, tzinfo=UTC)) == 1
    assert touch_streak(s, datetime(2025, 3, 1, 20, tzinfo=UTC)) == 1
    assert touch_streak(s, datetime(2025, 3, 2, 7, tzinfo=UTC)) == 2
    assert touch_streak(s, datetime(2025, 3, 3, 7, tzinfo=UTC)) == 3
    assert touch_streak(s, datetime(2025, 3, 6, 7, tzinfo=UTC)) == 1 and s.streak_last_day == date(2025, 3, 6)


def _lesson(d):
    d.start()
    for text in ["NEXT", "NEXT", "NEXT", "3/4", "NEXT", "2", "NEXT"]:
        r = d.say(text)
    return r


def test_one_motivation_line_at_the_end_of_a_lesson_then_a_streak(drive):
    r = _lesson(drive("teach", channel="whatsapp", now=datetime(2025, 3, 3, 8, tzinfo=UTC)))
    lines = r.reply.text.splitlines()
    motivation = [x for x in lines if "topics." in x or "streak" in x]
    assert motivation == ["You've mastered 0 of 2 topics."]
    r = _lesson(drive("teach", channel="whatsapp", topic_id="fractions-add", now=datetime(2025, 3, 4, 8, tzinfo=UTC)))
    assert [x for x in r.reply.text.splitlines() if "streak" in x or "topics." in x] == ["2-day streak! Keep it up."]


def test_motivation_in_kiswahili(drive):
    d = drive("teach", lang="sw", channel="whatsapp")  # step by step (SMS: tests/modes/test_teach_sms.py)
    d.start()
    for text in ["ENDELEA", "ENDELEA", "ENDELEA", "robo tatu", "ENDELEA", "b", "ENDELEA"]:
        r = d.say(text)
    assert "Umemudu mada 0 kati ya 2." in r.reply.text and "Hatua 6/6" in r.reply.text
    assert d.data["motivated"] is True
    assert d.resume().reply.text.count("Umemudu mada") == 0  # shown once per run, not again on resume


def test_streak_stored_on_the_student(rt, drive, student_id):
    _lesson(drive("teach", channel="whatsapp", now=datetime(2025, 3, 3, 8, tzinfo=UTC)))
    _lesson(drive("teach", channel="whatsapp", now=datetime(2025, 3, 4, 8, tzinfo=UTC)))
    with rt.session() as s:
        st = s.get(Student, student_id)
        assert (st.streak_days, st.streak_last_day) == (2, date(2025, 3, 4))


T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)


@pytest.fixture(params=["pg_url", "sqlite_url"])
def learner(request, tmp_path):
    """(runtime, every statement it sends, a learner's id, the database's name), on each database."""
    from sqlalchemy import event

    from tests import factories
    from tests.conftest import make_runtime

    rt = make_runtime(request.getfixturevalue(request.param), tmp_path=tmp_path)
    seen: list[str] = []
    event.listen(rt.engine, "before_cursor_execute", lambda _c, _cur, statement, *_: seen.append(statement))
    with rt.session() as s:
        sid = factories.student(s, phone="+254711000991").id
        s.commit()
    yield rt, seen, sid, request.param
    rt.close()


def _ctx(s, sid: int, pack: str, data: dict, minutes: int):
    from types import SimpleNamespace

    return SimpleNamespace(session=s, student=s.get(Student, sid), pack=SimpleNamespace(pack=pack), data=data,
                           now=T0 + timedelta(minutes=minutes))


def test_a_lesson_start_is_one_upsert_and_a_restart_resets_the_kept_row(learner):
    """Starting a lesson writes its progress row in one statement, whether the row is new or
    there from an earlier run (then step, start and completion are reset, the time spent
    keeps growing); the steps between are UPDATEs of the same row."""
    from sqlalchemy import select

    from core.models import LessonProgress
    from modes.progress import save_progress

    rt, seen, sid, _db = learner
    data: dict = {}

    def turn(minutes: int, **kw) -> int:
        with rt.session() as s:
            ctx = _ctx(s, sid, "mini-math", data, minutes)
            seen.clear()
            row_id = save_progress(ctx, "fractions-add", "teach", steps_total=6, **kw)
            writes = [q for q in seen if "lesson_progress" in q]
            s.commit()
        assert len(writes) == 1, writes
        return row_id

    first = turn(0, step=1, restart=True)  # no row yet: inserted
    assert turn(1, step=4, mastery_value=0.5) == first
    assert turn(2, step=6, completed=True) == first
    assert turn(4, step=1, restart=True) == first  # a new run of the same lesson: the same row
    with rt.session() as s:
        row = s.scalar(select(LessonProgress).where(LessonProgress.student_id == sid))
    assert (row.step, row.steps_total, row.completed_at) == (1, 6, None)
    assert row.started_at.replace(tzinfo=UTC) == T0 + timedelta(minutes=4)
    assert row.time_spent_s == 240 and row.mastery == 0.5


def test_a_step_writes_the_topics_mastery_with_its_progress(learner):
    """`save_progress_and_mastery` returns and stores what `topic_mastery` computes (the mean
    P(known) over the topic's skills, an unseen skill at its prior): on PostgreSQL in the
    progress UPDATE itself (no SELECT of skill_mastery), elsewhere by the SELECT first; and
    when no progress row is there yet, it is inserted with that mastery."""
    from sqlalchemy import select

    from core.models import LessonProgress
    from modes import mastery
    from modes.progress import save_progress_and_mastery
    from tests.conversation.helpers import load_pack

    rt, seen, sid, db = learner
    data: dict = {}
    pack = load_pack(rt)
    topic = next(t for t in pack.topics if len(t.skill_ids) > 1)

    def step(minutes: int, n: int, answers: list[bool]) -> tuple[float, float, list[str]]:
        with rt.session() as s:
            ctx = _ctx(s, sid, pack.pack, data, minutes)
            for correct in answers:  # first attempts at the topic's first skill
                mastery.record(s, student_id=sid, pack_id=pack.pack, topic_id=topic.id,
                               skill=topic.skill_ids[0], correct=correct, now=ctx.now)
            expected = mastery.topic_mastery(s, sid, pack.pack, topic.skill_ids)
            seen.clear()
            value = save_progress_and_mastery(ctx, topic, "practice", step=n, steps_total=10)
            statements = list(seen)
            s.commit()
        return value, expected, statements

    with rt.session() as s:
        priors = mastery.topic_priors(s, pack.pack, topic.skill_ids)
    first, expected, _ = step(0, 1, [])  # no row yet: the UPDATE finds none, then the insert
    assert first == pytest.approx(expected) == pytest.approx(sum(priors) / len(priors))
    value, expected, statements = step(1, 2, [True, True, False])
    assert value == pytest.approx(expected, abs=5e-5) and value != pytest.approx(first)
    reads = [q for q in statements if "skill_mastery" in q and q.lstrip().upper().startswith("SELECT")]
    writes = [q for q in statements if "lesson_progress" in q]
    assert len(writes) == 1, writes
    if db == "pg_url":
        assert reads == [] and "unnest" in writes[0]
    else:
        assert len(reads) == 1
    with rt.session() as s:
        row = s.scalar(select(LessonProgress).where(LessonProgress.student_id == sid))
    assert (row.step, row.mode, row.time_spent_s) == (2, "practice", 60)
    assert row.mastery == round(value, 4) and row.mastery == pytest.approx(expected, abs=5e-5)
