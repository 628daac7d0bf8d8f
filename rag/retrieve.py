"""Scoped retrieval: topic first, then the subject (the whole pack); top 5 retrieved, top 3 used.

Scope is chosen by collection (see rag/vectors.py), never by point filters. Packs are
picked by curriculum, country, subject and grade in the relational store.

Off-topic detection needs a score that means the same for every question, and raw
BM25 or RRF scores do not. So each hit also gets a *coverage*: the IDF-weighted share
of the question's content terms that the passage contains (IDF from the pack's whole
collection, with Qdrant's formula). A question whose words the curriculum does not
use gets a low coverage; OFF_TOPIC_COVERAGE was calibrated with bench/rag_eval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import CurriculumPack
from core.observability import observe_retrieval
from core.runtime import Runtime
from rag import llm
from rag.tokenize import query_vector, term_id, tokens
from rag.vectors import Built, vector_index

RETRIEVE_K = 5
USE_K = 3
OFF_TOPIC_COVERAGE = 0.3


@dataclass
class Hit:
    chunk_id: int
    pack: str
    topic: str
    section: str
    position: int
    text: str
    score: float
    coverage: float


@dataclass
class Retrieval:
    question: str
    lang: str
    scope: str  # "topic" | "pack" | "packs" | "none"
    hits: list[Hit] = field(default_factory=list)
    coverage: float = 0.0  # best coverage among the hits
    latency_ms: float = 0.0

    @property
    def off_topic(self) -> bool:
        return not self.hits or self.coverage < OFF_TOPIC_COVERAGE

    @property
    def used(self) -> list[Hit]:
        return self.hits[:USE_K]


def coverage(built: Built, question_terms: list[int], chunk_terms: frozenset[int]) -> float:
    if not question_terms:
        return 0.0
    weights = [built.idf(t) for t in question_terms]
    total = sum(weights)
    got = sum(w for t, w in zip(question_terms, weights, strict=True) if t in chunk_terms)
    return got / total if total else 0.0


def coverage_terms(question: str, lang: str) -> list[int]:
    """The words that say what a question is about: numbers are left out (a sum's figures are
    rarely in the text) unless the question is nothing but numbers."""
    words = tokens(question, lang)
    content = [t for t in words if not t[0].isdigit()] or words
    return sorted({term_id(t) for t in content})


def pack_ids(session: Session, *, curriculum: str | None = None, country: str | None = None,
             subject: str | None = None, grade: int | None = None) -> list[str]:
    """Packs matching the filters (the relational side of scoping)."""
    q = select(CurriculumPack.pack).where(CurriculumPack.index_status == "indexed")
    if curriculum:
        q = q.where(CurriculumPack.curriculum == curriculum)
    if country:
        q = q.where(CurriculumPack.country == country.upper())
    if subject:
        q = q.where(func.lower(CurriculumPack.subject) == subject.lower())  # any case; % and _ literal
    if grade is not None:
        q = q.where(CurriculumPack.grade == grade)
    return list(session.scalars(q.order_by(CurriculumPack.pack)))


def _languages(session: Session, pack: str, lang: str) -> list[str]:
    langs = session.scalar(select(CurriculumPack.languages).where(CurriculumPack.pack == pack)) or []
    order = [lang] if lang in langs else []
    return order + [x for x in langs[:1] if x not in order]


def _search_one(runtime: Runtime, session: Session, question: str, pack: str, topic: str | None,
                lang: str, dense: list[float] | None, limit: int) -> tuple[list[Hit], float]:
    """Hits in one scope, in the student's language or else the pack's first language."""
    index = vector_index(runtime)
    for language in _languages(session, pack, lang):
        qterms = coverage_terms(question, language)
        built = index.collection(session, pack, language, topic)
        if built is None:
            continue
        whole = index.collection(session, pack, language) if topic else built
        points = index.search(built, query_vector(question, language), dense, limit)
        hits = [Hit(int(p.id), pack, p.payload["topic"], p.payload["section"], p.payload["position"],
                    p.payload["text"], float(p.score), coverage(whole, qterms, built.terms.get(int(p.id), frozenset())))
                for p in points]
        if hits:
            return hits, max(h.coverage for h in hits)
    return [], 0.0


def query_embedding(runtime: Runtime, question: str, allow_network: bool) -> list[float] | None:
    if not allow_network or not llm.embeddings_enabled(runtime):
        return None
    try:
        return llm.embed(runtime, [question])[0]
    except llm.LLMError:
        return None  # BM25 alone still answers


def retrieve(runtime: Runtime, session: Session, question: str, *, pack: str | None = None,
             topic: str | None = None, lang: str = "en", packs: list[str] | None = None,
             allow_network: bool = True, limit: int = RETRIEVE_K) -> Retrieval:
    """Topic first; when the topic has nothing relevant, the whole pack (the subject)."""
    started = time.perf_counter()
    dense = query_embedding(runtime, question, allow_network)
    result = Retrieval(question=question, lang=lang, scope="none")
    if pack is not None and topic:
        hits, cov = _search_one(runtime, session, question, pack, topic, lang, dense, limit)
        result = Retrieval(question, lang, "topic", hits, cov)
    if pack is not None and result.off_topic:
        hits, cov = _search_one(runtime, session, question, pack, None, lang, dense, limit)
        if hits and (not result.hits or cov > result.coverage):
            result = Retrieval(question, lang, "pack", hits, cov)
    if pack is None:
        merged: list[Hit] = []
        for pid in packs if packs is not None else pack_ids(session):
            merged.extend(_search_one(runtime, session, question, pid, None, lang, dense, limit)[0])
        merged.sort(key=lambda h: (h.coverage, h.score), reverse=True)
        result = Retrieval(question, lang, "packs", merged[:limit], max((h.coverage for h in merged), default=0.0))
    elapsed = time.perf_counter() - started
    observe_retrieval(elapsed)
    result.latency_ms = elapsed * 1000
    return result
