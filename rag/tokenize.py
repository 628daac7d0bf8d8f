"""Our own BM25 tokenizer and sparse vectors (English and Kiswahili).

Why our own: the sparse index must be built identically by every process (server,
worker, CLI) from the `Chunk` rows, with no model download. Terms are hashed to
stable 31-bit ids (blake2b, not Python's salted `hash`), so a vector stored in the
database today still matches a query tomorrow. Qdrant applies the IDF part of BM25
(`Modifier.IDF`); we store only the saturated term-frequency part.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from functools import lru_cache

K1 = 1.2
B = 0.75
AVG_DOC_TOKENS = 80.0  # a typical chunk's term count; a fixed value keeps vectors stable per chunk

_WORD = re.compile(r"\d+(?:[./]\d+)*|[a-z]+(?:'[a-z]+)?")

STOPWORDS = frozenset(
    """
    a an and are as at be been but by can could did do does for from had has have how i if in into is it its
    me my no not of on or our so that the their them then there these they this to us was we were what when
    where which who why will with would you your please tell explain about give show help know want does
    ni na ya wa za la kwa katika je nini vipi gani hii huu hiyo hizi ile kama au lakini pia sana tu kuna
    ndiyo hapana mimi wewe yeye sisi nyinyi wao naomba nieleze eleza tafadhali nisaidie jinsi namna gani
    """.split()
)

_EN_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s")


def fold(text: str) -> str:
    """Lower-case, strip accents and unify apostrophes, so 'Café' and 'cafe' match."""
    text = unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    """A light suffix stripper: plural and tense endings only (Kiswahili words are left whole)."""
    if word[0].isdigit() or len(word) <= 3:
        return word
    for suffix in _EN_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return base + "y"
            return base
    return word


def tokens(text: str) -> list[str]:
    """Content terms of `text`: folded, stop words dropped, stemmed; fractions kept whole ('3/4')."""
    out: list[str] = []
    for word in _WORD.findall(fold(text)):
        if word in STOPWORDS:
            continue
        out.append(stem(word))
    return out


@lru_cache(maxsize=100_000)
def term_id(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big") & 0x7FFFFFFF


def doc_vector(text: str) -> dict[str, list]:
    """BM25 document weights (saturated tf, length-normalised) as {"indices", "values"}."""
    counts = Counter(tokens(text))
    length = sum(counts.values()) or 1
    norm = K1 * (1 - B + B * length / AVG_DOC_TOKENS)
    merged: dict[int, float] = {}
    for term, tf in counts.items():
        tid = term_id(term)
        merged[tid] = merged.get(tid, 0.0) + tf * (K1 + 1) / (tf + norm)
    indices = sorted(merged)
    return {"indices": indices, "values": [round(merged[i], 5) for i in indices]}


def query_vector(text: str) -> dict[str, list]:
    """Query weights: each distinct term once (IDF comes from Qdrant)."""
    ids = sorted({term_id(t) for t in tokens(text)})
    return {"indices": ids, "values": [1.0] * len(ids)}
