"""SMS maths: GSM 03.38 folding, exact segment counting, and word-boundary splitting.

A single character outside the GSM-7 alphabet turns a whole message into UCS-2 and
roughly halves what each segment holds, so text is folded into GSM-7 first (curly
quotes, dashes, ellipses, odd spaces). Counting follows GSM 03.38: 160 septets in one
segment, 153 per segment once concatenated, extension characters cost two septets and
an escape pair never straddles two segments; UCS-2 holds 70 units, 67 concatenated,
and a character outside the BMP costs two units (a surrogate pair, never split).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"
_BASIC = frozenset(GSM_BASIC)
_EXT = frozenset(GSM_EXTENSION)
_GSM = _BASIC | _EXT

SINGLE = {"gsm7": 160, "ucs2": 70}
CONCAT = {"gsm7": 153, "ucs2": 67}

# Characters that have a faithful GSM-7 stand-in. Anything else (emoji, most scripts)
# stays as it is and makes the message UCS-2.
_FOLD = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u2022": "*", "\u00b7": ".", "\u00d7": "x", "\u00f7": "/",
    "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2007": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ",
    "\u3000": " ", "\t": " ",
    "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    "\u00e7": "c", "\u00e1": "a", "\u00e2": "a", "\u00e3": "a", "\u00ed": "i", "\u00ee": "i", "\u00ef": "i",
    "\u00f3": "o", "\u00f4": "o", "\u00f5": "o", "\u00fa": "u", "\u00fb": "u", "\u00ea": "e", "\u00eb": "e",
    "\u00c1": "A", "\u00c0": "A", "\u00c2": "A", "\u00c8": "E", "\u00ca": "E", "\u00cd": "I", "\u00d3": "O",
    "\u00da": "U", "\u0160": "S", "\u0161": "s", "\u017d": "Z", "\u017e": "z",
    "\u2264": "<=", "\u2265": ">=", "\u2260": "!=", "\u00b2": "2", "\u00b3": "3", "\u00bd": "1/2",
    "\u00bc": "1/4", "\u00be": "3/4", "\u2192": "->", "\u2190": "<-", "\u00b0": "o",
}
_FOLD_TABLE = str.maketrans(_FOLD)


def is_gsm(text: str) -> bool:
    return _GSM.issuperset(text)


def fold_gsm(text: str) -> str:
    """Replace characters that have a GSM-7 stand-in; leave the rest for UCS-2.

    Accented letters outside GSM-7 fall back to their base letter only when the
    decomposition gives one (é and à stay: they are in the alphabet).
    """
    folded = unicodedata.normalize("NFC", text).translate(_FOLD_TABLE)
    if is_gsm(folded):
        return folded
    out = []
    for ch in folded:
        if ch in _BASIC or ch in _EXT:
            out.append(ch)
            continue
        base = unicodedata.normalize("NFD", ch)[0]
        out.append(base if base != ch and (base in _BASIC) else ch)
    return "".join(out)


def encoding_of(text: str) -> str:
    return "gsm7" if is_gsm(text) else "ucs2"


def char_cost(ch: str, encoding: str) -> int:
    """Septets (GSM-7) or 16-bit units (UCS-2) one character takes."""
    if encoding == "gsm7":
        return 2 if ch in _EXT else 1
    return 2 if ord(ch) > 0xFFFF else 1


def length_units(text: str, encoding: str | None = None) -> int:
    enc = encoding or encoding_of(text)
    if enc == "gsm7" and _BASIC.issuperset(text):
        return len(text)  # the common case, counted without a loop in Python
    return sum(char_cost(ch, enc) for ch in text)


def count_segments(text: str) -> int:
    """How many segments the text costs as one (concatenated) SMS, exactly as GSM 03.38 packs it."""
    return segment_info(text)[0]


def segment_info(text: str) -> tuple[int, str]:
    """(segments, encoding) for the text as one SMS. An empty message still costs one segment."""
    enc = encoding_of(text)
    if length_units(text, enc) <= SINGLE[enc]:
        return 1, enc
    segments, used = 1, 0
    for ch in text:
        cost = char_cost(ch, enc)
        if used + cost > CONCAT[enc]:  # an escape pair or surrogate pair moves whole to the next segment
            segments, used = segments + 1, 0
        used += cost
    return segments, enc


@dataclass
class SmsSplit:
    parts: list[str]
    rest: str | None = None
    encodings: list[str] = field(default_factory=list)

    @property
    def segments(self) -> int:
        return len(self.parts)


TOKENS = re.compile(r"\S+|\s+")


def _fits_one(text: str) -> bool:
    enc = encoding_of(text)
    return length_units(text, enc) <= SINGLE[enc]


def _hard_cut(word: str, room_of) -> tuple[str, str]:
    """Cut an over-long word at the last character that still fits (never inside a pair:
    Python strings hold whole code points, and escapes are counted as two septets)."""
    lo = 1
    for i in range(1, len(word) + 1):
        if room_of(word[:i]):
            lo = i
        else:
            break
    return word[:lo], word[lo:]


class Meter:
    """What a growing part costs, kept as it grows (one pass over the text, not one per word):
    whether it is all GSM-7, its septets, and its UCS-2 units."""

    __slots__ = ("gsm", "septets", "units")

    def __init__(self, text: str = ""):
        self.gsm, self.septets, self.units = True, 0, 0
        self.add(text)

    def add(self, text: str) -> Meter:
        if _BASIC.issuperset(text):  # the common case: one septet and one unit a character
            self.septets += len(text)
            self.units += len(text)
            return self
        for ch in text:
            if self.gsm and ch not in _BASIC:
                if ch in _EXT:
                    self.septets += 1  # the escape
                else:
                    self.gsm = False
            self.septets += 1
            self.units += 2 if ord(ch) > 0xFFFF else 1
        return self

    def plus(self, text: str) -> Meter:
        m = Meter.__new__(Meter)
        m.gsm, m.septets, m.units = self.gsm, self.septets, self.units
        return m.add(text)

    def fits(self) -> bool:
        """In one segment: 160 septets if all GSM-7, else 70 UCS-2 units."""
        return self.septets <= SINGLE["gsm7"] if self.gsm else self.units <= SINGLE["ucs2"]


def _take_part(tokens: list[str], tail: str = "") -> tuple[str, list[str]]:
    """Greedily fill one part with whole words (room kept for `tail`, which the caller adds);
    the whitespace where it breaks is dropped."""
    part: list[str] = []
    meter = Meter(tail)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.isspace():
            if part:  # no leading whitespace on a part
                part.append(tok)
                meter.add(tok)
            i += 1
            continue
        grown = meter.plus(tok)
        if grown.fits():
            part.append(tok)
            meter = grown
            i += 1
            continue
        if not "".join(part).strip():  # a single word longer than a part: cut it
            head, rest = _hard_cut(tok, lambda s: _fits_one(s + tail))
            return head, [rest, *tokens[i + 1:]]
        break
    return "".join(part).rstrip(), tokens[i:]


_WORDS = re.compile(r"\S+")


def _split_basic(text: str, max_parts: int | None, more_hint: str) -> SmsSplit | None:
    """`split_sms` for text of the basic GSM-7 alphabet (one septet a character, the common
    case), by word offsets instead of a meter per word: the same parts. None when a word is
    too long for a part (the general split cuts it)."""
    room = SINGLE["gsm7"]
    hint = "\n" + more_hint if more_hint else ""
    spans = [m.span() for m in _WORDS.finditer(text)]
    if any(end - start > room - len(hint) for start, end in spans):
        return None
    ends = [end for _, end in spans]
    parts: list[str] = []
    k = 0
    while k < len(spans):
        if max_parts is not None and len(parts) >= max_parts:
            break
        start = spans[k][0]
        if max_parts is not None and len(parts) == max_parts - 1 and more_hint:
            if len(text) - start <= room:
                parts.append(text[start:])
                k = len(spans)
                break
            j = bisect_right(ends, start + room - len(hint), lo=k)
            parts.append(text[start:ends[j - 1]] + hint)
            k = j
            break
        j = bisect_right(ends, start + room, lo=k)
        parts.append(text[start:ends[j - 1]])
        k = j
    rest = text[spans[k][0]:] if k < len(spans) else None
    parts = parts or [""]
    return SmsSplit(parts=parts, rest=rest, encodings=["gsm7"] * len(parts))


def split_sms(text: str, *, max_parts: int | None = None, more_hint: str = "") -> SmsSplit:
    """Split into the fewest single-segment parts on word boundaries.

    Each part is one SMS of at most one segment (160 GSM-7 septets or 70 UCS-2 units,
    counted per part, so a part without exotic characters keeps the GSM-7 capacity).
    With `max_parts`, what does not fit goes to `rest` and the last part ends with
    `more_hint` (e.g. "Reply MORE for more").
    """
    text = text.strip()
    if _BASIC.issuperset(text) and _BASIC.issuperset(more_hint):
        plain = _split_basic(text, max_parts, more_hint)
        if plain is not None:
            return plain
    return _split_general(text, max_parts, more_hint)


def _split_general(text: str, max_parts: int | None, more_hint: str) -> SmsSplit:
    tokens = TOKENS.findall(text)
    parts: list[str] = []
    while tokens and any(not t.isspace() for t in tokens):
        if max_parts is not None and len(parts) >= max_parts:
            break
        if max_parts is not None and len(parts) == max_parts - 1 and more_hint:
            remaining = "".join(tokens).strip()
            if _fits_one(remaining):
                parts.append(remaining)
                tokens = []
                break
            hint = "\n" + more_hint
            part, tokens = _take_part(tokens, hint)
            parts.append(part + hint)
            break
        part, tokens = _take_part(tokens)
        parts.append(part)
    rest = "".join(tokens).strip() or None
    if not parts:
        parts = [""]
    return SmsSplit(parts=parts, rest=rest, encodings=[encoding_of(p) for p in parts])
