"""Grounded answers to a student's question.

Contract (Explore mode, the admin's "ask" box and `somo curriculum ask` call this):

    answer_question(runtime, session, question: str, *, pack: str, topic: str | None, lang: str,
                    budget_chars: int, channel: str, class_id: int | None = None,
                    allow_llm: bool | None = None) -> Answer

`Answer.text` is final: PII-redacted, within `budget_chars`, with the source citation
appended (a short form on SMS and USSD). Scope is the topic first, then the subject
(the whole pack). Order of work: injection guard, cache, retrieval, off-topic check,
then the LLM (when configured and allowed) or the offline extractive answerer; an LLM
failure or timeout falls back to the extractive answer (`fell_back`). Without
curriculum context the tutor does not answer: it redirects to the topic.

`allow_llm` defaults to "not on USSD": USSD must answer within the operator's deadline,
so there the call never touches the network (no LLM, no query embedding) and takes a
few milliseconds; callers that want a generated answer for a USSD question run this
again off the USSD path with allow_llm=True.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.i18n import translator
from core.models import CurriculumPack
from core.observability import count_llm_fallback
from core.runtime import Runtime
from rag import cache, llm
from rag.extractive import extract, trim
from rag.guards import is_injection, redact_pii
from rag.prompt import NO_ANSWER, build_messages
from rag.retrieve import Retrieval, retrieve
from rag.rules import applicable_rules
from rag.schema import Pack
from rag.store import get_pack

log = logging.getLogger(__name__)
SHORT_CITATION_CHANNELS = frozenset({"sms", "ussd"})
SECTION_NAMES = {"reference": "notes", "summary": "summary", "intro": "introduction",
                 "explanation": "explanation", "example": "example", "recap": "recap"}


@dataclass
class Source:
    pack: str
    topic: str
    section: str
    score: float
    chunk_id: int
    coverage: float = 0.0


@dataclass
class Answer:
    text: str
    grounded: bool
    off_topic: bool = False
    injection: bool = False
    sources: list[Source] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    used_llm: bool = False
    fell_back: bool = False
    cached: bool = False
    scope: str = ""
    retrieval_ms: float = 0.0
    error: str | None = None  # why the LLM was not used, when it failed

    @classmethod
    def from_dict(cls, data: dict) -> Answer:
        return cls(**{**data, "sources": [Source(**s) for s in data.get("sources", [])]})


def _t(lang: str):
    return translator(lang, "rag").gettext


def citation(pack: Pack, source: Source, lang: str, channel: str) -> str:
    _ = _t(lang)
    topic = pack.topic(source.topic)
    title = pack.text(topic.title, lang) if topic else source.topic
    section = _(SECTION_NAMES.get(source.section, source.section))
    if channel in SHORT_CITATION_CHANNELS:
        return f"[{title}, {section}]"
    return _("Source: {topic}, {section}").format(topic=title, section=section)


def redirect(pack: Pack | None, topic: str | None, lang: str, *, injection: bool = False) -> str:
    _ = _t(lang)
    subject = _(pack.subject) if pack else ""
    t = pack.topic(topic) if pack and topic else None
    title = pack.text(t.title, lang) if t else None
    if pack is None:
        return _("Lessons for this subject are not loaded yet. Please ask your teacher.")
    if injection:
        if title:
            return _("I am your study helper, so I only answer questions about your lessons. Ask me about {topic}.").format(topic=title)
        return _("I am your study helper, so I only answer questions about your lessons. Ask me about your {subject} topics.").format(subject=subject)
    if title:
        return _("I can only answer questions from your {subject} lessons. Let us stay with {topic}: ask me about it, or reply MENU.").format(subject=subject, topic=title)
    return _("I can only answer questions from your {subject} lessons. Ask me about a topic you are learning, or reply MENU.").format(subject=subject)


def _finish(body: str, cite: str, budget: int) -> str:
    """PII-redacted body plus citation, within the budget (the citation is kept whole when it fits)."""
    body = redact_pii(body)
    if len(cite) + 1 >= budget:
        return trim(body, budget)
    return trim(body, budget - len(cite) - 1) + "\n" + cite


def answer_question(runtime: Runtime, session: Session, question: str, *, pack: str, topic: str | None,
                    lang: str, budget_chars: int, channel: str, class_id: int | None = None,
                    allow_llm: bool | None = None) -> Answer:
    """What the tutor answers to `question` in this scope; see the module docstring."""
    if budget_chars < 20:
        raise ValueError(f"budget_chars must be at least 20, got {budget_chars}")
    the_pack = get_pack(session, pack)
    if the_pack is None:
        log.warning("answer_question: pack %r is not imported", pack)
        return Answer(text=redirect(None, None, lang), grounded=False, off_topic=True)
    if topic is not None and the_pack.topic(topic) is None:
        topic = None  # an unknown topic widens the scope to the subject
    question = (question or "").strip()
    if is_injection(question):
        return Answer(text=redirect(the_pack, topic, lang, injection=True), grounded=False, injection=True)
    if not question:
        return Answer(text=redirect(the_pack, topic, lang), grounded=False, off_topic=True)
    if allow_llm is None:
        allow_llm = channel != "ussd"
    allow_llm = allow_llm and llm.chat_enabled(runtime)
    rules = applicable_rules(session, pack=pack, subject=the_pack.subject, topic=topic, class_id=class_id)
    checksum = session.scalar(select(CurriculumPack.checksum).where(CurriculumPack.pack == pack))
    key = cache.key_for(question, pack=pack, topic=topic, class_id=class_id, lang=lang, channel=channel,
                        budget=budget_chars, llm=allow_llm, checksum=checksum, rules=rules.digest())
    hit = cache.get(runtime, key)
    if hit is not None:
        answer = Answer.from_dict(hit)
        answer.cached, answer.tokens_in, answer.tokens_out, answer.cost_usd = True, 0, 0, 0.0
        return answer
    found = retrieve(runtime, session, question, pack=pack, topic=topic, lang=lang, allow_network=allow_llm)
    answer = _answer(runtime, the_pack, found, question, topic, lang, budget_chars, channel, rules, allow_llm)
    if answer.error is None:  # a fallback is not cached, so the LLM is tried again next time
        cache.put(runtime, key, asdict(answer))
    return answer


def _answer(runtime: Runtime, pack: Pack, found: Retrieval, question: str, topic: str | None, lang: str,
            budget: int, channel: str, rules, allow_llm: bool) -> Answer:
    sources = [Source(h.pack, h.topic, h.section, round(h.score, 4), h.chunk_id, round(h.coverage, 4))
               for h in found.used]
    meta = dict(scope=found.scope, retrieval_ms=round(found.latency_ms, 2))
    if found.off_topic:
        return Answer(text=redirect(pack, topic, lang), grounded=False, off_topic=True, sources=sources, **meta)
    room = max(budget - len(citation(pack, sources[0], lang, channel)) - 1, 20)
    body, best = extract(question, found.used, room, found.lang)
    cite = citation(pack, sources[best], lang, channel)
    if allow_llm:
        titles = {t.id: pack.text(t.title, lang) for t in pack.topics}
        t = pack.topic(topic) if topic else None
        messages = build_messages(
            question=question, hits=found.used, rules=rules, lang=lang, budget=room, titles=titles,
            topic_title=pack.text(t.title, lang) if t else None,
            pack_meta=dict(subject=pack.subject, grade=pack.grade, curriculum=pack.curriculum, country=pack.country))
        max_tokens = min(rules.max_tokens, room // 3 + 32)
        try:
            done = llm.chat(runtime, messages, max_tokens=max_tokens, temperature=rules.temperature)
        except llm.LLMError as exc:
            log.warning("LLM answer failed, answering offline: %s", exc)
            count_llm_fallback("timeout" if "timed out" in str(exc) else "error")
            return Answer(text=_finish(body, cite, budget), grounded=True, sources=sources, fell_back=True,
                          error=str(exc), **meta)
        spent = dict(tokens_in=done.tokens_in, tokens_out=done.tokens_out, cost_usd=round(done.cost_usd, 8))
        if NO_ANSWER in done.text:
            return Answer(text=redirect(pack, topic, lang), grounded=False, off_topic=True, sources=sources,
                          used_llm=True, **spent, **meta)
        cite = citation(pack, sources[0], lang, channel)  # the model leans on the best-ranked passage
        return Answer(text=_finish(done.text, cite, budget), grounded=True, sources=sources, used_llm=True,
                      **spent, **meta)
    return Answer(text=_finish(body, cite, budget), grounded=True, sources=sources, **meta)
