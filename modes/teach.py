"""Teach: intro → explanation → example → practice → quiz → recap, strictly in order.

The student cannot skip: NEXT (or option 1) moves on only from a finished step; on the
practice and quiz steps every question must be answered first. Where the student is lives
in `ctx.data` (the conversation state), so a dropped session resumes on the same step, and
in a LessonProgress row, which teachers and the admin read.
"""

from __future__ import annotations

from core.messages import Reply
from modes import mastery
from modes.base import ModeContext, ModeResult
from modes.common import (
    check_answer,
    feedback,
    from_iso,
    is_hint,
    is_next,
    iso,
    mastery_line,
    next_option,
    question_reply,
    record_attempt,
    title,
    topic_of,
    tr,
)
from modes.progress import motivation_line, save_progress, touch_streak
from rag.schema import TEACH_STEPS, TeachQuestion, Topic, question_key

STEPS = len(TEACH_STEPS)
QUESTION_STEPS = ("practice", "quiz")
PRACTICE_TRIES = 2  # a practice question may be tried twice; a quiz question once


class TeachMode:
    name = "teach"

    def start(self, ctx: ModeContext) -> ModeResult:
        topic = topic_of(ctx)
        ctx.data.clear()
        ctx.data.update(step=0, q=0, answered=False, tries=0, hints=0, score=0, feedback="")
        save_progress(ctx, topic.id, self.name, step=1, steps_total=STEPS, restart=True)
        touch_streak(ctx.student, ctx.now)
        return self._show(ctx, topic)

    def resume(self, ctx: ModeContext) -> ModeResult:
        topic = topic_of(ctx)
        if "step" not in ctx.data:
            return self.start(ctx)
        return self._show(ctx, topic)

    def handle(self, ctx: ModeContext, text: str) -> ModeResult:
        topic = topic_of(ctx)
        if "step" not in ctx.data:
            return self.start(ctx)
        touch_streak(ctx.student, ctx.now)
        step = TEACH_STEPS[ctx.data["step"]]
        if step == "recap":
            return self._show(ctx, topic)
        if step in QUESTION_STEPS and not ctx.data["answered"]:
            return self._answer(ctx, topic, text)
        if is_next(text, option_shown=True):
            return self._advance(ctx, topic)
        _ = tr(ctx.lang)
        return self._show(ctx, topic, note=_("Reply 1 or NEXT to go on."))

    # -- moving -----------------------------------------------------------------------------
    def _advance(self, ctx: ModeContext, topic: Topic) -> ModeResult:
        d = ctx.data
        step = TEACH_STEPS[d["step"]]
        if step in QUESTION_STEPS and d["q"] + 1 < len(self._questions(topic, step)):
            d["q"] += 1
        else:
            d["step"], d["q"] = d["step"] + 1, 0
        d.update(answered=False, tries=0, hints=0, feedback="")
        d.pop("shown_at", None)
        done = TEACH_STEPS[d["step"]] == "recap"
        value = mastery.topic_mastery(ctx.session, ctx.student.id, ctx.pack.pack, topic.skill_ids)
        save_progress(ctx, topic.id, self.name, step=d["step"] + 1, steps_total=STEPS, mastery_value=value,
                      completed=done)
        return self._show(ctx, topic)

    def _answer(self, ctx: ModeContext, topic: Topic, text: str) -> ModeResult:
        d = ctx.data
        step = TEACH_STEPS[d["step"]]
        _ = tr(ctx.lang)
        if is_next(text, option_shown=False):
            return self._show(ctx, topic, note=_("Answer the question first, then you can go on."))
        q = self._questions(topic, step)[d["q"]]
        if is_hint(text):
            d["hints"] += 1
            hint = ctx.pack.text(q.hint, ctx.lang) or _("No hint for this one. Try your best!")
            return self._show(ctx, topic, note=_("Hint: {hint}").format(hint=hint))
        result = check_answer(text, q, ctx.lang)
        if result.reason in ("empty", "unreadable") and q.choices:
            return self._show(ctx, topic, note=_("Reply with the number of your choice."))
        first = d["tries"] == 0
        d["tries"] += 1
        retry = not result.correct and step == "practice" and d["tries"] < PRACTICE_TRIES
        if retry:
            hint = ctx.pack.text(q.hint, ctx.lang)
            fb = " ".join(p for p in (_("Not quite. Try again."), hint) if p)
        else:
            fb = feedback(ctx.pack, q, ctx.lang, result)
            d["answered"] = True
            if step == "quiz" and result.correct:
                d["score"] += 1
        record_attempt(ctx, topic=topic, q=q, key=question_key(topic.id, step, d["q"]), mode=self.name, given=text,
                       result=result, first=first, hints=d["hints"], shown_at=from_iso(d.get("shown_at")),
                       feedback_text=fb)
        save_progress(ctx, topic.id, self.name, step=d["step"] + 1, steps_total=STEPS)
        if retry:
            return self._show(ctx, topic, note=fb)
        d["feedback"] = fb
        return self._show(ctx, topic)

    # -- showing ----------------------------------------------------------------------------
    @staticmethod
    def _questions(topic: Topic, step: str) -> list[TeachQuestion]:
        return list(topic.teach.practice if step == "practice" else topic.teach.quiz)

    def _header(self, ctx: ModeContext, topic: Topic) -> str:
        _ = tr(ctx.lang)
        d = ctx.data
        step = TEACH_STEPS[d["step"]]
        names = {"intro": _("Introduction"), "explanation": _("Explanation"), "example": _("Example"),
                 "practice": _("Practice"), "quiz": _("Quiz"), "recap": _("Recap")}
        head = _("Step {n}/{total}").format(n=d["step"] + 1, total=STEPS) + f" {names[step]}"
        if step in QUESTION_STEPS and len(self._questions(topic, step)) > 1:
            head += f" ({d['q'] + 1}/{len(self._questions(topic, step))})"
        if d["step"] == 0:
            head = f"{title(ctx.pack, topic, ctx.lang)}\n{head}"
        return head

    def _show(self, ctx: ModeContext, topic: Topic, note: str = "") -> ModeResult:
        d = ctx.data
        step = TEACH_STEPS[d["step"]]
        _ = tr(ctx.lang)
        label = _("{topic}, step {n} of {total}").format(topic=title(ctx.pack, topic, ctx.lang), n=d["step"] + 1,
                                                         total=STEPS)
        header = self._header(ctx, topic)
        if step in QUESTION_STEPS and not d["answered"]:
            q = self._questions(topic, step)[d["q"]]
            d.setdefault("shown_at", iso(ctx.now))
            return ModeResult(reply=question_reply(ctx.pack, q, ctx.lang, header, prefix=note), progress_label=label)
        if step in QUESTION_STEPS:
            text = "\n".join(p for p in (note, header, d["feedback"]) if p)
            return ModeResult(reply=Reply(text=text, options=[next_option(ctx.lang)]), progress_label=label)
        body = ctx.pack.text(getattr(topic.teach, step), ctx.lang)
        if step == "recap":
            score = _("Quiz: {score}/{total}.").format(score=d["score"], total=len(topic.teach.quiz))
            extra = [score, mastery_line(ctx, topic), motivation_line(ctx)]
            text = "\n".join(p for p in (header, body, *extra) if p)
            return ModeResult(reply=Reply(text=text), done=True, progress_label=label)
        text = "\n".join(p for p in (note, header, body) if p)
        return ModeResult(reply=Reply(text=text, options=[next_option(ctx.lang)]), progress_label=label)
