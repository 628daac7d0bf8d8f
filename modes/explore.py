"""Explore: the student asks, the tutor answers from the curriculum (topic first, then the
subject) with a short citation; off-topic questions get a polite redirect (rag decides).

USSD must answer within the operator's deadline, so no LLM runs on that path: a quick
offline pass screens the question (an off-topic one is redirected on screen), and an
on-topic one is acknowledged on screen while a job writes the full answer and sends it
by SMS (`modes.jobs.explore_answer_by_sms`).
"""

from __future__ import annotations

from core.messages import Reply
from modes.base import ModeContext, ModeResult
from modes.common import title, topic_of, tr, word
from modes.progress import save_progress, touch_streak
from rag.answering import answer_question

BUDGETS = {"sms": 450, "whatsapp": 1500, "console": 600, "ussd": 150}  # characters per answer
JOB = "modes.jobs.explore_answer_by_sms"


class ExploreMode:
    name = "explore"

    def start(self, ctx: ModeContext) -> ModeResult:
        topic = topic_of(ctx)
        ctx.data.clear()
        ctx.data.update(asked=0)
        _ = tr(ctx.lang)
        text = _("Explore: {topic}. Ask me any question about it.").format(topic=title(ctx.pack, topic, ctx.lang))
        return ModeResult(reply=Reply(text=text, expects_answer=True, footer=_("Reply MENU to stop.")),
                          progress_label=text.split(".")[0])

    def resume(self, ctx: ModeContext) -> ModeResult:
        return self.start(ctx) if "asked" not in ctx.data else self._prompt(ctx)

    def handle(self, ctx: ModeContext, text: str) -> ModeResult:
        topic = topic_of(ctx)
        ctx.data.setdefault("asked", 0)
        question = (text or "").strip()
        if not word(question):
            return self._prompt(ctx)
        touch_streak(ctx.student, ctx.now)
        ctx.data["asked"] += 1
        save_progress(ctx, topic.id, self.name, step=ctx.data["asked"], steps_total=0)
        if ctx.channel == "ussd":
            return self._ussd(ctx, topic.id, question)
        answer = answer_question(ctx.runtime, ctx.session, question, pack=ctx.pack.pack, topic=topic.id,
                                 lang=ctx.lang, budget_chars=BUDGETS.get(ctx.channel, 450), channel=ctx.channel,
                                 class_id=ctx.class_id)
        _ = tr(ctx.lang)
        reply = Reply(text=answer.text, expects_answer=True, footer=_("Ask another question, or reply MENU."),
                      meta=_meta(answer))
        return ModeResult(reply=reply, progress_label=self._label(ctx))

    def _ussd(self, ctx: ModeContext, topic_id: str, question: str) -> ModeResult:
        quick = answer_question(ctx.runtime, ctx.session, question, pack=ctx.pack.pack, topic=topic_id,
                                lang=ctx.lang, budget_chars=BUDGETS["ussd"], channel="ussd", class_id=ctx.class_id,
                                allow_llm=False)
        _ = tr(ctx.lang)
        if quick.off_topic or quick.injection:
            return ModeResult(reply=Reply(text=quick.text, expects_answer=True, meta=_meta(quick)),
                              progress_label=self._label(ctx))
        ack = _("Good question! The answer will come to you by SMS in a moment.")
        job = (JOB, (ctx.student.id, question, ctx.pack.pack, topic_id, ctx.lang, ctx.class_id))
        return ModeResult(reply=Reply(text=ack, end_session=True), jobs=[job], progress_label=self._label(ctx))

    def _prompt(self, ctx: ModeContext) -> ModeResult:
        _ = tr(ctx.lang)
        return ModeResult(reply=Reply(text=_("Ask me a question about this topic."), expects_answer=True,
                                      footer=_("Reply MENU to stop.")), progress_label=self._label(ctx))

    def _label(self, ctx: ModeContext) -> str:
        topic = ctx.pack.topic(ctx.topic_id)
        name = title(ctx.pack, topic, ctx.lang) if topic else ctx.topic_id
        _ = tr(ctx.lang)
        return _("Explore: {topic}").format(topic=name)


def _meta(answer) -> dict:
    return {"grounded": answer.grounded, "off_topic": answer.off_topic, "tokens_in": answer.tokens_in,
            "tokens_out": answer.tokens_out, "cost_usd": answer.cost_usd, "used_llm": answer.used_llm,
            "sources": [f"{s.pack}/{s.topic}/{s.section}" for s in answer.sources]}
