"""Teach: intro → explanation → example → practice → quiz → recap, strictly in order.

The student cannot skip: NEXT (or option 1) moves on only from a finished step; on the
practice and quiz steps every question must be answered first. Where the student is lives
in `ctx.data` (the conversation state), so a dropped session resumes on the same step, and
in a LessonProgress row, which teachers and the admin read.

Over SMS (each reply a paid message, each turn one more for the student) the lesson flows:
the reading steps go out together with the first question in one reply when they fit in the
reply's parts; when they do not, they are spread over the fewest SMS parts, so a reply may
stop inside a step (after a sentence where it can; NEXT goes on from there, `cut` in
`ctx.data`). An answer's feedback comes with the next question (or the recap) instead of a
"1. Next" turn. The order stays the same and `ctx.data` and the progress row end on the step
shown last, exactly as if the student had pressed NEXT through them. USSD screens and
WhatsApp stay step by step.
"""

from __future__ import annotations

from core.messages import Reply
from modes import mastery, sms_flow
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
from modes.progress import motivation_line, save_progress, save_progress_and_mastery, touch_streak
from rag.schema import TEACH_STEPS, TeachQuestion, Topic, question_key

STEPS = len(TEACH_STEPS)
QUESTION_STEPS = ("practice", "quiz")
READING_STEPS = ("intro", "explanation", "example")
PRACTICE_TRIES = 2  # a practice question may be tried twice; a quiz question once


class TeachMode:
    name = "teach"

    def start(self, ctx: ModeContext) -> ModeResult:
        topic = topic_of(ctx)
        ctx.data.clear()
        ctx.data.update(step=0, q=0, answered=False, tries=0, hints=0, score=0, feedback="")
        touch_streak(ctx.student, ctx.now)
        if not sms_flow.flows(ctx):
            save_progress(ctx, topic.id, self.name, step=1, steps_total=STEPS, restart=True)
            return self._show(ctx, topic)
        result = self._flow(ctx, topic)
        self._save(ctx, topic, restart=True)
        summary = ctx.pack.text(topic.summary, ctx.lang) if topic.summary else ""
        sms_flow.fill(result.reply, [summary, *self._extras(ctx, topic, None)], after=title(ctx.pack, topic, ctx.lang))
        return result

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
    def _step_on(self, ctx: ModeContext, topic: Topic) -> None:
        """One step (or question) further in `ctx.data`, nothing stored yet."""
        d = ctx.data
        step = TEACH_STEPS[d["step"]]
        if step in QUESTION_STEPS and d["q"] + 1 < len(self._questions(topic, step)):
            d["q"] += 1
        else:
            d["step"], d["q"] = d["step"] + 1, 0
        d.update(answered=False, tries=0, hints=0, feedback="")
        d.pop("shown_at", None)
        d.pop("cut", None)

    def _save(self, ctx: ModeContext, topic: Topic, *, restart: bool = False) -> float | None:
        """The progress row on the step in `ctx.data`; the topic's mastery once past the first step."""
        d = ctx.data
        done = TEACH_STEPS[d["step"]] == "recap"
        if not restart:  # the mastery computed by the progress write (one statement on PostgreSQL)
            return save_progress_and_mastery(ctx, topic, self.name, step=d["step"] + 1, steps_total=STEPS,
                                             completed=done)
        value = None
        if d["step"] != 0:
            value = mastery.topic_mastery(ctx.session, ctx.student.id, ctx.pack.pack, topic.skill_ids)
        save_progress(ctx, topic.id, self.name, step=d["step"] + 1, steps_total=STEPS, mastery_value=value,
                      completed=done, restart=restart)
        return value

    def _advance(self, ctx: ModeContext, topic: Topic) -> ModeResult:
        going_on = sms_flow.flows(ctx) and ctx.data.get("cut")  # the rest of a step the last reply stopped in
        if not going_on:
            self._step_on(ctx, topic)
        if not sms_flow.flows(ctx):
            self._save(ctx, topic)
            return self._show(ctx, topic)
        first = ctx.data["step"] + (1 if going_on else 0)
        result = self._flow(ctx, topic)
        self._save(ctx, topic)
        if not result.done:
            sms_flow.fill(result.reply, self._extras(ctx, topic, None), before=self._header(ctx, topic, first))
        return result

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
        if not retry and sms_flow.flows(ctx):
            moved = self._feedback_and_next(ctx, topic, q, fb)
            if moved is not None:
                return moved
        save_progress(ctx, topic.id, self.name, step=d["step"] + 1, steps_total=STEPS)
        if retry:
            return self._show(ctx, topic, note=fb)
        d["feedback"] = fb
        return self._show(ctx, topic)

    def _feedback_and_next(self, ctx: ModeContext, topic: Topic, q: TeachQuestion, fb: str) -> ModeResult | None:
        """Over SMS: the answer's feedback and the next question (or the recap that ends the
        lesson) in one reply, as a NEXT after the feedback would show them. None when that
        would not fit in one reply: then the feedback goes out alone with "1. Next"."""
        d = ctx.data
        before = dict(d)
        self._step_on(ctx, topic)
        result = self._show(ctx, topic, note=fb)
        if not sms_flow.fits(ctx, result.reply, reserve=sms_flow.MENU_RESERVE if result.done else 0):
            d.clear()
            d.update(before)  # also forgets the motivation line the recap took
            return None
        value = self._save(ctx, topic)
        why = "" if q.explanation else ctx.pack.text(q.hint, ctx.lang)
        sms_flow.fill(result.reply, [why], after=fb)
        if result.done:
            sms_flow.fill(result.reply, self._extras(ctx, topic, None, done=True),
                          after=result.reply.text.rsplit("\n", 1)[-1])
        else:
            sms_flow.fill(result.reply, self._extras(ctx, topic, value), after=fb)
        return result

    def _extras(self, ctx: ModeContext, topic: Topic, value: float | None, *, done: bool = False) -> list[str]:
        """Optional lines for the room left in a reply's last SMS part, most useful first: the
        next topic when a lesson ends, the topic's mastery after an answer (`value`; not before
        the first answer, when it is only the prior), the streak, how to leave the lesson."""
        _ = tr(ctx.lang)
        lines = []
        if done:
            ids = [t.id for t in ctx.pack.topics]
            after = ids.index(topic.id) + 1 if topic.id in ids else len(ids)
            if after < len(ids):
                lines.append(_("Next topic: {topic}").format(topic=title(ctx.pack, ctx.pack.topics[after], ctx.lang)))
        if value is not None:
            lines.append(_("{topic}: {percent}% mastered").format(
                topic=title(ctx.pack, topic, ctx.lang), percent=int(round(value * 100))))
        streak = ctx.student.streak_days or 0
        if streak >= 2:
            lines.append(_("{days}-day streak! Keep it up.").format(days=streak))
        if not done:
            lines.append(_("Reply MENU to stop."))
        return lines

    # -- showing ----------------------------------------------------------------------------
    @staticmethod
    def _questions(topic: Topic, step: str) -> list[TeachQuestion]:
        return list(topic.teach.practice if step == "practice" else topic.teach.quiz)

    def _header(self, ctx: ModeContext, topic: Topic, index: int | None = None) -> str:
        _ = tr(ctx.lang)
        d = ctx.data
        index = d["step"] if index is None else index
        step = TEACH_STEPS[index]
        names = {"intro": _("Introduction"), "explanation": _("Explanation"), "example": _("Example"),
                 "practice": _("Practice"), "quiz": _("Quiz"), "recap": _("Recap")}
        head = _("Step {n}/{total}").format(n=index + 1, total=STEPS) + f" {names[step]}"
        if step in QUESTION_STEPS and len(self._questions(topic, step)) > 1:
            head += f" ({d['q'] + 1}/{len(self._questions(topic, step))})"
        if index == 0:
            head = f"{title(ctx.pack, topic, ctx.lang)}\n{head}"
        return head

    def _reading(self, ctx: ModeContext, topic: Topic, index: int) -> str:
        body = ctx.pack.text(getattr(topic.teach, TEACH_STEPS[index]), ctx.lang)
        return "\n".join(p for p in (self._header(ctx, topic, index), body) if p)

    def _flow(self, ctx: ModeContext, topic: Topic) -> ModeResult:
        """Over SMS: the current step and each following step up to the next question, in as
        few SMS parts as `sms_flow.plan_reading` finds; when they do not fit in one reply, this
        reply stops where that plan says (maybe inside a step: `cut` keeps where the next one
        starts). `ctx.data` ends on the last step shown."""
        d = ctx.data
        first, offset = d["step"], d.pop("cut", 0)
        if TEACH_STEPS[first] not in READING_STEPS:
            return self._show(ctx, topic)
        question = first
        while TEACH_STEPS[question] in READING_STEPS:
            question += 1
        texts = [self._reading(ctx, topic, i) for i in range(first, question)]
        heads = [len(self._header(ctx, topic, i)) for i in range(first, question)]
        offset = sms_flow.resume_at(texts[0], offset)

        def last(prefix: str) -> Reply:
            d["step"] = question
            reply = self._show(ctx, topic, note=prefix).reply
            d["step"] = first
            d.pop("shown_at", None)
            return reply

        def more(prefix: str) -> Reply:
            return Reply(text=prefix, options=[next_option(ctx.lang)])

        cut = sms_flow.plan_reading(ctx, texts, heads, start=offset, last=last, more=more)
        if cut is None:
            d["step"] = question
            return self._show(ctx, topic, note=sms_flow.between(texts, 0, offset, len(texts) - 1, len(texts[-1])))
        shown = sms_flow.between(texts, 0, offset, cut.step, cut.offset)
        if cut.offset < len(texts[cut.step]):
            d["cut"] = cut.offset
            shown += sms_flow.CONTINUED if cut.kind == sms_flow.WORD else ""
        d["step"] = first + cut.step
        return ModeResult(reply=more(shown), progress_label=self._label(ctx, topic))

    def _label(self, ctx: ModeContext, topic: Topic) -> str:
        _ = tr(ctx.lang)
        return _("{topic}, step {n} of {total}").format(topic=title(ctx.pack, topic, ctx.lang), n=ctx.data["step"] + 1,
                                                        total=STEPS)

    def _show(self, ctx: ModeContext, topic: Topic, note: str = "") -> ModeResult:
        d = ctx.data
        step = TEACH_STEPS[d["step"]]
        _ = tr(ctx.lang)
        label = self._label(ctx, topic)
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
            extra = [mastery_line(ctx, topic), motivation_line(ctx)]
            if not sms_flow.flows(ctx):
                text = "\n".join(p for p in (note, header, body, score, *extra) if p)
                return ModeResult(reply=Reply(text=text), done=True, progress_label=label)
            # Over SMS the mastery and motivation lines take the room left, not a part of their own.
            text = "\n".join(p for p in (note, header, body, score) if p)
            reply = sms_flow.fill(Reply(text=text), extra, after=score)
            return ModeResult(reply=reply, done=True, progress_label=label)
        d.pop("cut", None)  # the whole step is shown: NEXT goes on from its end
        text = "\n".join(p for p in (note, header, body) if p)
        return ModeResult(reply=Reply(text=text, options=[next_option(ctx.lang)]), progress_label=label)
