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

from sqlalchemy import ARRAY, Float, Numeric, String, and_, any_, bindparam, cast, func, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from core.driver import DriverStatement
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
_SM = SkillMastery.__table__
# What `record` reads and writes: columns, not an ORM object (it runs on every first answer,
# on the USSD path too, and the object's load and flush cost more than the statements).
_COUNTS = DriverStatement(
    select(_SM.c.id, _SM.c.p_known, _SM.c.attempts, _SM.c.correct, _SM.c.mastered_at)
    .where(_SM.c.student_id == bindparam("sid"), _SM.c.pack == bindparam("pack"), _SM.c.skill == bindparam("skill")))
_WRITE = {"p_known": bindparam("p_known"), "attempts": bindparam("attempts"), "correct": bindparam("correct"),
          "mastered_at": bindparam("mastered_at"), "updated_at": bindparam("now")}
_UPDATE_COUNTS = DriverStatement(sql_update(_SM).where(_SM.c.id == bindparam("rid")).values(**_WRITE))
_INSERT_COUNTS = DriverStatement(insert(_SM).values(
    student_id=bindparam("sid"), pack=bindparam("pack"), topic=bindparam("topic"), skill=bindparam("skill"), **_WRITE))
# A topic's skills: `= ANY(array)` on PostgreSQL (one statement text for any number of
# skills, sent by the driver), an expanding IN elsewhere.
_TOPIC_KNOWN_PG = DriverStatement(select(_SM.c.skill, _SM.c.p_known).where(
    _SM.c.student_id == bindparam("sid"), _SM.c.pack == bindparam("pack"),
    _SM.c.skill == any_(bindparam("skills", type_=ARRAY(String)))))
_TOPIC_KNOWN = select(_SM.c.skill, _SM.c.p_known).where(
    _SM.c.student_id == bindparam("sid"), _SM.c.pack == bindparam("pack"),
    _SM.c.skill.in_(bindparam("skills", expanding=True)))


def _row(session: Session, student_id: int, pack_id: str, skill: str) -> SkillMastery | None:
    return session.scalar(_ROW, {"sid": student_id, "pack": pack_id, "skill": skill})


def record(session: Session, *, student_id: int, pack_id: str, topic_id: str, skill: str, correct: bool,
           now: datetime) -> float:
    """Apply one first attempt to the student's SkillMastery row (created at the prior);
    returns the new P(known). Two statements: the row's counts, then its UPDATE or INSERT."""
    params = skill_params(session, pack_id, skill)
    key = {"sid": student_id, "pack": pack_id, "skill": skill}
    found = _COUNTS.execute(session, key).first()
    rid, p_known, attempts, right, mastered_at = found if found is not None else (None, params.p_init, 0, 0, None)
    p_known = update(p_known, correct, params)
    values = {**key, "p_known": p_known, "attempts": attempts + 1, "correct": right + (1 if correct else 0),
              "mastered_at": now if mastered_at is None and is_mastered(p_known) else mastered_at, "now": now}
    if rid is None:
        _INSERT_COUNTS.execute(session, {**values, "topic": topic_id})
    else:
        _UPDATE_COUNTS.execute(session, {**values, "rid": rid})
        _expire_loaded(session, student_id, pack_id, skill)
    return p_known


def _expire_loaded(session: Session, student_id: int, pack_id: str, skill: str) -> None:
    """An ORM copy of the row read earlier in this unit of work is stale now: expire it."""
    for obj in session.identity_map.values():
        if isinstance(obj, SkillMastery):
            loaded = obj.__dict__  # read without loading anything
            if (loaded.get("student_id"), loaded.get("pack"), loaded.get("skill")) == (student_id, pack_id, skill):
                session.expire(obj)


def topic_mastery(session: Session, student_id: int, pack_id: str, skills: list[str]) -> float:
    """Mean P(known) over a topic's skills (unseen skills count at their prior); one statement."""
    if not skills:
        return 0.0
    args = {"sid": student_id, "pack": pack_id, "skills": list(skills)}
    if session.get_bind().dialect.name == "postgresql":
        known = dict(_TOPIC_KNOWN_PG.execute(session, args).all())
    else:
        known = dict(session.execute(_TOPIC_KNOWN, args).all())
    total = 0.0
    for s in skills:
        p = known.get(s)
        total += p if p is not None else skill_params(session, pack_id, s).guarded().p_init
    return total / len(skills)


def topic_priors(session: Session, pack_id: str, skills: list[str]) -> list[float]:
    """Each skill's P(known) before any attempt, as `topic_mastery` counts an unseen skill."""
    return [skill_params(session, pack_id, s).guarded().p_init for s in skills]


def topic_mastery_sql():
    """`topic_mastery` as a scalar subquery for PostgreSQL, to ride in another statement:
    binds `b_sid`, `b_pack`, `b_skills` (the topic's skills) and `b_priors` (`topic_priors`);
    rounded to 4 places, as the progress row stores it."""
    known = (func.unnest(bindparam("b_skills", type_=ARRAY(String)), bindparam("b_priors", type_=ARRAY(Float)))
             .table_valued("skill", "prior").render_derived(name="topic_skills"))
    return (select(func.round(cast(func.avg(func.coalesce(_SM.c.p_known, known.c.prior)), Numeric), 4))
            .select_from(known.outerjoin(_SM, and_(_SM.c.student_id == bindparam("b_sid"),
                                                   _SM.c.pack == bindparam("b_pack"), _SM.c.skill == known.c.skill)))
            .scalar_subquery())


def all_p_known(session: Session, student_id: int, pack_id: str) -> dict[str, float]:
    rows = session.execute(select(SkillMastery.skill, SkillMastery.p_known).where(
        SkillMastery.student_id == student_id, SkillMastery.pack == pack_id))
    return {skill: p for skill, p in rows}
