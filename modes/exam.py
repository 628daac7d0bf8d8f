"""Exam prep: a short mixed quiz over the subject's topics, weighted towards the student's
weakest skills, one try per question, then a score and the topics to revisit.

The questions are drawn once at the start (weight = 1 - P(known) + a floor, so a mastered
skill still appears now and then) and kept in `ctx.data`, so a resumed exam is the same exam.
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
    iso,
    question_reply,
    record_attempt,
    tr,
)
from modes.progress import motivation_line, save_progress, touch_streak
from rag.schema import question_key

EXAM_SIZE = 5
WEIGHT_FLOOR = 0.1
EXAM_TOPIC = "*"  # LessonProgress.topic for an exam over the whole subject


class ExamMode:
    name = "exam"

    def start(self, ctx: ModeContext) -> ModeResult:
        ctx.data.clear()
        known = mastery.all_p_known(ctx.session, ctx.student.id, ctx.pack.pack)
        items, weights = [], []
        for topic in ctx.pack.topics:
            for i, q in enumerate(topic.questions):
                skill = q.skill or topic.skill_ids[0]
                p = known.get(skill, mastery.get_p_known(ctx.session, ctx.student.id, ctx.pack.pack, skill))
                items.append((topic.id, i))
                weights.append(1 - p + WEIGHT_FLOOR)
        rng = random.Random(f"{ctx.student.id}:{ctx.pack.pack}:{ctx.now.isoformat()}")
        chosen = selection.weighted_sample(items, weights, EXAM_SIZE, rng)
        ctx.data.update(items=[list(x) for x in chosen], i=0, score=0, missed=[], shown_at=iso(ctx.now))
        save_progress(ctx, EXAM_TOPIC, self.name, step=0, steps_total=len(chosen), restart=True)
        touch_streak(ctx.student, ctx.now)
        _ = tr(ctx.lang)
        intro = _("Exam practice: {n} questions from {subject}. One try each.").format(
            n=len(chosen), subject=ctx.pack.subject)
        return self._show(ctx, note=intro)

    @staticmethod
    def _in_progress(ctx: ModeContext) -> bool:
        """An exam is under way, and its questions still exist (a pack may have been replaced)."""
        d = ctx.data
        if "items" not in d or d["i"] >= len(d["items"]):
            return False
        for topic_id, idx in d["items"]:
            topic = ctx.pack.topic(topic_id)
            if topic is None or idx >= len(topic.questions):
                return False
        return True

    def resume(self, ctx: ModeContext) -> ModeResult:
        return self._show(ctx) if self._in_progress(ctx) else self.start(ctx)

    def handle(self, ctx: ModeContext, text: str) -> ModeResult:
        if not self._in_progress(ctx):
            return self.start(ctx)
        _ = tr(ctx.lang)
        d = ctx.data
        topic_id, idx = d["items"][d["i"]]
        topic = ctx.pack.topic(topic_id)
        q = topic.questions[idx]
        if is_hint(text):
            return self._show(ctx, note=_("No hints in an exam. Give it your best try!"))
        result = check_answer(text, q, ctx.lang)
        if result.reason in ("empty", "unreadable") and q.choices:
            return self._show(ctx, note=_("Reply with the number of your choice."))
        touch_streak(ctx.student, ctx.now)
        fb = feedback(ctx.pack, q, ctx.lang, result)
        record_attempt(ctx, topic=topic, q=q, key=question_key(topic.id, "bank", idx), mode=self.name, given=text,
                       result=result, first=True, hints=0, shown_at=from_iso(d.get("shown_at")), feedback_text=fb)
        d["score"] += 1 if result.correct else 0
        if not result.correct and topic_id not in d["missed"]:
            d["missed"].append(topic_id)
        d["i"] += 1
        d["shown_at"] = iso(ctx.now)
        total = len(d["items"])
        finished = d["i"] >= total
        save_progress(ctx, EXAM_TOPIC, self.name, step=d["i"], steps_total=total,
                      mastery_value=d["score"] / total if finished else None, completed=finished)
        if finished:
            return self._finish(ctx, fb)
        return self._show(ctx, note=fb)

    def _finish(self, ctx: ModeContext, last_feedback: str) -> ModeResult:
        _ = tr(ctx.lang)
        d = ctx.data
        total = len(d["items"])
        lines = [last_feedback, _("Exam score: {score}/{total} ({percent}%).").format(
            score=d["score"], total=total, percent=round(100 * d["score"] / total) if total else 0)]
        if d["missed"]:
            names = ", ".join(ctx.pack.text(ctx.pack.topic(t).title, ctx.lang) for t in d["missed"])
            lines.append(_("Topics to revisit: {topics}.").format(topics=names))
        else:
            lines.append(_("Excellent! Nothing to revisit."))
        lines.append(motivation_line(ctx))
        return ModeResult(reply=Reply(text="\n".join(x for x in lines if x)), done=True,
                          progress_label=self._label(ctx))

    def _label(self, ctx: ModeContext) -> str:
        _ = tr(ctx.lang)
        d = ctx.data
        return _("Exam practice, question {n} of {total}").format(
            n=min(d.get("i", 0) + 1, len(d.get("items", [])) or 1), total=len(d.get("items", [])))

    def _show(self, ctx: ModeContext, note: str = "") -> ModeResult:
        _ = tr(ctx.lang)
        d = ctx.data
        if not d["items"]:
            return ModeResult(reply=Reply(text=_("There are no questions for this subject yet.")), done=True)
        topic_id, idx = d["items"][d["i"]]
        topic = ctx.pack.topic(topic_id)
        header = _("Question {n}/{total}").format(n=d["i"] + 1, total=len(d["items"]))
        reply = question_reply(ctx.pack, topic.questions[idx], ctx.lang, header, prefix=note)
        reply.footer = ""  # no hints in an exam
        return ModeResult(reply=reply, progress_label=self._label(ctx))
