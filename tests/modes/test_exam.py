"""Exam prep: mixed questions weighted to the weakest skills, a score and topics to revisit."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select

from core.models import LessonProgress, PracticeAttempt, SkillMastery
from modes.selection import weighted_sample


def _answer(pack, d, right: bool) -> str:
    topic_id, idx = d.data["items"][d.data["i"]]
    q = pack.topic(topic_id).questions[idx]
    if q.choices:
        i = q.choices.index(q.answer) if right else next(i for i, c in enumerate(q.choices) if c != q.answer)
        return str(i + 1)
    return q.answer if right else "999"


def test_exam_scores_and_lists_topics_to_revisit(rt, drive, saved_pack, student_id):
    d = drive("exam")
    r = d.start()
    assert "Exam practice: 5 questions from Mathematics" in r.reply.text and "Question 1/5" in r.reply.text
    items = [tuple(x) for x in d.data["items"]]
    assert len(set(items)) == 5
    for n in range(5):
        r = d.say(_answer(saved_pack, d, n != 0))
    assert r.done and "Exam score: 4/5 (80%)." in r.reply.text
    first_topic = saved_pack.topic(items[0][0])
    assert f"Topics to revisit: {saved_pack.text(first_topic.title, 'en')}." in r.reply.text
    with rt.session() as s:
        rows = s.scalars(select(PracticeAttempt).where(PracticeAttempt.mode == "exam")).all()
        assert len(rows) == 5 and sum(r.correct for r in rows) == 4
        prog = s.scalar(select(LessonProgress).where(LessonProgress.mode == "exam"))
        assert prog.mastery == 0.8 and prog.completed_at is not None and prog.topic == "*"


def test_exam_in_kiswahili_has_no_hints(drive, saved_pack):
    d = drive("exam", lang="sw")
    r = d.start()
    assert "Mazoezi ya mtihani: maswali 5" in r.reply.text and r.reply.footer == ""
    r = d.say("dokezo")
    assert "Hakuna madokezo" in r.reply.text and d.data["i"] == 0


def test_exam_is_weighted_towards_weak_skills(rt, drive, saved_pack, student_id):
    with rt.session() as s:  # perimeter mastered, fractions weak
        s.add(SkillMastery(student_id=student_id, pack="mini-math", topic="perimeter", skill="perimeter",
                           p_known=0.99, attempts=10, correct=10))
    topics = Counter()
    for day in range(1, 21):
        d = drive("exam", now=datetime(2025, 3, day, 8, tzinfo=UTC))
        d.start()
        topics.update(t for t, _ in d.data["items"])
    assert topics["fractions-add"] > 3 * topics["perimeter"]


def test_weighted_sample_distinct_and_proportional():
    items = [("a", i) for i in range(4)]
    rng = random.Random(7)
    counts = Counter()
    for _ in range(2000):
        pick = weighted_sample(items, [10, 1, 1, 1], 1, rng)
        counts[pick[0][1]] += 1
    assert counts[0] > 1200
    assert sorted(weighted_sample(items, [1, 1, 1, 1], 10, rng)) == items
