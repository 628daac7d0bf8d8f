"""Practice: adaptive difficulty at the 80% / 50% thresholds, hints, no repeats, stored attempts."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from core.models import LessonProgress, PracticeAttempt, SkillMastery
from modes.selection import next_level, pick_question
from rag.schema import question_key


@pytest.mark.parametrize("level,recent,expected", [
    (1, [True, True], 1),                       # too few to judge
    (1, [True, True, True], 2),                 # 100% > 80%: harder
    (1, [True, True, True, True, False], 1),    # exactly 80%: not above, stays
    (2, [True] * 5, 3),
    (3, [True] * 5, 3),                         # already hardest
    (2, [True, False, True, False], 2),         # exactly 50%: not below, stays
    (2, [True, False, False], 1),               # 33% < 50%: easier
    (2, [True, True, False, False, False], 1),  # 40%
    (1, [False] * 5, 1),                        # already easiest
    (2, [False, False, True, True, True, True, True], 3),  # only the last five count
])
def test_next_level_thresholds(level, recent, expected):
    assert next_level(level, recent) == expected


def _answer_for(pack, d, right: bool) -> str:
    topic = pack.topic(d.topic_id)
    q = topic.questions[d.data["current"]["i"]]
    if q.choices:
        idx = q.choices.index(q.answer) if right else next(i for i, c in enumerate(q.choices) if c != q.answer)
        return str(idx + 1)
    return q.answer if right else "999"


def _current_difficulty(pack, d) -> int:
    return pack.topic(d.topic_id).questions[d.data["current"]["i"]].difficulty


def test_difficulty_rises_after_three_right_and_falls_after_wrong(drive, saved_pack):
    d = drive("practice")
    r = d.start()
    assert "Question 1/10, level 1" in r.reply.text
    assert _current_difficulty(saved_pack, d) == 1
    for _ in range(3):
        d.say(_answer_for(saved_pack, d, True))
    assert d.data["level"] == 2 and _current_difficulty(saved_pack, d) == 2
    assert "level 2" in d.text
    for _ in range(3):
        d.say(_answer_for(saved_pack, d, False))
    assert d.data["level"] == 1


def test_round_with_feedback_mastery_and_no_repeats(rt, drive, saved_pack, student_id):
    d = drive("practice", topic_id="perimeter")
    d.start()
    seen = []
    for n in range(10):
        seen.append(d.data["current"]["key"])
        r = d.say(_answer_for(saved_pack, d, n % 3 != 0))
        assert "Perimeter:" in r.reply.text and "% mastered" in r.reply.text
    assert r.done and "Round done: 6/10 right." in r.reply.text
    assert len(set(seen)) == 10  # the whole bank before any repeat
    d2 = drive("practice", topic_id="perimeter")
    d2.start()
    assert d2.data["current"]["key"] != seen[-1]
    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(PracticeAttempt)) == 10
        row = s.scalar(select(PracticeAttempt).where(PracticeAttempt.question_key == seen[1]))
        assert row.mode == "practice" and row.feedback and row.time_spent_ms == 20_000 and row.correct
        prog = s.scalar(select(LessonProgress).where(LessonProgress.mode == "practice"))
        assert prog.steps_total == 10 and prog.mastery > 0


def test_mastery_shown_rises_then_falls(drive, saved_pack):
    d = drive("practice")
    d.start()

    def shown() -> int:
        import re
        return int(re.search(r"Adding fractions: (\d+)% mastered", d.text).group(1))

    d.say(_answer_for(saved_pack, d, True))
    first = shown()
    d.say(_answer_for(saved_pack, d, True))
    assert shown() > first
    high = shown()
    d.say(_answer_for(saved_pack, d, False))
    assert shown() < high


def test_hint_counts_and_is_a_wrong_first_attempt_for_mastery(rt, drive, saved_pack):
    d = drive("practice")
    d.start()
    r = d.say("hint")
    assert "Hint:" in r.reply.text
    d.say(_answer_for(saved_pack, d, True))
    with rt.session() as s:
        row = s.scalar(select(PracticeAttempt))
        assert row.correct and row.hint_count == 1
        assert s.scalar(select(SkillMastery.p_known)) < 0.2  # fell, as a wrong first attempt would
    assert d.data["recent"] == [False]


def test_pick_question_prefers_level_and_fresh():
    from rag.schema import BankQuestion

    bank = [BankQuestion(question="q", answer="1", difficulty=lvl) for lvl in (1, 1, 2, 3)]
    keys = [question_key("t", "bank", i) for i in range(4)]
    rng = random.Random(1)
    assert pick_question(bank, keys, {}, 3, rng) == 3
    assert pick_question(bank, keys, {keys[3]: 1}, 3, rng) == 2  # nearest level among the unasked
    assert pick_question(bank, keys, dict.fromkeys(keys, 1), 3, rng, avoid=keys[3]) == 2
    with pytest.raises(ValueError, match="empty"):
        pick_question([], [], {}, 1, rng)
