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


def trim(text: str, limit: int) -> str:
    """Cut at a word boundary to at most `limit` characters, marking the cut."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[:max(limit, 0)]
    cut = text[: limit - len(ELLIPSIS)].rsplit(" ", 1)[0].rstrip(" ,;:")
    return (cut or text[: limit - len(ELLIPSIS)]) + ELLIPSIS


def _score(sentence_terms: set[str], query: set[str], weights: dict[str, float]) -> float:
    return sum(weights.get(t, 1.0) for t in query & sentence_terms)


def extract(question: str, hits: list[Hit], budget: int) -> str:
    """Pick the sentences that share most of the question's terms, kept in reading order, within `budget`."""
    query = set(tokens(question))
    # A term the question shares with fewer retrieved sentences says more.
    candidates: list[tuple[int, int, str, set[str]]] = []
    seen: set[str] = set()
    for rank, hit in enumerate(hits):
        for i, s in enumerate(sentences(hit.text)):
            key = s.lower()
            if key in seen:
                continue  # chunk overlap repeats sentences
            seen.add(key)
            candidates.append((rank, i, s, set(tokens(s))))
    if not candidates:
        return ""
    df: dict[str, int] = {}
    for *_, terms in candidates:
        for t in terms & query:
            df[t] = df.get(t, 0) + 1
    weights = {t: 1.0 + 1.0 / n for t, n in df.items()}
    ranked = sorted(candidates, key=lambda c: (-_score(c[3], query, weights), c[0], c[1]))
    best = ranked[0]
    if _score(best[3], query, weights) == 0:
        best = min(candidates, key=lambda c: (c[0], c[1]))  # nothing matches a word: open the best passage
        ranked = [best]
    chosen = [best]
    used = len(best[2])
    for c in ranked[1:]:
        if _score(c[3], query, weights) == 0:
            break
        if used + 1 + len(c[2]) <= budget:
            chosen.append(c)
            used += 1 + len(c[2])
    chosen.sort(key=lambda c: (c[0], c[1]))
    return trim(" ".join(c[2] for c in chosen), budget)
