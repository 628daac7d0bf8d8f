"""Short class summaries for teachers: RESULTS over SMS and the weekly digest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.i18n import translator
from core.models import Enrolment, SchoolClass, SkillMastery, Student

MASTERED = 0.95
BEHIND_MASTERY = 0.4
ACTIVE_DAYS = 7


@dataclass
class ClassStats:
    students: int
    active: int
    topic_mastery: dict[str, float]  # topic -> mean P(known) over students who practised it
    mastered_topics: int  # (student, topic) pairs at or above MASTERED, averaged per topic
    behind: list[str]  # names: inactive for a week, or low mastery


def class_stats(session: Session, klass: SchoolClass) -> ClassStats:
    since = clock.now() - timedelta(days=ACTIVE_DAYS)
    students = session.execute(
        select(Student.id, Student.name, Student.last_active_at)
        .join(Enrolment, Enrolment.student_id == Student.id)
        .where(Enrolment.class_id == klass.id, Enrolment.active.is_(True), Student.active.is_(True))
    ).all()
    ids = [s.id for s in students]
    active = sum(1 for s in students if s.last_active_at and s.last_active_at >= since)
    per_topic: dict[str, float] = {}
    per_student: dict[int, float] = {}
    mastered = 0
    if ids:
        rows = session.execute(
            select(SkillMastery.topic, SkillMastery.student_id, func.avg(SkillMastery.p_known))
            .where(SkillMastery.student_id.in_(ids)).group_by(SkillMastery.topic, SkillMastery.student_id)
        ).all()
        sums: dict[str, list[float]] = {}
        mine: dict[int, list[float]] = {}
        for topic, sid, p in rows:
            sums.setdefault(topic, []).append(float(p))
            mine.setdefault(sid, []).append(float(p))
            mastered += float(p) >= MASTERED
        per_topic = {t: sum(v) / len(v) for t, v in sums.items()}
        per_student = {sid: sum(v) / len(v) for sid, v in mine.items()}
    behind = [
        s.name or f"#{s.id}" for s in students
        if not s.last_active_at or s.last_active_at < since or per_student.get(s.id, 1.0) < BEHIND_MASTERY
    ]
    return ClassStats(len(students), active, per_topic, mastered, behind)


def summary(session: Session, klass: SchoolClass, lang: str) -> str:
    """One SMS: activity, mastery per topic, and who is falling behind."""
    _ = translator(lang, "teachers").gettext
    s = class_stats(session, klass)
    lines = [_("{name}: {active} of {total} students active this week.").format(
        name=klass.name, active=s.active, total=s.students)]
    if s.topic_mastery:
        best = sorted(s.topic_mastery.items(), key=lambda kv: -kv[1])[:4]
        lines.append(_("Mastery: {topics}.").format(topics=", ".join(f"{t} {round(p * 100)}%" for t, p in best)))
        lines.append(_("Topics mastered: {count}.").format(count=s.mastered_topics))
    else:
        lines.append(_("No practice yet."))
    if s.behind:
        more = f" (+{len(s.behind) - 5})" if len(s.behind) > 5 else ""
        lines.append(_("Falling behind: {names}.").format(names=", ".join(s.behind[:5]) + more))
    return "\n".join(lines)
