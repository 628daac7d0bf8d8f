"""GSM-7 folding, segment counting against the independent gsm0338 codec, and the splitter."""

from __future__ import annotations

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.sms import (
    GSM_BASIC,
    GSM_EXTENSION,
    _split_general,
    count_segments,
    encoding_of,
    fold_gsm,
    segment_info,
    split_sms,
)


def reference_segments(text: str) -> tuple[int, str]:
    """An independent count: the gsm0338 codec's septets (escape = 2 bytes), else UTF-16 units."""
    try:
        septets = text.encode("gsm03.38")
    except UnicodeEncodeError:
        units = text.encode("utf-16-be")
        codes = [units[i:i + 2] for i in range(0, len(units), 2)]
        if len(codes) <= 70:
            return 1, "ucs2"
        segments, used, i = 1, 0, 0
        while i < len(codes):
            width = 2 if 0xD8 <= codes[i][0] <= 0xDB else 1  # a high surrogate starts a pair
            if used + width > 67:
                segments, used = segments + 1, 0
            used += width
            i += width
        return segments, "ucs2"
    if len(septets) <= 160:
        return 1, "gsm7"
    segments, used, i = 1, 0, 0
    while i < len(septets):
        width = 2 if septets[i] == 0x1B else 1
        if used + width > 153:
            segments, used = segments + 1, 0
        used += width
        i += width
    return segments, "gsm7"


gsm_text = st.text(alphabet=st.sampled_from(GSM_BASIC + GSM_EXTENSION), max_size=700)
mixed_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(GSM_BASIC + GSM_EXTENSION + "   "),
        st.sampled_from("“”‘’–—…\u00a0çÀ😀🙂𝛑中ß"),
    ),
    max_size=500,
)
words = st.lists(
    st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz{}[]€^~|\\ñé😀"), min_size=1, max_size=30),
    min_size=0, max_size=120,
)


@pytest.mark.parametrize(
    ("text", "segments", "encoding"),
    [
        ("", 1, "gsm7"),
        ("a" * 160, 1, "gsm7"),
        ("a" * 161, 2, "gsm7"),
        ("a" * 306, 2, "gsm7"),
        ("a" * 307, 3, "gsm7"),
        ("€" * 80, 1, "gsm7"),  # 160 septets
        ("€" * 81, 2, "gsm7"),
        ("a" * 152 + "€" + "a" * 10, 2, "gsm7"),  # the escape pair moves whole to segment 2
        ("a" * 70 + "😀", 2, "ucs2"),  # 72 units
        ("😀" * 35, 1, "ucs2"),
        ("ç" * 70, 1, "ucs2"),
        ("ç" * 71, 2, "ucs2"),
        ("a" * 66 + "😀" + "a" * 10, 2, "ucs2"),  # the surrogate pair is not split
    ],
)
def test_count_segments_known_cases(text, segments, encoding):
    assert segment_info(text) == (segments, encoding)
    assert reference_segments(text) == (segments, encoding)


def test_fold_turns_smart_punctuation_into_gsm7():
    text = "“Photosynthesis” – it’s how plants eat…\u00a0Done — ok `x` ç"
    folded = fold_gsm(text)
    assert folded == '"Photosynthesis" - it\'s how plants eat... Done - ok \'x\' c'
    assert encoding_of(folded) == "gsm7"
    assert count_segments(text) == 1 and encoding_of(text) == "ucs2"


def test_fold_keeps_what_has_no_stand_in():
    assert fold_gsm("Nzuri 😀") == "Nzuri 😀"
    assert fold_gsm("é à ñ Ç") == "é à ñ Ç"  # already GSM-7
    assert encoding_of(fold_gsm("中文")) == "ucs2"


@given(gsm_text)
def test_property_gsm_counter_agrees_with_gsm0338(text):
    assert segment_info(text) == reference_segments(text)


@given(mixed_text)
def test_property_counter_agrees_on_mixed_text(text):
    assert segment_info(text) == reference_segments(text)
    folded = fold_gsm(text)
    assert segment_info(folded) == reference_segments(folded)
    assert count_segments(folded) <= count_segments(text) + 1  # folding an ellipsis adds 2 chars


@given(words, st.sampled_from([" ", "\n", "  "]), st.integers(min_value=1, max_value=5))
def test_property_splitter_limits_words_and_pairs(ws, sep, max_parts):
    text = sep.join(ws)
    split = split_sms(text, max_parts=max_parts, more_hint="Reply MORE for more")
    assert len(split.parts) <= max_parts
    for part in split.parts:
        assert count_segments(part) == 1  # every part is one SMS of one segment
        if encoding_of(part) == "gsm7":
            assert len(part.encode("gsm03.38")) <= 160  # the escape pairs are whole
    # No word is lost: the parts (without the hint) and the rest give back every word in order.
    shown = [p.removesuffix("\nReply MORE for more") for p in split.parts]
    joined = " ".join([*shown, split.rest or ""])
    assert "".join(joined.split()) == "".join(text.split())
    if split.rest is None:
        assert not any(p.endswith("Reply MORE for more") for p in split.parts)
    else:
        assert split.parts[-1].endswith("\nReply MORE for more")


@given(words)
def test_property_splitter_uses_as_few_parts_as_greedy_allows(ws):
    text = " ".join(ws)
    split = split_sms(text)
    assert split.rest is None
    # Fewest parts: no two neighbouring parts could have been one SMS.
    for a, b in zip(split.parts, split.parts[1:], strict=False):
        assert count_segments(a + " " + b.split(" ")[0]) > 1 or not b.split(" ")[0]


def test_split_short_text_is_one_part():
    assert split_sms("Hello there").parts == ["Hello there"]
    assert split_sms("").parts == [""]


def test_split_breaks_on_words_and_caps_with_more():
    text = " ".join(f"word{i}" for i in range(200))
    split = split_sms(text, max_parts=2, more_hint="Reply MORE for more")
    assert len(split.parts) == 2
    assert all(len(p) <= 160 for p in split.parts)
    assert split.parts[0].split()[-1].startswith("word") and not split.parts[0].endswith(" ")
    assert split.parts[1].endswith("\nReply MORE for more")
    assert split.rest.startswith("word")


def test_split_cuts_a_word_longer_than_a_segment():
    split = split_sms("x" * 400)
    assert [len(p) for p in split.parts] == [160, 160, 80]


@given(st.lists(st.text(alphabet="abc.,", min_size=1, max_size=40), min_size=0, max_size=60),
       st.lists(st.sampled_from([" ", "\n", "  ", " \n"]), min_size=60, max_size=60),
       st.one_of(st.none(), st.integers(min_value=1, max_value=4)), st.sampled_from(["", "Reply MORE for more"]))
def test_property_the_basic_alphabet_shortcut_splits_as_the_general_splitter(ws, seps, max_parts, hint):
    text = "".join(w + sep for w, sep in zip(ws, seps, strict=False)).strip()
    assert split_sms(text, max_parts=max_parts, more_hint=hint) == _split_general(text, max_parts, hint)
