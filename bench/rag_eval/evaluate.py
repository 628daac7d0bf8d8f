"""The evaluation itself: sample packs, the question set, then a corpus grown with distractors.

Recall@3: an on-topic question, asked in its pack with no topic given (the subject
scope, the harder case), counts as found when one of the three passages used for the
answer belongs to the expected topic. Off-topic: a question is flagged when its best
coverage is under rag.retrieve.OFF_TOPIC_COVERAGE; precision and recall are over the
off-topic set, with on-topic questions as the negatives. The threshold sweep shows
where that constant sits.

Growth: distractor chunks (sentences recombined from the sample packs' own words, so
they compete on vocabulary) are added to the English Mathematics pack until the corpus
holds `grow_to` chunks; then recall and retrieval latency (p50/p95, subject and topic
scope) are measured again, and a Qdrant local-mode payload filter is timed beside our
collection-per-scope design.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

import yaml
from sqlalchemy import func, select

from core.migrate import upgrade
from core.models import Chunk, CurriculumPack
from core.runtime import build_runtime
from core.settings import Settings
from rag import retrieve as rmod
from rag.retrieve import retrieve
from rag.samples import load_sample_packs
from rag.tokenize import doc_vector
from rag.vectors import vector_index

HERE = Path(__file__).resolve().parent
GROW_PACK = "ke-cbc-g6-math"


def questions() -> dict:
    return yaml.safe_load((HERE / "questions.yaml").read_text(encoding="utf-8"))


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure(rt, data: dict) -> dict:
    on, off = data["on_topic"], data["off_topic"]
    found1 = found3 = 0
    misses, on_cov, off_cov, latencies = [], [], [], []
    with rt.session() as session:
        for q in on:
            r = retrieve(rt, session, q["q"], pack=q["pack"], lang=q["lang"], allow_network=False)
            latencies.append(r.latency_ms)
            topics = [h.topic for h in r.used]
            found1 += bool(topics) and topics[0] == q["topic"]
            found3 += q["topic"] in topics
            if q["topic"] not in topics:
                misses.append(f"{q['lang']} {q['q']!r}: expected {q['topic']}, got {topics}")
            on_cov.append(r.coverage)
        for q in off:
            r = retrieve(rt, session, q["q"], pack=q["pack"], lang=q["lang"], allow_network=False)
            latencies.append(r.latency_ms)
            off_cov.append(r.coverage)
    threshold = rmod.OFF_TOPIC_COVERAGE
    sweep = {}
    for t in (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7):
        tp = sum(c < t for c in off_cov)
        fp = sum(c < t for c in on_cov)
        sweep[t] = {"precision": round(tp / (tp + fp), 3) if tp + fp else 0.0, "recall": round(tp / len(off_cov), 3)}
    tp = sum(c < threshold for c in off_cov)
    fp = sum(c < threshold for c in on_cov)
    return {
        "on_topic": len(on), "off_topic": len(off),
        "languages": sorted({q["lang"] for q in on}),
        "recall@1": round(found1 / len(on), 3), "recall@3": round(found3 / len(on), 3),
        "off_topic_threshold": threshold,
        "off_topic_precision": round(tp / (tp + fp), 3) if tp + fp else 0.0,
        "off_topic_recall": round(tp / len(off), 3),
        "threshold_sweep": sweep,
        "latency_ms_p50": round(_pct(latencies, 50), 2), "latency_ms_p95": round(_pct(latencies, 95), 2),
        "misses": misses,
    }


def grow(rt, target: int, seed: int = 7) -> int:
    """Add distractor chunks to GROW_PACK (English) until the corpus holds `target` chunks."""
    rng = random.Random(seed)
    with rt.session() as session:
        total = session.scalar(select(func.count()).select_from(Chunk))
        pack = session.scalar(select(CurriculumPack).where(CurriculumPack.pack == GROW_PACK))
        words = [w for (text,) in session.execute(select(Chunk.text)) for w in text.split() if w.isalpha()]
        need = max(0, target - total)
        rows = []
        for i in range(need):
            body = " ".join(
                " ".join(rng.choice(words) for _ in range(rng.randint(6, 14))).capitalize() + "."
                for _ in range(rng.randint(3, 6)))
            rows.append(dict(pack_id=pack.id, pack=pack.pack, curriculum=pack.curriculum, country=pack.country,
                             subject=pack.subject, grade=pack.grade, topic=f"filler-{i % 200:03d}", language="en",
                             section="reference", position=i, text=body, token_count=len(body.split()),
                             sparse=doc_vector(body), dense=None))
        for start in range(0, len(rows), 1000):
            session.execute(Chunk.__table__.insert(), rows[start:start + 1000])
        pack.checksum = pack.checksum[:52] + f"grown{target:07d}"  # every process rebuilds its collections
        return session.scalar(select(func.count()).select_from(Chunk))


def scoped_latency(rt, data: dict) -> dict:
    """Topic-scope latency in the grown pack: our per-topic collection against a payload filter."""
    from qdrant_client import models

    qs = [q for q in data["on_topic"] if q["pack"] == GROW_PACK and q["lang"] == "en"]
    index = vector_index(rt)
    ours, filtered, whole_pack = [], [], []
    with rt.session() as session:
        whole = index.collection(session, GROW_PACK, "en")
        for q in qs * 3:
            r = retrieve(rt, session, q["q"], pack=GROW_PACK, topic=q["topic"], lang="en", allow_network=False)
            ours.append(r.latency_ms)
            whole_pack.append(retrieve(rt, session, q["q"], pack=GROW_PACK, lang="en", allow_network=False).latency_ms)
            from rag.tokenize import query_vector

            sv = query_vector(q["q"])
            t0 = time.perf_counter()
            index.client.query_points(whole.name, query=models.SparseVector(**sv), using="bm25", limit=5,
                                      query_filter=models.Filter(must=[models.FieldCondition(
                                          key="topic", match=models.MatchValue(value=q["topic"]))]))
            filtered.append((time.perf_counter() - t0) * 1000)
    return {"pack_scope_ms_p50": round(statistics.median(whole_pack), 2),
            "pack_scope_ms_p95": round(_pct(whole_pack, 95), 2),
            "topic_scope_ms_p50": round(statistics.median(ours), 2), "topic_scope_ms_p95": round(_pct(ours, 95), 2),
            "payload_filter_ms_p50": round(statistics.median(filtered), 2),
            "payload_filter_ms_p95": round(_pct(filtered, 95), 2), "collection_points": whole.count}


def run(database_url: str, grow_to: int = 10_000) -> dict:
    upgrade(database_url)
    rt = build_runtime(Settings(_env_file=None, database_url=database_url, redis_url="", qdrant_url="",
                                openai_api_key=""))
    try:
        load_sample_packs(rt)
        data = questions()
        with rt.session() as session:
            base_chunks = session.scalar(select(func.count()).select_from(Chunk))
        base = measure(rt, data)
        report("sample packs", base_chunks, base)
        t0 = time.perf_counter()
        total = grow(rt, grow_to)
        with rt.session() as session:  # build the grown collection once, outside the timings
            vector_index(rt).collection(session, GROW_PACK, "en")
        build_s = time.perf_counter() - t0
        grown = measure(rt, data)
        report(f"grown corpus (+distractors, build {build_s:.1f} s)", total, grown)
        scoped = scoped_latency(rt, data)
        print(f"  subject scope in the grown pack ({scoped['collection_points']} points): p50 "
              f"{scoped['pack_scope_ms_p50']} ms / p95 {scoped['pack_scope_ms_p95']} ms")
        print(f"  topic scope in the grown pack ({scoped['collection_points']} points): ours p50 "
              f"{scoped['topic_scope_ms_p50']} ms / p95 {scoped['topic_scope_ms_p95']} ms; a Qdrant local payload "
              f"filter instead: p50 {scoped['payload_filter_ms_p50']} ms / p95 {scoped['payload_filter_ms_p95']} ms")
        return {"base": {"chunks": base_chunks, **base}, "grown": {"chunks": total, "build_s": round(build_s, 2),
                                                                   **grown, **scoped}}
    finally:
        rt.close()


def report(title: str, chunks: int, m: dict) -> None:
    print(f"{title}: {chunks} chunks, {m['on_topic']} on-topic ({'/'.join(m['languages'])}) + "
          f"{m['off_topic']} off-topic questions, BM25 only")
    print(f"  recall@1 {m['recall@1']:.3f}  recall@3 {m['recall@3']:.3f}")
    print(f"  off-topic (coverage < {m['off_topic_threshold']}): precision {m['off_topic_precision']:.3f}  "
          f"recall {m['off_topic_recall']:.3f}")
    print("  threshold sweep: " + "  ".join(f"{t}: P{v['precision']:.2f}/R{v['recall']:.2f}"
                                           for t, v in m["threshold_sweep"].items()))
    print(f"  retrieval latency p50 {m['latency_ms_p50']} ms  p95 {m['latency_ms_p95']} ms")
    for miss in m["misses"]:
        print(f"  miss: {miss}")
