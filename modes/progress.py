"""Stored progress: the LessonProgress row per student, topic and mode, daily streaks, and
the one motivation line a mode may add at a natural point (a lesson's recap, the end of a
practice round or an exam). "One per session": each mode run shows it at most once, and
it is only offered at the run's end.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, update
from sqlalchemy.orm.util import identity_key

from core.db import dialect_insert
from core.driver import DriverStatement, write_now
from core.models import LessonProgress, Student
from modes import mastery
from modes.base import ModeContext
from modes.common import tr
from rag.schema import Topic

MAX_GAP_S = 300  # a pause longer than this is not time spent learning


_PROGRESS = LessonProgress.__table__
_UPDATES: dict[tuple[str, bool, bool, bool, bool, bool], DriverStatement] = {}


def _progress_update(dialect: str, gap: bool, mastery_set: bool, restart: bool, completed: bool,
                     mastery_computed: bool = False) -> DriverStatement:
    """The progress UPDATE … RETURNING for this combination of what changes, built once
    (a Core statement: building it on each step, through the ORM, cost more than running it).
    `mastery_computed`: the UPDATE computes the topic's mastery (PostgreSQL, not a restart)."""
    key = (dialect, gap, mastery_set, restart, completed, mastery_computed)
    stmt = _UPDATES.get(key)
    if stmt is None:
        c = _PROGRESS.c
        values: dict = {"step": bindparam("b_step"), "steps_total": bindparam("b_steps_total"),
                        "updated_at": bindparam("now")}
        if gap:
            values["time_spent_s"] = func.coalesce(c.time_spent_s, 0) + bindparam("gap")
        if mastery_computed:
            values["mastery"] = mastery.topic_mastery_sql()
        elif mastery_set:
            values["mastery"] = bindparam("b_mastery")
        if restart:
            values["started_at"] = bindparam("now")
            values["completed_at"] = bindparam("b_completed_at")
        elif completed:
            values["completed_at"] = func.coalesce(c.completed_at, bindparam("now"))
        if restart:
            # A lesson (re)started: often the topic's first row, so an upsert, one statement
            # either way (the UPDATE below would find nothing, then the INSERT follow).
            stmt = DriverStatement(dialect_insert(dialect)(_PROGRESS).values(
                student_id=bindparam("b_sid"), pack=bindparam("b_pack"), topic=bindparam("b_topic"),
                mode=bindparam("b_mode"), step=bindparam("b_step"), steps_total=bindparam("b_steps_total"),
                mastery=bindparam("b_first_mastery", type_=c.mastery.type),
                time_spent_s=bindparam("gap"), started_at=bindparam("now"), updated_at=bindparam("now"),
                completed_at=bindparam("b_completed_at", type_=c.completed_at.type),
            ).on_conflict_do_update(index_elements=["student_id", "pack", "topic", "mode"], set_=values)
                .returning(c.id))
        else:
            stmt = DriverStatement(update(_PROGRESS)
                    .where(c.student_id == bindparam("b_sid"), c.pack == bindparam("b_pack"),
                           c.topic == bindparam("b_topic"), c.mode == bindparam("b_mode"))
                    .values(**values).returning(c.id, c.mastery))
        _UPDATES[key] = stmt
    return stmt


def _gap(ctx: ModeContext) -> int:
    """Seconds since the learner's last turn in this mode run, capped (time spent learning)."""
    last = ctx.data.get("last_seen")
    if not last:
        return 0
    return int(min(max((ctx.now - datetime.fromisoformat(last)).total_seconds(), 0), MAX_GAP_S))


def _written(ctx: ModeContext, row_id: int) -> int:
    loaded = ctx.session.identity_map.get(identity_key(LessonProgress, row_id))
    if loaded is not None:  # read earlier in this unit of work: its attributes are stale now
        ctx.session.expire(loaded)
    return row_id


def save_progress(ctx: ModeContext, topic_id: str, mode: str, *, step: int, steps_total: int,
                  mastery_value: float | None = None, completed: bool = False, restart: bool = False) -> int:
    """Upsert the progress row; time spent grows by the gap since the last turn (capped).

    One statement on most turns: `UPDATE ... RETURNING` on a lesson's steps (an INSERT follows
    only when no row was there), an upsert when a lesson (re)starts. This runs on each lesson
    step, USSD included. Returns the row's id.
    """
    gap = _gap(ctx)
    ctx.data["last_seen"] = ctx.now.isoformat()
    session = ctx.session
    stmt = _progress_update(session.get_bind().dialect.name, bool(gap), mastery_value is not None, restart, completed)
    row_id = stmt.execute(session, {
        "b_sid": ctx.student.id, "b_pack": ctx.pack.pack, "b_topic": topic_id, "b_mode": mode, "b_step": step,
        "b_steps_total": steps_total, "now": ctx.now, "gap": gap,
        "b_mastery": round(mastery_value, 4) if mastery_value is not None else None,
        "b_first_mastery": round(mastery_value, 4) if mastery_value is not None else 0.0,
        "b_completed_at": ctx.now if completed else None,
    }).scalar()
    if row_id is not None:
        return _written(ctx, row_id)
    row = LessonProgress(student_id=ctx.student.id, pack=ctx.pack.pack, topic=topic_id, mode=mode, step=step,
                         steps_total=steps_total, mastery=round(mastery_value, 4) if mastery_value is not None else 0.0,
                         time_spent_s=gap, started_at=ctx.now, updated_at=ctx.now,
                         completed_at=ctx.now if completed else None)
    session.add(row)
    session.flush()
    return row.id


def save_progress_and_mastery(ctx: ModeContext, topic: Topic, mode: str, *, step: int, steps_total: int,
                              completed: bool = False) -> float:
    """`save_progress` with the topic's mastery (`mastery.topic_mastery`, returned). On
    PostgreSQL the UPDATE computes it: one statement on a lesson or practice step instead of
    the mastery's SELECT and then the UPDATE. Elsewhere, or when the row is not there yet,
    the SELECT and `save_progress`."""
    session = ctx.session
    skills = list(topic.skill_ids)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql" and skills:
        gap = _gap(ctx)
        row = _progress_update(dialect, bool(gap), False, False, completed, mastery_computed=True).execute(session, {
            "b_sid": ctx.student.id, "b_pack": ctx.pack.pack, "b_topic": topic.id, "b_mode": mode, "b_step": step,
            "b_steps_total": steps_total, "now": ctx.now, "gap": gap, "b_skills": skills,
            "b_priors": mastery.topic_priors(session, ctx.pack.pack, skills),
        }).first()
        if row is not None:
            ctx.data["last_seen"] = ctx.now.isoformat()
            _written(ctx, row[0])
            return row[1]
    value = mastery.topic_mastery(session, ctx.student.id, ctx.pack.pack, skills)
    save_progress(ctx, topic.id, mode, step=step, steps_total=steps_total, mastery_value=value, completed=completed)
    return value


def touch_streak(student: Student, now: datetime) -> int:
    """Count consecutive learning days: today after yesterday adds one, a gap starts again."""
    today = now.date()
    last = student.streak_last_day
    if last == today:
        return student.streak_days or 1
    write_now(student, streak_days=(student.streak_days or 0) + 1 if last == today - timedelta(days=1) else 1,
              streak_last_day=today)
    return student.streak_days


def topics_mastered(ctx: ModeContext) -> tuple[int, int]:
    known = mastery.all_p_known(ctx.session, ctx.student.id, ctx.pack.pack)
    done = sum(1 for t in ctx.pack.topics if all(mastery.is_mastered(known.get(s, 0.0)) for s in t.skill_ids))
    return done, len(ctx.pack.topics)


def motivation_line(ctx: ModeContext) -> str:
    """A streak or a progress summary, once per mode run ("" if already shown)."""
    if ctx.data.get("motivated"):
        return ""
    ctx.data["motivated"] = True
    _ = tr(ctx.lang)
    streak = touch_streak(ctx.student, ctx.now)
    done, total = topics_mastered(ctx)
    if streak >= 2:
        return _("{days}-day streak! Keep it up.").format(days=streak)
    return _("You've mastered {done} of {total} topics.").format(done=done, total=total)
