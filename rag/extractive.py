"""The offline answerer: the most relevant whole sentences of the retrieved passages.

Used when no LLM is configured, when it fails or times out, and on the USSD path
(no network there). It never writes a word of its own, so it cannot say anything the
curriculum does not: every sentence is quoted from a retrieved passage.
"""

from __future__ import annotations

from rag.chunking import sentences
from rag.retrieve import Hit
from rag.tokenize import tokens

ELLIPSIS = "..."  # GSM-7 friendly
MAX_SENTENCES = 4
RELATIVE_FLOOR = 0.5  # a sentence must match at least half as well as the best one
# A summary restates the topic in a line: quote it only when nothing else matches as well.
SECTION_WEIGHT = {"summary": 0.5, "intro": 0.8}


def trim(text: str, limit: int) -> str:
    """Cut at a word boundary to at most `limit` characters, marking the cut."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[:max(limit, 0)]
    cut = text[: limit - len(ELLIPSIS)].rsplit(" ", 1)[0].rstrip(" ,;:")
    return (cut or text[: limit - len(ELLIPSIS)]) + ELLIPSIS


def _score(c: tuple, query: set[str], weights: dict[str, float]) -> float:
    return c[4] * sum(weights.get(t, 1.0) for t in query & c[3])


def _near_duplicate(terms: set[str], chosen: list) -> bool:
    return any(len(terms & c[3]) / max(len(terms | c[3]), 1) > 0.6 for c in chosen)


def extract(question: str, hits: list[Hit], budget: int, lang: str = "en") -> tuple[str, int]:
    """The sentences that share most of the question's terms, in reading order, within `budget`.

    Returns (text, rank of the hit holding the best sentence), so the citation names that passage.
    """
    query = set(tokens(question, lang))
    # A term the question shares with fewer retrieved sentences says more.
    candidates: list[tuple[int, int, str, set[str], float]] = []
    seen: set[str] = set()
    for rank, hit in enumerate(hits):
        for i, s in enumerate(sentences(hit.text)):
            key = s.lower()
            if key in seen:
                continue  # chunk overlap repeats sentences
            seen.add(key)
            candidates.append((rank, i, s, set(tokens(s, lang)), SECTION_WEIGHT.get(hit.section, 1.0)))
    if not candidates:
        return "", 0
    df: dict[str, int] = {}
    for _r, _i, _s, terms, _w in candidates:
        for t in terms & query:
            df[t] = df.get(t, 0) + 1
    weights = {t: 1.0 + 1.0 / n for t, n in df.items()}
    ranked = sorted(candidates, key=lambda c: (-_score(c, query, weights), c[0], c[1]))
    best = ranked[0]
    if _score(best, query, weights) == 0:
        best = min(candidates, key=lambda c: (c[0], c[1]))  # nothing matches a word: open the best passage
        ranked = [best]
    chosen = [best]
    used = len(best[2])
    floor = RELATIVE_FLOOR * _score(best, query, weights)
    for c in ranked[1:]:
        if len(chosen) >= MAX_SENTENCES or _score(c, query, weights) < max(floor, 1e-9):
            break
        if used + 1 + len(c[2]) <= budget and not _near_duplicate(c[3], chosen):
            chosen.append(c)
            used += 1 + len(c[2])
    chosen.sort(key=lambda c: (c[0], c[1]))
    return trim(" ".join(c[2] for c in chosen), budget), best[0]
