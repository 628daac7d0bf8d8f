"""Teach: strict order, no skipping, resume on the same step, stored progress.

Step by step, as USSD and WhatsApp show it; over SMS the steps flow together into fewer,
fuller messages (tests/modes/test_teach_sms.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models import LessonProgress, PracticeAttempt, SkillMastery, Student


def _progress(rt, student_id, mode="teach", topic="fractions-add"):
    with rt.session() as s:
        return s.scalar(select(LessonProgress).where(LessonProgress.student_id == student_id,
                                                     LessonProgress.topic == topic, LessonProgress.mode == mode))


STEPWISE = pytest.mark.parametrize("channel", ["ussd", "whatsapp"])


@STEPWISE
def test_full_lesson_in_order_and_progress_stored(rt, drive, student_id, channel):
    d = drive("teach", channel=channel)
    r = d.start()
    assert "Step 1/6" in r.reply.text and "Adding fractions" in r.reply.text
    assert [o.key for o in r.reply.options] == ["1"]
    assert r.progress_label == "Adding fractions, step 1 of 6"
    assert "Step 2/6" in d.say("NEXT").reply.text
    assert "Step 3/6" in d.say("1").reply.text
    r = d.say("next")
    assert "Step 4/6" in r.reply.text and "1/4 + 2/4" in r.reply.text and r.reply.expects_answer
    r = d.say("3/4")
    assert "Correct!" in r.reply.text and r.reply.options[0].key == "1"
    r = d.say("1")
    assert "Step 5/6" in r.reply.text and [o.label for o in r.reply.options] == ["2/6", "3/4", "1/8"]
    r = d.say("2")
    assert "Correct!" in r.reply.text
    r = d.say("NEXT")
    assert "Step 6/6" in r.reply.text and "Quiz: 1/1." in r.reply.text and r.done
    assert "mastered" in r.reply.text
    p = _progress(rt, student_id)
    assert (p.step, p.steps_total) == (6, 6) and p.completed_at is not None
    assert p.time_spent_s > 0 and 0 < p.mastery < 1
    with rt.session() as s:
        attempts = s.scalars(select(PracticeAttempt).order_by(PracticeAttempt.id)).all()
        assert [(a.mode, a.question_key, a.correct, a.qtype) for a in attempts] == [
            ("teach", "fractions-add:practice:0", True, "numeric"), ("teach", "fractions-add:quiz:0", True, "mcq")]
        assert s.scalar(select(SkillMastery.p_known).where(SkillMastery.skill == "fractions-add-like")) > 0.2
        assert s.get(Student, student_id).streak_days == 1


@STEPWISE
@pytest.mark.parametrize("skip", ["NEXT", "endelea", "ok"])
def test_skipping_a_question_is_refused(drive, skip, channel):
    d = drive("teach", channel=channel)
    d.start()
    for _ in range(3):
        d.say("NEXT")
    r = d.say(skip)
    assert "Answer the question first" in r.reply.text and "Step 4/6" in r.reply.text
    assert d.data["step"] == 3 and not d.data["answered"]


@STEPWISE
def test_info_step_needs_next(drive, channel):
    d = drive("teach", channel=channel)
    d.start()
    r = d.say("what is a fraction?")
    assert "Reply 1 or NEXT to go on." in r.reply.text and "Step 1/6" in r.reply.text
    assert d.data["step"] == 0


@STEPWISE
def test_practice_wrong_twice_then_answer_shown_and_hint_counted(rt, drive, student_id, channel):
    d = drive("teach", channel=channel)
    d.start()
    for _ in range(3):
        d.say("NEXT")
    r = d.say("HINT")
    assert "Hint: Add the numerators." in r.reply.text
    r = d.say("2/8")
    assert "Not quite. Try again." in r.reply.text and not d.data["answered"]
    r = d.say("5")
    assert "The answer is 3/4" in r.reply.text and d.data["answered"]
    with rt.session() as s:
        rows = s.scalars(select(PracticeAttempt).order_by(PracticeAttempt.id)).all()
        assert [(a.first_attempt, a.correct, a.hint_count) for a in rows] == [(True, False, 1), (False, False, 1)]
        sm = s.scalar(select(SkillMastery))
        assert sm.attempts == 1 and sm.p_known < 0.2 + 0.15  # one (wrong) BKT update only


@STEPWISE
def test_resume_shows_same_step_after_dropped_session(drive, channel):
    d = drive("teach", channel=channel)
    d.start()
    d.say("NEXT")
    d.say("NEXT")
    saved = dict(d.data)
    again = drive("teach", data=saved, channel=channel)
    r = again.resume()
    assert "Step 3/6" in r.reply.text and "Amina eats 1/5" in r.reply.text


@STEPWISE
def test_kiswahili_lesson(drive, channel):
    d = drive("teach", channel=channel, lang="sw")
    r = d.start()
    assert "Kujumlisha sehemu" in r.reply.text and "Hatua 1/6" in r.reply.text
    assert r.reply.options[0].label == "Endelea"
    d.say("ENDELEA")
    d.say("endelea")
    r = d.say("1")
    assert "1/4 + 2/4 ni ngapi?" in r.reply.text
    r = d.say("robo tatu")
    assert "Sahihi!" in r.reply.text


def test_unknown_topic_is_a_clear_error(drive):
    from modes.common import ModeError

    with pytest.raises(ModeError, match="topic 'nope' is not in pack 'mini-math'"):
        drive("teach", topic_id="nope").start()
