"""Practice: one bank question at a time, immediate feedback with the explanation, HINT
counted, difficulty adapting to the running accuracy, mastery (BKT) shown after each answer.

A round is ROUND questions, then a summary. Which questions were asked is read from the
stored attempts, so nothing repeats until the topic's bank is used up, across sessions too.
"""

from __future__ import annotations

import random

from core.messages import Reply
from modes import mastery, selection
from modes.base import ModeContext, ModeResult
from modes.common import (
    check_answer,
    feedback,
    from_iso,
    is_hint,
    is_next,
    iso,
    mastery_line,
    question_reply,
    record_attempt,
    title,
    topic_of,
    tr,
)
from modes.progress import motivation_line, save_progress, save_progress_and_mastery, touch_streak
from rag.schema import BankQuestion, Topic, question_key

ROUND = 10


class PracticeMode:
    name = "practice"

    def start(self, ctx: ModeContext) -> ModeResult:
        topic = topic_of(ctx)
        ctx.data.clear()
        p = mastery.topic_mastery(ctx.session, ctx.student.id, ctx.pack.pack, topic.skill_ids)
        ctx.data.update(level=selection.start_level(p), recent=[], count=0, right=0, current=None)
        save_progress(ctx, topic.id, self.name, step=0, steps_total=ROUND, mastery_value=p, restart=True)
        touch_streak(ctx.student, ctx.now)
        self._next_question(ctx, topic)
        return self._show(ctx, topic)

    def resume(self, ctx: ModeContext) -> ModeResult:
        topic = topic_of(ctx)
        if not ctx.data.get("current"):
            return self.start(ctx)
        return self._show(ctx, topic)

    def handle(self, ctx: ModeContext, text: str) -> ModeResult:
        topic = topic_of(ctx)
        if not ctx.data.get("current"):
            return self.start(ctx)
        touch_streak(ctx.student, ctx.now)
        _ = tr(ctx.lang)
        cur = ctx.data["current"]
        q = topic.questions[cur["i"]]
        if is_hint(text):
            cur["hints"] += 1
            hint = ctx.pack.text(q.hint, ctx.lang) or _("No hint for this one. Try your best!")
            return self._show(ctx, topic, note=_("Hint: {hint}").format(hint=hint))
        if is_next(text, option_shown=False):
            return self._show(ctx, topic, note=_("Answer the question first, then you can go on."))
        result = check_answer(text, q, ctx.lang)
        if result.reason in ("empty", "unreadable") and q.choices:
            return self._show(ctx, topic, note=_("Reply with the number of your choice."))
        return self._score(ctx, topic, q, text, result)

    def _score(self, ctx: ModeContext, topic: Topic, q: BankQuestion, text: str, result) -> ModeResult:
        d, cur = ctx.data, ctx.data["current"]
        fb = feedback(ctx.pack, q, ctx.lang, result)
        record_attempt(ctx, topic=topic, q=q, key=cur["key"], mode=self.name, given=text, result=result, first=True,
                       hints=cur["hints"], shown_at=from_iso(cur.get("shown_at")), feedback_text=fb)
        unaided = result.correct and cur["hints"] == 0
        d["recent"].append(unaided)
        d["count"] += 1
        d["right"] += 1 if result.correct else 0
        level = selection.next_level(d["level"], d["recent"])
        if level != d["level"]:
            d["level"], d["recent"] = level, []
        done = d["count"] >= ROUND
        p = save_progress_and_mastery(ctx, topic, self.name, step=d["count"], steps_total=ROUND, completed=done)
        lines = [fb, mastery_line(ctx, topic, p)]
        if done:
            _ = tr(ctx.lang)
            d["current"] = None
            lines += [_("Round done: {right}/{total} right.").format(right=d["right"], total=d["count"]),
                      motivation_line(ctx)]
            return ModeResult(reply=Reply(text="\n".join(x for x in lines if x)), done=True,
                              progress_label=self._label(ctx, topic))
        self._next_question(ctx, topic)
        return self._show(ctx, topic, note="\n".join(lines))

    def _next_question(self, ctx: ModeContext, topic: Topic) -> None:
        d = ctx.data
        keys = [question_key(topic.id, "bank", i) for i in range(len(topic.questions))]
        counts = selection.asked_counts(ctx.session, ctx.student.id, ctx.pack.pack, topic.id, self.name)
        last = d["current"]["key"] if d.get("current") else d.get("last_key")
        rng = random.Random(f"{ctx.student.id}:{topic.id}:{sum(counts.values())}")
        i = selection.pick_question(topic.questions, keys, counts, d["level"], rng, avoid=last)
        d["current"] = {"i": i, "key": keys[i], "hints": 0, "shown_at": iso(ctx.now)}
        d["last_key"] = keys[i]

    def _label(self, ctx: ModeContext, topic: Topic) -> str:
        _ = tr(ctx.lang)
        return _("{topic}, practice {n} of {total}").format(
            topic=title(ctx.pack, topic, ctx.lang), n=min(ctx.data.get("count", 0) + 1, ROUND), total=ROUND)

    def _show(self, ctx: ModeContext, topic: Topic, note: str = "") -> ModeResult:
        _ = tr(ctx.lang)
        d = ctx.data
        q = topic.questions[d["current"]["i"]]
        header = _("Question {n}/{total}, level {level}").format(n=d["count"] + 1, total=ROUND, level=d["level"])
        if d["count"] == 0 and not note:
            header = f"{_('Practice')}: {title(ctx.pack, topic, ctx.lang)}\n{header}"
        reply = question_reply(ctx.pack, q, ctx.lang, header, prefix=note)
        return ModeResult(reply=reply, progress_label=self._label(ctx, topic))
