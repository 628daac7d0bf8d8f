"""Pieces every mode shares: translated strings, the mode words (NEXT, HINT), showing a
question as a Reply, and storing an attempt with its mastery update.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert

from core.driver import DriverStatement
from core.i18n import translator
from core.messages import Option, Reply
from core.models import PracticeAttempt
from modes import mastery
from modes.base import ModeContext
from modes.checker import CheckResult, check, qtype
from modes.numbers import fold
from rag.schema import Pack, TeachQuestion, Topic

NEXT_WORDS = {"next", "n", "endelea", "continue", "ok", "okay", "sawa", "mbele", "nxt"}
HINT_WORDS = {"hint", "dokezo", "clue", "kidokezo"}


class ModeError(ValueError):
    """A mode was asked to run on something that does not exist (a topic missing from the pack)."""


def tr(lang: str):
    """gettext for the modes domain in `lang` (English fallback)."""
    return translator(lang, "modes").gettext


def word(text: str) -> str:
    return fold(text or "").strip(" .!")


def is_next(text: str, *, option_shown: bool) -> bool:
    w = word(text)
    return w in NEXT_WORDS or (option_shown and w == "1")


def is_hint(text: str) -> bool:
    return word(text) in HINT_WORDS


def topic_of(ctx: ModeContext) -> Topic:
    topic = ctx.pack.topic(ctx.topic_id)
    if topic is None:
        raise ModeError(f"topic {ctx.topic_id!r} is not in pack {ctx.pack.pack!r}")
    return topic


def title(pack: Pack, topic: Topic, lang: str) -> str:
    return pack.text(topic.title, lang)


def next_option(lang: str) -> Option:
    _ = tr(lang)
    return Option(key="1", label=_("Next"), id="next")


def question_reply(pack: Pack, q: TeachQuestion, lang: str, header: str, *, prefix: str = "") -> Reply:
    """A question as a Reply: numbered options for multiple choice, a typed answer otherwise."""
    _ = tr(lang)
    text = "\n".join(p for p in (prefix, header, pack.text(q.question, lang)) if p)
    footer = _("Reply HINT for a hint.") if q.hint else ""
    if q.choices:
        options = [Option(key=str(i + 1), label=c, id=f"choice-{i + 1}") for i, c in enumerate(q.choices)]
        return Reply(text=text, options=options, footer=footer)
    return Reply(text=text, expects_answer=True, footer=footer)


def feedback(pack: Pack, q: TeachQuestion, lang: str, result: CheckResult) -> str:
    """"Correct! 1 + 2 = 3, so 3/4." or "Not quite. The answer is 3/4. ..." (always with the why)."""
    _ = tr(lang)
    explanation = pack.text(q.explanation, lang)
    if result.correct:
        head = _("Correct!")
    elif result.reason == "not_simplest":
        head = _("Right value, but give it in its simplest form. The answer is {answer}.").format(answer=q.answer)
    elif result.reason == "wrong_unit":
        head = _("Check the unit. The answer is {answer}.").format(answer=q.answer)
    else:
        head = _("Not quite. The answer is {answer}.").format(answer=q.answer)
    return f"{head} {explanation}".strip()


_ATTEMPT_COLUMNS = ("student_id", "pack", "topic", "skill", "mode", "question_key", "question", "qtype", "difficulty",
                    "answer_given", "correct_answer", "correct", "first_attempt", "feedback", "hint_count",
                    "time_spent_ms", "created_at")
# A Core INSERT through the driver: every answer stores one, on the USSD path too, and the
# ORM's flush of a new object cost more than the statement.
_INSERT_ATTEMPT = DriverStatement(insert(PracticeAttempt.__table__).values(
    {name: bindparam(name) for name in _ATTEMPT_COLUMNS}))


def record_attempt(ctx: ModeContext, *, topic: Topic, q: TeachQuestion, key: str, mode: str, given: str,
                   result: CheckResult, first: bool, hints: int, shown_at: datetime | None,
                   feedback_text: str) -> None:
    """Store the attempt; on a first attempt update the skill's mastery (a hint counts as wrong)."""
    skill = getattr(q, "skill", None) or topic.skill_ids[0]
    spent = int((ctx.now - shown_at).total_seconds() * 1000) if shown_at else 0
    _INSERT_ATTEMPT.execute(ctx.session, {
        "student_id": ctx.student.id, "pack": ctx.pack.pack, "topic": topic.id, "skill": skill, "mode": mode,
        "question_key": key, "question": ctx.pack.text(q.question, ctx.lang), "qtype": qtype(q),
        "difficulty": getattr(q, "difficulty", 1), "answer_given": given[:500], "correct_answer": q.answer,
        "correct": result.correct, "first_attempt": first, "feedback": feedback_text, "hint_count": hints,
        "time_spent_ms": max(0, min(spent, 3_600_000)), "created_at": ctx.now,
    })
    if first:
        mastery.record(ctx.session, student_id=ctx.student.id, pack_id=ctx.pack.pack, topic_id=topic.id,
                       skill=skill, correct=result.correct and hints == 0, now=ctx.now)


def mastery_line(ctx: ModeContext, topic: Topic, p: float | None = None) -> str:
    """"Adding fractions: 72% mastered"; `p`, the topic's mastery when the caller has it."""
    if p is None:
        p = mastery.topic_mastery(ctx.session, ctx.student.id, ctx.pack.pack, topic.skill_ids)
    _ = tr(ctx.lang)
    return _("{topic}: {percent}% mastered").format(
        topic=title(ctx.pack, topic, ctx.lang), percent=int(round(p * 100)))


def check_answer(text: str, q: TeachQuestion, lang: str) -> CheckResult:
    return check(text, q, lang)


def iso(dt: datetime) -> str:
    return dt.isoformat()


def from_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
