"""Figures for the dashboard and the progress pages, always within a Scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import Session

from admin.scope import Scope
from core import clock
from core.models import (
    Channel,
    CurriculumPack,
    CurriculumTopic,
    Direction,
    Enrolment,
    Message,
    PracticeAttempt,
    SchoolClass,
    SkillMastery,
    Student,
)


@dataclass
class Dashboard:
    students: int
    active_week: int
    messages_week: int
    sms_segments_week: int
    classes: list[tuple[SchoolClass, int, float | None]]  # class, students, mean mastery


def dashboard(session: Session, scope: Scope) -> Dashboard:
    week_ago = clock.now() - timedelta(days=7)
    students = session.scalar(select(func.count()).select_from(scope.students().where(Student.active).subquery()))
    talked = select(Message.student_id).where(
        Message.direction == Direction.IN.value, Message.created_at >= week_ago, Message.student_id.is_not(None)
    )
    active = session.scalar(
        select(func.count()).select_from(
            scope.students().where(or_(Student.last_active_at >= week_ago, Student.id.in_(talked))).subquery()
        )
    )
    week_messages = scope.messages(select(Message.id)).where(Message.created_at >= week_ago)
    messages = session.scalar(select(func.count()).select_from(week_messages.subquery()))
    segments = session.scalar(
        select(func.coalesce(func.sum(Message.segments), 0)).where(
            Message.id.in_(week_messages), Message.channel == Channel.SMS.value,
            Message.direction == Direction.OUT.value,
        )
    )
    return Dashboard(students or 0, active or 0, messages or 0, int(segments or 0), class_mastery(session, scope))


def class_mastery(session: Session, scope: Scope) -> list[tuple[SchoolClass, int, float | None]]:
    classes = list(session.scalars(scope.classes().order_by(SchoolClass.name)))
    if not classes:
        return []
    ids = [c.id for c in classes]
    counts = dict(session.execute(
        select(Enrolment.class_id, func.count(distinct(Enrolment.student_id)))
        .where(Enrolment.class_id.in_(ids), Enrolment.active).group_by(Enrolment.class_id)
    ).all())
    means = dict(session.execute(
        select(Enrolment.class_id, func.avg(SkillMastery.p_known))
        .join(SkillMastery, SkillMastery.student_id == Enrolment.student_id)
        .where(Enrolment.class_id.in_(ids), Enrolment.active).group_by(Enrolment.class_id)
    ).all())
    return [(c, counts.get(c.id, 0), _f(means.get(c.id))) for c in classes]


def _f(value) -> float | None:
    return None if value is None else float(value)


@dataclass
class Heatmap:
    """Rows (classes or students) × topic columns of mean mastery, None where nothing is known."""

    topics: list[tuple[str, str, str]] = field(default_factory=list)  # (pack, topic, title)
    rows: list[tuple[object, str, list[float | None]]] = field(default_factory=list)  # (key, label, cells)


def topic_titles(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, int]]:
    if not keys:
        return {}
    rows = session.execute(
        select(CurriculumPack.pack, CurriculumTopic.topic, CurriculumTopic.title, CurriculumTopic.position)
        .join(CurriculumTopic, CurriculumTopic.pack_id == CurriculumPack.id)
        .where(CurriculumPack.pack.in_({k[0] for k in keys}))
    ).all()
    titles = {}
    for pack, topic, title, position in rows:
        text = (title or {}).get("en") or next(iter((title or {}).values()), None)
        titles[(pack, topic)] = (text or topic, position)
    return titles


def _columns(session: Session, cells: dict) -> list[tuple[str, str, str]]:
    """Topic columns in pack order, then the pack's own topic order."""
    keys = {(pack, topic) for (_row, pack, topic) in cells}
    titles = topic_titles(session, keys)
    ordered = sorted(keys, key=lambda k: (k[0], titles.get(k, (k[1], 10_000))[1], k[1]))
    return [(p, t, titles.get((p, t), (t, 0))[0]) for p, t in ordered]


def class_heatmap(session: Session, scope: Scope) -> Heatmap:
    classes = list(session.scalars(scope.classes().order_by(SchoolClass.name)))
    ids = [c.id for c in classes] or [-1]
    cells = {
        (cid, pack, topic): float(mean)
        for cid, pack, topic, mean in session.execute(
            select(Enrolment.class_id, SkillMastery.pack, SkillMastery.topic, func.avg(SkillMastery.p_known))
            .join(SkillMastery, SkillMastery.student_id == Enrolment.student_id)
            .where(Enrolment.class_id.in_(ids), Enrolment.active)
            .group_by(Enrolment.class_id, SkillMastery.pack, SkillMastery.topic)
        ).all()
    }
    topics = _columns(session, cells)
    rows = [(c.id, c.name, [cells.get((c.id, p, t)) for p, t, _ in topics]) for c in classes]
    return Heatmap(topics, rows)


def student_heatmap(session: Session, klass: SchoolClass) -> Heatmap:
    students = list(session.scalars(
        select(Student).join(Enrolment, Enrolment.student_id == Student.id)
        .where(Enrolment.class_id == klass.id, Enrolment.active).order_by(Student.name)
    ))
    ids = [s.id for s in students] or [-1]
    cells = {
        (sid, pack, topic): float(mean)
        for sid, pack, topic, mean in session.execute(
            select(SkillMastery.student_id, SkillMastery.pack, SkillMastery.topic, func.avg(SkillMastery.p_known))
            .where(SkillMastery.student_id.in_(ids))
            .group_by(SkillMastery.student_id, SkillMastery.pack, SkillMastery.topic)
        ).all()
    }
    topics = _columns(session, cells)
    rows = [(s.id, s.name, [cells.get((s.id, p, t)) for p, t, _ in topics]) for s in students]
    return Heatmap(topics, rows)


def attempts(session: Session, student_id: int, limit: int = 200) -> list[PracticeAttempt]:
    return list(session.scalars(
        select(PracticeAttempt).where(PracticeAttempt.student_id == student_id)
        .order_by(PracticeAttempt.created_at.desc(), PracticeAttempt.id.desc()).limit(limit)
    ))
