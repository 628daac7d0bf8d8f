"""Reading a number out of what a student typed, by value, with exact rational arithmetic.

Students answer "3/4", "0.75", "three quarters", "robo tatu", "Ksh 355", "355/=", "14 cm2",
"2 1/2" or "-3". Floats would make 0.1 + 0.2 differ from 0.3 and 1/3 from 0.333, so every
value is a `Fraction`. `parse_quantity` never raises: anything it cannot read is None.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

from modes import words

MAX_LEN = 120  # longer text is not a number a student typed as an answer
MAX_DIGITS = 40  # keeps Fraction arithmetic cheap on hostile input

# Currency marks and units that may surround a number; the unit is kept (a wrong unit is wrong).
_CURRENCY = r"(?:shillings|shilling|shilingi|kwacha|kshs|ksh|kes|shs|sh|ugx|tsh|tzs|zmw|usd|\$)"
_UNIT_ALIASES = {
    "sm": "cm", "cms": "cm", "centimetres": "cm", "centimeters": "cm", "centimetre": "cm", "centimeter": "cm",
    "sentimita": "cm", "mita": "m", "metres": "m", "meters": "m", "metre": "m", "meter": "m", "mm": "mm",
    "km": "km", "kilomita": "km", "kilometres": "km", "kilometers": "km", "kg": "kg", "kilo": "kg",
    "kilogramu": "kg", "kilograms": "kg", "g": "g", "grams": "g", "gramu": "g", "l": "l", "litres": "l",
    "liters": "l", "lita": "l", "ml": "ml", "cm": "cm", "m": "m", "sm2": "cm2", "cm2": "cm2", "m2": "m2",
    "cm3": "cm3", "m3": "m3", "sq cm": "cm2", "square cm": "cm2", "cm^2": "cm2", "m^2": "m2", "cm²": "cm2",
    "m²": "m2", "km2": "km2", "hours": "h", "hrs": "h", "hr": "h", "h": "h", "saa": "h", "minutes": "min",
    "mins": "min", "min": "min", "dakika": "min", "days": "day", "siku": "day", "years": "yr", "miaka": "yr",
    "degrees": "deg", "°": "deg", "deg": "deg",
}
_UNIT_RE = "|".join(sorted((re.escape(u) for u in _UNIT_ALIASES), key=len, reverse=True))

_FRACTION = re.compile(r"^([-+]?)(?:(\d+)\s+|(\d+)\s*[-+]\s*)?(\d+)\s*/\s*(\d+)$")
_DECIMAL = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^[-+]?\.\d+$|^[-+]?\d+,\d{1,2}$|^[-+]?\d+,\d{4,}$")
_TIME = re.compile(r"^(\d{1,2})\s*[:.h]\s*(\d{2})\s*(am|pm|a\.m\.|p\.m\.)?$|^(\d{1,2})\s*(am|pm|a\.m\.|p\.m\.)$")


@dataclass(frozen=True)
class Quantity:
    """A number as the student wrote it: its value and how it was written."""

    value: Fraction
    form: str  # integer | decimal | fraction | mixed | words | percent | time
    unit: str = ""  # normalised unit ("cm", "cm2", "h"), "" when none
    text: str = ""  # the numeric core as typed, e.g. "2/4"

    @property
    def in_lowest_terms(self) -> bool:
        """False for "2/4" or "1 2/4": a fraction written with a common factor left in."""
        m = _FRACTION.match(self.text) if self.form in ("fraction", "mixed") else None
        if not m:
            return True
        num, den = int(m.group(4)), int(m.group(5))
        return den != 0 and Fraction(num, den).denominator == den


def fold(text: str) -> str:
    """Lower case, accents removed, typographic dashes and spaces made plain, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", "-").replace("\u2044", "/")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", text.lower()).strip()


def _strip_marks(text: str) -> tuple[str, str]:
    """Remove currency marks, a trailing '/=' or '/-', and one unit; return (core, unit)."""
    t = re.sub(r"\s*/[=-]$", "", text)
    t = re.sub(rf"^{_CURRENCY}\.?\s*", "", t)
    t = re.sub(rf"\s*{_CURRENCY}\.?$", "", t)
    unit = ""
    m = re.match(rf"^(.*?)(?:\s*)({_UNIT_RE})\.?$", t)
    if m and m.group(1) and re.search(r"[\d]$|[a-z]$", m.group(1).strip()):
        core = m.group(1).strip()
        # "sm 16" and "m 5" (Kiswahili puts the unit first) are handled below
        if re.search(r"\d$", core) or " " in m.group(0):
            t, unit = core, _UNIT_ALIASES[m.group(2)]
    m = re.match(rf"^({_UNIT_RE})\.?\s+(.+)$", t)
    if not unit and m and re.match(r"^[-+\d.]", m.group(2)):
        t, unit = m.group(2), _UNIT_ALIASES[m.group(1)]
    return t.strip(), unit


def _to_int(digits: str) -> int | None:
    digits = digits.replace(",", "")
    if not digits or len(digits) > MAX_DIGITS or not digits.isdigit():
        return None
    return int(digits)


def _decimal(core: str) -> Fraction | None:
    if not _DECIMAL.match(core):
        return None
    sign = -1 if core.startswith("-") else 1
    core = core.lstrip("+-")
    if re.match(r"^\d+,\d{1,2}$|^\d+,\d{4,}$", core):  # "2,5": a decimal comma
        core = core.replace(",", ".")
    whole, _, frac = core.partition(".")
    w = _to_int(whole) if whole else 0
    if w is None or len(frac) > MAX_DIGITS:
        return None
    value = Fraction(w) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
    return sign * value


def _fraction(core: str) -> tuple[Fraction, str] | None:
    m = _FRACTION.match(core)
    if not m:
        return None
    sign = -1 if m.group(1) == "-" else 1
    whole_txt = m.group(2) or m.group(3)
    num, den = _to_int(m.group(4)), _to_int(m.group(5))
    if num is None or not den:
        return None
    whole = _to_int(whole_txt) if whole_txt else 0
    if whole is None:
        return None
    return sign * (whole + Fraction(num, den)), ("mixed" if whole_txt else "fraction")


def parse_time(text: str) -> int | None:
    """Minutes after midnight for "14:30", "2:30 pm", "2.30pm", "2pm"; None otherwise.

    Without am/pm a time is read on the 24-hour clock; the checker compares such times
    modulo 12 hours, since "2:30" for 14:30 is how people say it.
    """
    m = _TIME.match(fold(text).replace(" ", "") if len(text) <= 20 else "")
    if not m:
        return None
    if m.group(4):
        hour, minute, half = int(m.group(4)), 0, m.group(5)
    else:
        hour, minute, half = int(m.group(1)), int(m.group(2)), m.group(3)
    if minute > 59 or hour > 23 or (half and not 1 <= hour <= 12):
        return None
    if half:
        hour = hour % 12 + (12 if half.startswith("p") else 0)
    return hour * 60 + minute


def _numeric_core(core: str) -> Quantity | None:
    if not core:
        return None
    percent = core.endswith("%")
    if percent:
        core = core[:-1].strip()
    value: Fraction | None = None
    form = "integer"
    frac = _fraction(core)
    if frac is not None:
        value, form = frac
    else:
        value = _decimal(core)
        if value is not None:
            form = "decimal" if "." in core or re.search(r",\d{1,2}$", core) else "integer"
    if value is None:
        return None
    if percent:
        return Quantity(value=value, form="percent", text=core)
    return Quantity(value=value, form=form, text=core)


def parse_quantity(text: str, lang: str = "en") -> Quantity | None:
    """The number in `text` (digits, fraction, mixed number, percent, words), or None."""
    if not isinstance(text, str) or len(text) > MAX_LEN:
        return None
    t = fold(text).rstrip(".!?").strip()
    t = re.sub(r"^(?:(?:the answer is|answer|jibu ni|jibu|ni|it is|it's)\b\s*[:=]?|=)\s*", "", t)
    t = re.sub(r"^(?:minus|negative|hasi)\s+(?=[\d.])", "-", t)
    t = re.sub(r"(\d)\s*%", r"\1%", t)
    if not t:
        return None
    core, unit = _strip_marks(t)
    q = _numeric_core(core)
    if q is None:
        value = words.parse_number_words(core)
        if value is None:
            return None
        q = Quantity(value=value, form="words", text=core)
    return Quantity(value=q.value, form=q.form, unit=unit, text=q.text)


__all__ = ["MAX_LEN", "Quantity", "fold", "parse_quantity", "parse_time"]
