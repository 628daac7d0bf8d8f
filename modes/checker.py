"""Checking a student's answer against a pack question, by value.

Pure and total: `check` never raises, whatever the text (a property test holds it to that).
The order matters: multiple choice first (a letter or number names a choice), then times of
day, then numbers by exact value (with the question's simplest-form rule and units), then
short text with case, spacing and accents folded, the pack's `accept` list and one slip
forgiven in longer words.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from modes.numbers import MAX_LEN, Quantity, fold, parse_quantity, parse_time
from modes.words import damerau
from rag.schema import TeachQuestion

LETTERS = string.ascii_lowercase


@dataclass(frozen=True)
class CheckResult:
    correct: bool
    normalised: str  # what we understood the student to say ("3/4", "b: 3/4", "14:30")
    reason: str  # exact | equivalent | choice | accepted | misspelt | not_simplest | wrong_unit | wrong | empty | unreadable


def qtype(question: TeachQuestion) -> str:
    """mcq | numeric | short: how the question is answered (stored on each attempt)."""
    if question.choices:
        return "mcq"
    return "numeric" if parse_quantity(question.answer) is not None or parse_time(question.answer) is not None else "short"


def _text(value: str) -> str:
    """Folded text for comparing words: case, accents, punctuation and spacing ignored."""
    t = fold(value)
    t = re.sub(r"[^\w%/:.\- ]", " ", t)
    return re.sub(r"\s+", " ", t).strip(" .-")


def _choice_index(given: str, choices: list[str]) -> int | None:
    """Which choice the student named: its text (or value), else its letter or number."""
    folded = _text(given)
    for i, c in enumerate(choices):
        if folded == _text(c):
            return i
    gq = parse_quantity(given)
    if gq is not None and not re.fullmatch(r"\d{1,2}", folded):
        for i, c in enumerate(choices):
            cq = parse_quantity(c)
            if cq is not None and cq.value == gq.value and (not cq.unit or not gq.unit or cq.unit == gq.unit):
                return i
    m = re.fullmatch(r"(?:option |chaguo |jibu )?\(?([a-z]|\d{1,2})\)?[.)]?", folded)
    if m:
        token = m.group(1)
        i = LETTERS.index(token) if token.isalpha() else int(token) - 1
        if 0 <= i < len(choices):
            return i
    for i, c in enumerate(choices):  # a value typed where the choice text is a value
        if gq is not None and (cq := parse_quantity(c)) is not None and cq.value == gq.value:
            return i
    return None


def _check_choice(given: str, question: TeachQuestion) -> CheckResult:
    choices = list(question.choices or [])
    i = _choice_index(given, choices)
    if i is None:
        return CheckResult(False, _text(given), "unreadable")
    chosen = choices[i]
    right = chosen == question.answer or _text(chosen) in {_text(a) for a in question.accept}
    return CheckResult(right, f"{LETTERS[i]}: {chosen}", "choice" if right else "wrong")


def _same_quantity(given: Quantity, expected: Quantity) -> bool:
    if expected.form == "percent" and given.form != "percent":
        return given.value in (expected.value, expected.value / 100)
    if given.form == "percent" and expected.form != "percent":
        return given.value / 100 == expected.value
    return given.value == expected.value


def _check_number(given: str, expected: Quantity, question: TeachQuestion, lang: str) -> CheckResult:
    got = parse_quantity(given, lang)
    if got is None:
        return CheckResult(False, _text(given), "unreadable")
    shown = _show(got)
    targets = [expected] + [q for a in question.accept if (q := parse_quantity(a)) is not None]
    if not any(_same_quantity(got, t) for t in targets):
        return CheckResult(False, shown, "wrong")
    if got.unit and expected.unit and got.unit != expected.unit:
        return CheckResult(False, shown, "wrong_unit")
    if question.simplest and not got.in_lowest_terms:
        return CheckResult(False, shown, "not_simplest")
    exact = _text(given) == _text(question.answer)
    return CheckResult(True, shown, "exact" if exact else "equivalent")


def _show(q: Quantity) -> str:
    v = q.value
    text = str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
    if q.form == "percent":
        text += "%"
    return f"{text} {q.unit}".strip()


def _check_time(given: str, expected: int) -> CheckResult:
    got = parse_time(given)
    if got is None:
        return CheckResult(False, _text(given), "unreadable")
    shown = f"{got // 60:02d}:{got % 60:02d}"
    half_day = 12 * 60
    has_half = re.search(r"[ap]\.?m", fold(given)) is not None
    same = got == expected or (not has_half and got % half_day == expected % half_day)
    return CheckResult(same, shown, "equivalent" if same else "wrong")


def _check_text(given: str, question: TeachQuestion) -> CheckResult:
    got = _text(given)
    targets = [_text(question.answer)] + [_text(a) for a in question.accept]
    if got == targets[0]:
        return CheckResult(True, got, "exact")
    if got in targets[1:]:
        return CheckResult(True, got, "accepted")
    squeezed = got.replace(" ", "")
    if any(squeezed == t.replace(" ", "") for t in targets):
        return CheckResult(True, got, "accepted")
    for t in targets:
        allowed = 2 if len(t) >= 10 else 1 if len(t) >= 5 else 0
        if allowed and damerau(got, t, allowed) <= allowed:
            return CheckResult(True, got, "misspelt")
    return CheckResult(False, got, "wrong")


def check(answer_given: str, question: TeachQuestion, lang: str = "en") -> CheckResult:
    """Is `answer_given` right for `question`? Never raises."""
    if not isinstance(answer_given, str) or not answer_given.strip():
        return CheckResult(False, "", "empty")
    given = answer_given.strip()[: MAX_LEN * 4]
    try:
        if question.choices:
            return _check_choice(given, question)
        expected_time = parse_time(question.answer) if ":" in question.answer or "m" in question.answer else None
        if expected_time is not None:
            return _check_time(given, expected_time)
        expected = parse_quantity(question.answer)
        if expected is not None:
            return _check_number(given, expected, question, lang)
        return _check_text(given, question)
    except (ValueError, ArithmeticError, IndexError, RecursionError):  # defensive: a bug must not end a lesson
        return CheckResult(False, _text(given)[:MAX_LEN], "unreadable")
