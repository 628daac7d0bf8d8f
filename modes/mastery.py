"""Mastery per skill with Bayesian Knowledge Tracing (Corbett & Anderson, 1995).

Four parameters per skill: P(L0) prior, P(T) learn, P(G) guess, P(S) slip. Each *first*
attempt at a question updates P(known) in closed form; a hint taken before answering counts
as a wrong first attempt (the student did not know it unaided). Guess and slip are capped
(guess <= 0.3, slip <= 0.1) so a badly fitted skill cannot make mastery move backwards or
become unreachable. A skill is mastered at P(known) >= 0.95.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core.memo import Memo
from core.models import CurriculumPack, CurriculumTopic, Skill, SkillMastery

MASTERED = 0.95
MAX_GUESS = 0.3
MAX_SLIP = 0.1
_FLOOR = 0.001


@dataclass(frozen=True)
class BKTParams:
    p_init: float = 0.2
    p_learn: float = 0.15
    p_guess: float = 0.2
    p_slip: float = 0.08

    def guarded(self) -> BKTParams:
        """The parameters made safe: probabilities inside (0, 1), guess and slip capped."""

        def clamp(v: float, lo: float, hi: float) -> float:
            return lo if v != v else min(max(v, lo), hi)  # v != v: NaN

        return BKTParams(
            p_init=clamp(self.p_init, _FLOOR, 1 - _FLOOR),
            p_learn=clamp(self.p_learn, _FLOOR, 1 - _FLOOR),
            p_guess=clamp(self.p_guess, _FLOOR, MAX_GUESS),
            p_slip=clamp(self.p_slip, _FLOOR, MAX_SLIP),
        )


DEFAULT = BKTParams()


def params_from(p_init: float | None, p_learn: float | None, p_guess: float | None, p_slip: float | None) -> BKTParams:
    """Skill-row values with None meaning 'use the default', then guarded."""
    return BKTParams(
        p_init=DEFAULT.p_init if p_init is None else p_init,
        p_learn=DEFAULT.p_learn if p_learn is None else p_learn,
        p_guess=DEFAULT.p_guess if p_guess is None else p_guess,
        p_slip=DEFAULT.p_slip if p_slip is None else p_slip,
    ).guarded()


def update(p_known: float, correct: bool, params: BKTParams = DEFAULT) -> float:
    """P(known) after one first attempt: Bayes on the evidence, then the chance of learning."""
    p = params.guarded()
    k = min(max(p_known, _FLOOR), 1 - _FLOOR)
    if correct:
        posterior = k * (1 - p.p_slip) / (k * (1 - p.p_slip) + (1 - k) * p.p_guess)
    else:
        posterior = k * p.p_slip / (k * p.p_slip + (1 - k) * (1 - p.p_guess))
    return posterior + (1 - posterior) * p.p_learn


def is_mastered(p_known: float) -> bool:
    return p_known >= MASTERED


param_memo = Memo(60.0, Skill)  # (db URL, pack) -> {skill: BKTParams}


def _pack_params(session: Session, pack_id: str) -> dict[str, BKTParams]:
    """Every skill's parameters of one pack, read in one statement and kept for 60 s.

    Skill rows change only when a pack is imported (or an operator edits them): any ORM
    write of a Skill in this process forgets the memo at once; another process's change is
    seen within the 60 s (`core.memo`). A skill missing from the map uses the defaults.
    """

    def load() -> dict[str, BKTParams]:
        rows = session.execute(
            select(Skill.skill, Skill.p_init, Skill.p_learn, Skill.p_guess, Skill.p_slip)
            .join(CurriculumTopic, Skill.topic_id == CurriculumTopic.id)
            .join(CurriculumPack, CurriculumTopic.pack_id == CurriculumPack.id)
            .where(CurriculumPack.pack == pack_id)
        )
        return {skill: params_from(*values) for skill, *values in rows}

    return param_memo.get(session, pack_id, load)


def forget_params() -> None:
    param_memo.forget()


def skill_params(session: Session, pack_id: str, skill: str) -> BKTParams:
    return _pack_params(session, pack_id).get(skill, DEFAULT)


def get_p_known(session: Session, student_id: int, pack_id: str, skill: str) -> float:
    row = _row(session, student_id, pack_id, skill)
    return row.p_known if row else skill_params(session, pack_id, skill).guarded().p_init


# Built once (statement construction cost more CPU than running them, on every answer).
_ROW = select(SkillMastery).where(SkillMastery.student_id == bindparam("sid"), SkillMastery.pack == bindparam("pack"),
                                  SkillMastery.skill == bindparam("skill"))
_TOPIC_KNOWN = select(SkillMastery.skill, SkillMastery.p_known).where(
    SkillMastery.student_id == bindparam("sid"), SkillMastery.pack == bindparam("pack"),
    SkillMastery.skill.in_(bindparam("skills", expanding=True)))


def _row(session: Session, student_id: int, pack_id: str, skill: str) -> SkillMastery | None:
    return session.scalar(_ROW, {"sid": student_id, "pack": pack_id, "skill": skill})


def record(session: Session, *, student_id: int, pack_id: str, topic_id: str, skill: str, correct: bool,
           now: datetime) -> SkillMastery:
    """Apply one first attempt to the student's SkillMastery row (created at the prior); flushes."""
    params = skill_params(session, pack_id, skill)
    row = _row(session, student_id, pack_id, skill)
    if row is None:
        row = SkillMastery(student_id=student_id, pack=pack_id, topic=topic_id, skill=skill,
                           p_known=params.p_init, attempts=0, correct=0)
        session.add(row)
    row.p_known = update(row.p_known, correct, params)
    row.attempts += 1
    row.correct += 1 if correct else 0
    row.updated_at = now
    if is_mastered(row.p_known) and row.mastered_at is None:
        row.mastered_at = now
    session.flush()
    return row


def topic_mastery(session: Session, student_id: int, pack_id: str, skills: list[str]) -> float:
    """Mean P(known) over a topic's skills (unseen skills count at their prior); one statement."""
    if not skills:
        return 0.0
    known = dict(session.execute(_TOPIC_KNOWN, {"sid": student_id, "pack": pack_id, "skills": list(skills)}).all())
    total = 0.0
    for s in skills:
        p = known.get(s)
        total += p if p is not None else skill_params(session, pack_id, s).guarded().p_init
    return total / len(skills)


def all_p_known(session: Session, student_id: int, pack_id: str) -> dict[str, float]:
    rows = session.execute(select(SkillMastery.skill, SkillMastery.p_known).where(
        SkillMastery.student_id == student_id, SkillMastery.pack == pack_id))
    return {skill: p for skill, p in rows}
