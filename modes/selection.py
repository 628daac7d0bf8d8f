"""Choosing the next question: adaptive difficulty for Practice, weakest-first for Exam prep.

Pure functions over plain data, so the thresholds are easy to test and to reason about.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import PracticeAttempt
from rag.schema import BankQuestion

RAISE_ABOVE = 0.8  # running accuracy above this: harder questions
LOWER_BELOW = 0.5  # below this: easier questions
WINDOW = 5  # the running accuracy looks at the last few first attempts at the current level
MIN_ATTEMPTS = 3  # and waits for a few before judging
LEVELS = (1, 2, 3)


def running_accuracy(recent: Sequence[bool]) -> float | None:
    window = list(recent)[-WINDOW:]
    if len(window) < MIN_ATTEMPTS:
        return None
    return sum(window) / len(window)


def next_level(level: int, recent: Sequence[bool]) -> int:
    """The difficulty for the next question: up above 80%, down below 50%, else the same."""
    acc = running_accuracy(recent)
    if acc is None:
        return level
    if acc > RAISE_ABOVE:
        return min(level + 1, LEVELS[-1])
    if acc < LOWER_BELOW:
        return max(level - 1, LEVELS[0])
    return level


def start_level(p_known: float) -> int:
    """Where a student starts: the mastery estimate says how hard to begin."""
    return 1 if p_known < 0.5 else 2 if p_known < 0.8 else 3


def asked_counts(session: Session, student_id: int, pack_id: str, topic_id: str, mode: str) -> dict[str, int]:
    """How often each question was put to the student in `mode` (one first attempt per asking)."""
    rows = session.execute(
        select(PracticeAttempt.question_key, func.count())
        .where(PracticeAttempt.student_id == student_id, PracticeAttempt.pack == pack_id,
               PracticeAttempt.topic == topic_id, PracticeAttempt.mode == mode, PracticeAttempt.first_attempt)
        .group_by(PracticeAttempt.question_key))
    return {key: n for key, n in rows}


def pick_question(bank: Sequence[BankQuestion], keys: Sequence[str], counts: dict[str, int], level: int,
                  rng: random.Random, avoid: str | None = None) -> int:
    """Index of the next question: never one asked more often than another (so nothing repeats
    until the bank is used up), nearest the wanted level, and not the one just asked."""
    if not bank:
        raise ValueError("the question bank is empty")
    fewest = min(counts.get(k, 0) for k in keys)
    fresh = [i for i, k in enumerate(keys) if counts.get(k, 0) == fewest]
    if len(fresh) > 1 and avoid in keys:
        fresh = [i for i in fresh if keys[i] != avoid] or fresh
    distance = min(abs(bank[i].difficulty - level) for i in fresh)
    return rng.choice([i for i in fresh if abs(bank[i].difficulty - level) == distance])


def weighted_sample(items: Sequence[tuple[str, int]], weights: Sequence[float], k: int,
                    rng: random.Random) -> list[tuple[str, int]]:
    """k distinct items, each draw proportional to its weight (weak skills weigh more)."""
    pool = list(zip(items, weights, strict=True))
    chosen: list[tuple[str, int]] = []
    while pool and len(chosen) < k:
        total = sum(w for _, w in pool)
        r = rng.uniform(0, total)
        acc = 0.0
        for j, (item, w) in enumerate(pool):
            acc += w
            if r <= acc or j == len(pool) - 1:
                chosen.append(item)
                pool.pop(j)
                break
    return chosen
