"""Chunks: about 512 tiktoken tokens, 64 overlapping, cut between sentences, with their metadata."""

from __future__ import annotations

from rag.chunking import CHUNK_TOKENS, OVERLAP_TOKENS, count_tokens, passages, sentences, split_text
from tests.rag.conftest import FIXTURES, load


def _long_text(n: int = 120) -> str:
    return " ".join(f"Sentence number {i} says that {i} plus {i} makes {2 * i}." for i in range(n))


def test_sentences_split_on_ends_and_paragraphs():
    text = "One is odd. Two is even! Is three odd? Yes.\n\nA new paragraph 3.5 stays whole."
    assert sentences(text) == ["One is odd.", "Two is even!", "Is three odd?", "Yes.",
                               "A new paragraph 3.5 stays whole."]


def test_chunks_are_at_most_512_tokens_and_cut_between_sentences():
    text = _long_text()
    assert count_tokens(text) > 3 * CHUNK_TOKENS
    chunks = split_text(text)
    assert len(chunks) >= 4
    whole = set(sentences(text))
    for chunk, n in chunks:
        assert n == count_tokens(chunk) <= CHUNK_TOKENS
        assert n >= CHUNK_TOKENS - 40 or chunk is chunks[-1][0]  # full, except the last
        assert set(sentences(chunk)) <= whole  # only whole sentences


def test_consecutive_chunks_overlap_by_about_64_tokens():
    chunks = [c for c, _ in split_text(_long_text())]
    for a, b in zip(chunks, chunks[1:], strict=False):
        shared = [s for s in sentences(b) if s in sentences(a)]
        assert shared, "consecutive chunks share sentences"
        assert shared == sentences(b)[: len(shared)]  # the overlap opens the next chunk
        assert 0 < count_tokens(" ".join(shared)) <= OVERLAP_TOKENS


def test_a_sentence_longer_than_a_chunk_is_cut_between_words():
    giant = " ".join(["word"] * 1500) + "."
    chunks = split_text(giant)
    assert len(chunks) >= 3
    assert all(n <= CHUNK_TOKENS for _, n in chunks)
    assert " ".join(c for c, _ in chunks).split() == giant.split()


def test_short_text_is_one_chunk():
    assert split_text("Half of 10 is 5.") == [("Half of 10 is 5.", count_tokens("Half of 10 is 5."))]
    assert split_text("   ") == []


def test_passages_carry_topic_language_and_section():
    pack = load(FIXTURES / "good" / "tiny-math.yaml")
    found = passages(pack)
    assert {p.language for p in found} == {"en", "sw"}
    assert {p.section for p in found} == {"summary", "reference", "intro", "explanation", "example", "recap"}
    en_ref = next(p for p in found if p.language == "en" and p.section == "reference")
    assert en_ref.topic == "halves" and en_ref.text.startswith("Half of a number")
    assert en_ref.index_text.startswith("Halves. ")
    sw_ref = next(p for p in found if p.language == "sw" and p.section == "reference")
    assert sw_ref.index_text.startswith("Nusu. ") and "ikigawanywa kwa 2" in sw_ref.text


def test_text_missing_in_a_language_is_not_indexed_in_it():
    pack = load(FIXTURES / "good" / "tiny-math.yaml")
    data = pack.model_dump(mode="json", exclude_none=True)
    data["topics"][0]["teach"]["example"] = {"en": "Half of 8 is 4."}
    from rag.schema import Pack

    found = passages(Pack.model_validate(data))
    assert [p.language for p in found if p.section == "example"] == ["en"]
