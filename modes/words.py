"""Number words in English and Kiswahili: "two and a half", "three quarters", "robo tatu",
"ishirini na moja", "elfu moja mia tano", with tolerance for one-letter slips ("fourty").

English puts the multiplier first ("five hundred"); Kiswahili after ("mia tano"), and joins
tens and units with "na" ("ishirini na moja" = 21). Returns exact Fractions or None.
"""

from __future__ import annotations

import re
from fractions import Fraction

EN_UNITS = {
    "zero": 0, "nought": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
           "ninety": 90}
EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
EN_DENOMS = {
    "half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4, "fourths": 4,
    "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6, "seventh": 7, "sevenths": 7, "eighth": 8, "eighths": 8,
    "ninth": 9, "ninths": 9, "tenth": 10, "tenths": 10, "twelfth": 12, "twelfths": 12, "hundredth": 100,
    "hundredths": 100,
}
SW_UNITS = {"sifuri": 0, "moja": 1, "mmoja": 1, "mbili": 2, "wawili": 2, "pili": 2, "tatu": 3, "watatu": 3,
            "nne": 4, "wanne": 4, "tano": 5, "watano": 5, "sita": 6, "saba": 7, "nane": 8, "wanane": 8, "tisa": 9}
SW_TENS = {"kumi": 10, "ishirini": 20, "thelathini": 30, "arobaini": 40, "hamsini": 50, "sitini": 60,
           "sabini": 70, "themanini": 80, "tisini": 90}
SW_SCALES = {"mia": 100, "elfu": 1000, "milioni": 1_000_000}
SW_FRACTIONS = {"nusu": 2, "robo": 4, "theluthi": 3}
NEGATIVE = {"minus", "negative", "hasi", "toa"}
POINT = {"point", "nukta", "pointi"}
KNOWN_SLIPS = {"fourty": "forty", "ninty": "ninety", "tweleve": "twelve", "eigth": "eight", "quater": "quarter",
               "quaters": "quarters", "halfs": "halves", "fith": "fifth", "nineth": "ninth", "thelatini": "thelathini",
               "ishrini": "ishirini", "arobain": "arobaini", "hamsin": "hamsini", "themanin": "themanini"}

VOCABULARY = (set(EN_UNITS) | set(EN_TENS) | set(EN_SCALES) | set(EN_DENOMS) | set(SW_UNITS) | set(SW_TENS)
              | set(SW_SCALES) | set(SW_FRACTIONS) | NEGATIVE | POINT | {"and", "na", "over", "a", "an"})
MAX_TOKENS = 16


def damerau(a: str, b: str, limit: int = 2) -> int:
    """Optimal-string-alignment edit distance (a swap of neighbours counts once), capped at limit+1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return min(prev[len(b)], limit + 1)


def correct_word(token: str) -> str:
    """The vocabulary word `token` was meant to be: exact, a known slip, or the single word one
    edit away (only for tokens of five letters or more, where one slip cannot turn one number into
    another: "nne"/"nane" must stay apart)."""
    if token in VOCABULARY:
        return token
    if token in KNOWN_SLIPS:
        return KNOWN_SLIPS[token]
    if len(token) < 5:
        return token
    near = [w for w in VOCABULARY if len(w) >= 4 and damerau(token, w, 1) <= 1]
    return near[0] if len(near) == 1 else token


def tokens_of(text: str) -> list[str] | None:
    text = re.sub(r"[-,]", " ", text.lower())
    toks = [correct_word(t) for t in text.split()]
    if not toks or len(toks) > MAX_TOKENS:
        return None
    return toks


def _en_integer(toks: list[str]) -> int | None:
    """"one hundred and five", "twenty one", "two thousand three hundred"."""
    if not toks:
        return None
    total, current, seen = 0, 0, False
    for k, t in enumerate(toks):
        if t == "and":
            continue
        if t in ("a", "an") and k + 1 < len(toks) and toks[k + 1] in EN_SCALES:
            current += 1
        elif t in EN_UNITS:
            current += EN_UNITS[t]
        elif t in EN_TENS:
            current += EN_TENS[t]
        elif t == "hundred":
            current = (current or 1) * 100
        elif t in ("thousand", "million"):
            total += (current or 1) * EN_SCALES[t]
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def _sw_small(toks: list[str], i: int) -> tuple[int, int] | None:
    """A number below 100 at toks[i]: "tano", "kumi na tano", "ishirini na moja"."""
    if i >= len(toks):
        return None
    if toks[i] in SW_UNITS:
        return SW_UNITS[toks[i]], i + 1
    if toks[i] in SW_TENS:
        value, i = SW_TENS[toks[i]], i + 1
        if i + 1 < len(toks) and toks[i] == "na" and toks[i + 1] in SW_UNITS and SW_UNITS[toks[i + 1]] > 0:
            value, i = value + SW_UNITS[toks[i + 1]], i + 2
        return value, i
    return None


def _sw_integer(toks: list[str]) -> int | None:
    """"elfu moja mia tano", "mia mbili na tano", "ishirini na moja"."""
    total, i = 0, 0
    for scale in ("milioni", "elfu", "mia"):
        if i < len(toks) and toks[i] == scale:
            i += 1
            small = _sw_small(toks, i)
            mult, i = small if small else (1, i)
            total += mult * SW_SCALES[scale]
            if i < len(toks) and toks[i] == "na" and i + 1 < len(toks) and toks[i + 1] not in SW_SCALES:
                i += 1
    if i < len(toks):
        small = _sw_small(toks, i)
        if small is None:
            return None
        value, i = small
        total += value
    if i != len(toks) or not toks:
        return None
    return total


def _integer(toks: list[str]) -> int | None:
    if len(toks) == 1 and toks[0].isdigit() and len(toks[0]) <= 12:  # "3 over 4"
        return int(toks[0])
    value = _en_integer(toks)
    return value if value is not None else _sw_integer(toks)


def _fraction_words(toks: list[str]) -> Fraction | None:
    """"a half", "three quarters", "robo tatu", "nusu", "theluthi mbili", "3 over 4"."""
    if not toks:
        return None
    if toks[0] in SW_FRACTIONS:
        den = SW_FRACTIONS[toks[0]]
        num = _integer(toks[1:]) if len(toks) > 1 else 1
        return Fraction(num, den) if num is not None else None
    if toks[-1] in EN_DENOMS:
        num = 1 if toks[:-1] in ([], ["a"], ["an"]) else _integer(toks[:-1])
        return Fraction(num, EN_DENOMS[toks[-1]]) if num is not None else None
    if "over" in toks:
        k = toks.index("over")
        num, den = _integer(toks[:k]), _integer(toks[k + 1:])
        return Fraction(num, den) if num is not None and den else None
    return None


def _decimal_words(toks: list[str]) -> Fraction | None:
    k = next(i for i, t in enumerate(toks) if t in POINT)
    whole = _integer(toks[:k]) if k else 0
    digits = [_integer([t]) for t in toks[k + 1:]]
    if whole is None or not digits or any(d is None or d > 9 for d in digits):
        return None
    return whole + Fraction(int("".join(str(d) for d in digits)), 10 ** len(digits))


def parse_number_words(text: str) -> Fraction | None:
    """The value of a number said in words, or None. Never raises."""
    toks = tokens_of(text)
    if toks is None:
        return None
    sign = 1
    if toks[0] in NEGATIVE:
        sign, toks = -1, toks[1:]
    if not toks:
        return None
    if any(t in POINT for t in toks):
        value = _decimal_words(toks)
        return sign * value if value is not None else None
    fraction_part = next((i for i, t in enumerate(toks) if t in SW_FRACTIONS or t in EN_DENOMS or t == "over"), None)
    if fraction_part is None:
        whole = _integer(toks)
        return sign * Fraction(whole) if whole is not None else None
    # split "two and a half" / "mbili na nusu" into whole and fraction at the last "and"/"na"
    joins = [i for i, t in enumerate(toks[:fraction_part + 1]) if t in ("and", "na")]
    for j in reversed(joins):
        whole, frac = _integer(toks[:j]), _fraction_words(toks[j + 1:])
        if whole is not None and frac is not None:
            return sign * (whole + frac)
    frac = _fraction_words(toks)
    return sign * frac if frac is not None else None
