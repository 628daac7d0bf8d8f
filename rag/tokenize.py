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
B = 0.5
AVG_DOC_TOKENS = 100.0  # a typical chunk's term count; a fixed value keeps vectors stable per chunk

_WORD = re.compile(r"\d+(?:[./]\d+)*|[a-z]+(?:'[a-z]+)?")

STOPWORDS = frozenset(
    """
    a an and are as at be been but by can could did do does for from had has have how i if in into is it its
    me my no not of on or our so that the their them then there these they this to us was we were what when
    where which who why will with would you your please tell explain about give show help know want does
    should shall must may might take mean means meaning difference between much many need around also just
    really very like get got use used using find work out kind kinds type types thing things way ways
    ni na ya wa za la kwa katika je nini vipi gani hii huu hiyo hizi ile kama au lakini pia sana tu kuna
    ndiyo hapana mimi wewe yeye sisi nyinyi wao naomba nieleze eleza tafadhali nisaidie jinsi namna gani
    wapi ziko iko vipi kuwa ina ipi lipi yupi zipi upi tena hivyo njia kazi maana
    """.split()
)

# Stems of question verbs that say nothing about the subject ("how is it obtained?", "how do I make").
STEM_STOPWORDS = frozenset("patikana fanya sema jua elewa onyesha eleza saidia make happen do go".split())

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
            if suffix == "s" and base.endswith(("s", "u", "i")):
                return word  # loss, business, bus, radius, ...
            if suffix == "es" and not base.endswith(("s", "x", "z", "ch", "sh")):
                return base + "e"  # games -> game, leaves -> leave
            return base
    return word


_SW_VERB_PREFIX = re.compile(r"^(?:(?:ni|u|a|tu|m|wa|i|li|ya|ki|vi|zi)(?:na|ta|li|me)|ku|hu)(?=[a-z]{3,})")


@lru_cache(maxsize=50_000)
def stem_sw(word: str) -> str:
    """A light Kiswahili stemmer for verbs: 'nitabadilishaje', 'kubadilisha' and 'hubadilishwa' all
    become 'badilisha', so a question matches the text whatever person or tense it uses."""
    if word[0].isdigit() or len(word) <= 4:
        return word
    if len(word) >= 7 and word.endswith("je") and word[-3] in "aeiou":
        word = word[:-2]  # the "how?" suffix
    if len(word) >= 7 and word.endswith("wa") and word[-3] not in "aeiou":
        word = word[:-2] + "a"  # passive: jumlishwa -> jumlisha
    return _SW_VERB_PREFIX.sub("", word, count=1)


def tokens(text: str, lang: str = "en") -> list[str]:
    """Content terms of `text`: folded, stop words dropped, stemmed; fractions kept whole ('3/4')."""
    stemmer = stem_sw if lang == "sw" else stem
    out = []
    for word in _WORD.findall(fold(text)):
        if word in STOPWORDS:
            continue
        term = stemmer(word)
        if term not in STOPWORDS and term not in STEM_STOPWORDS:
            out.append(term)
    return out


@lru_cache(maxsize=100_000)
def term_id(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big") & 0x7FFFFFFF


def doc_vector(text: str, lang: str = "en") -> dict[str, list]:
    """BM25 document weights (saturated tf, length-normalised) as {"indices", "values"}."""
    counts = Counter(tokens(text, lang))
    length = sum(counts.values()) or 1
    norm = K1 * (1 - B + B * length / AVG_DOC_TOKENS)
    merged: dict[int, float] = {}
    for term, tf in counts.items():
        tid = term_id(term)
        merged[tid] = merged.get(tid, 0.0) + tf * (K1 + 1) / (tf + norm)
    indices = sorted(merged)
    return {"indices": indices, "values": [round(merged[i], 5) for i in indices]}


def query_vector(text: str, lang: str = "en") -> dict[str, list]:
    """Query weights: each distinct term once (IDF comes from Qdrant)."""
    ids = sorted({term_id(t) for t in tokens(text, lang)})
    return {"indices": ids, "values": [1.0] * len(ids)}
