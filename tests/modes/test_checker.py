"""The answer checker: a table of right and wrong answers in English and Kiswahili, and a
property test that it never raises, whatever the text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modes.checker import CheckResult, check, qtype
from modes.numbers import parse_quantity
from rag.schema import BankQuestion, TeachQuestion


def Q(answer: str, **kw) -> TeachQuestion:  # noqa: N802 - reads like the pack
    return TeachQuestion(question="?", answer=answer, **kw)


MCQ = Q("3/4", choices=["2/6", "3/4", "1/8"])
MCQ_WORDS = Q("Nairobi", choices=["Mombasa", "Nairobi", "Kisumu", "Nakuru"])
MCQ_UNITS = Q("16 cm", choices=["8 cm", "12 cm", "16 cm"])
MCQ_NUMBERS = Q("20", choices=["10", "20", "25"])
HALF_SIMPLEST = Q("1/2", simplest=True)
MIXED = Q("1 5/12")
TEXT = Q("perimeter", accept=["mzingo"])
PHOTO = Q("photosynthesis")
ACCENT = Q("café")

CASES = [
    # fractions: equivalent forms (en)
    ("3/4", Q("3/4"), "en", True), ("6/8", Q("3/4"), "en", True), ("0.75", Q("3/4"), "en", True),
    (".75", Q("3/4"), "en", True), ("75%", Q("3/4"), "en", True), (" 3 / 4 ", Q("3/4"), "en", True),
    ("three quarters", Q("3/4"), "en", True), ("Three Quarters.", Q("3/4"), "en", True),
    ("three fourths", Q("3/4"), "en", True), ("3 over 4", Q("3/4"), "en", True),
    ("the answer is 3/4", Q("3/4"), "en", True), ("4/3", Q("3/4"), "en", False), ("0.7", Q("3/4"), "en", False),
    ("1/2", Q("3/4"), "en", False), ("3/5", Q("3/4"), "en", False), ("3/0", Q("3/4"), "en", False),
    # fractions (sw)
    ("robo tatu", Q("3/4"), "sw", True), ("Robo Tatu", Q("3/4"), "sw", True), ("jibu ni 3/4", Q("3/4"), "sw", True),
    ("robo", Q("3/4"), "sw", False), ("nusu", Q("1/2"), "sw", True), ("nusu", Q("0.5"), "sw", True),
    ("robo", Q("1/4"), "sw", True), ("theluthi", Q("1/3"), "sw", True), ("theluthi mbili", Q("2/3"), "sw", True),
    ("theluthi mbili", Q("1/3"), "sw", False),
    # simplest form rule
    ("1/2", HALF_SIMPLEST, "en", True), ("2/4", HALF_SIMPLEST, "en", False), ("4/8", HALF_SIMPLEST, "en", False),
    ("0.5", HALF_SIMPLEST, "en", True), ("one half", HALF_SIMPLEST, "en", True), ("nusu", HALF_SIMPLEST, "sw", True),
    ("2/4", Q("1/2"), "en", True),
    # mixed numbers
    ("1 5/12", MIXED, "en", True), ("17/12", MIXED, "en", True), ("1-5/12", MIXED, "en", True),
    ("1 10/24", MIXED, "en", True), ("1 5/13", MIXED, "en", False), ("15/12", MIXED, "en", False),
    ("two and a half", Q("2 1/2"), "en", True), ("2.5", Q("2 1/2"), "en", True), ("5/2", Q("2 1/2"), "en", True),
    ("mbili na nusu", Q("2 1/2"), "sw", True), ("moja na robo", Q("1.25"), "sw", True),
    ("one and three quarters", Q("1 3/4"), "en", True), ("two and a quarter", Q("2 1/2"), "en", False),
    # integers and decimals
    ("16", Q("16"), "en", True), ("16.0", Q("16"), "en", True), ("016", Q("16"), "en", True),
    ("sixteen", Q("16"), "en", True), ("kumi na sita", Q("16"), "sw", True), ("15", Q("16"), "en", False),
    ("2.5", Q("2.5"), "en", True), ("2,5", Q("2.5"), "en", True), ("2.50", Q("2.5"), "en", True),
    ("5/2", Q("2.5"), "en", True), ("2.05", Q("2.5"), "en", False), ("1,500", Q("1500"), "en", True),
    ("1 500", Q("1500"), "en", False), ("0.1", Q("1/10"), "en", True), ("0.333", Q("1/3"), "en", False),
    # negatives
    ("-3", Q("-3"), "en", True), ("\u22123", Q("-3"), "en", True), ("minus three", Q("-3"), "en", True),
    ("negative 3", Q("-3"), "en", True), ("hasi tatu", Q("-3"), "sw", True), ("3", Q("-3"), "en", False),
    ("-1/2", Q("-0.5"), "en", True),
    # percentages
    ("50%", Q("50%"), "en", True), ("50 %", Q("50%"), "en", True), ("50", Q("50%"), "en", True),
    ("0.5", Q("50%"), "en", True), ("1/2", Q("50%"), "en", True), ("40%", Q("50%"), "en", False),
    ("25%", Q("0.25"), "en", True), ("25", Q("0.25"), "en", False),
    # units and currency marks
    ("14 cm2", Q("14"), "en", True), ("14cm2", Q("14 cm2"), "en", True), ("14 sq cm", Q("14 cm2"), "en", True),
    ("14 cm", Q("14 cm2"), "en", False), ("Ksh 355", Q("355"), "en", True), ("KSh355", Q("355"), "en", True),
    ("355/=", Q("355"), "en", True), ("355/-", Q("355"), "en", True), ("Ksh. 1,500", Q("1500"), "en", True),
    ("shilingi 355", Q("355"), "sw", True), ("UGX 5000", Q("5000"), "en", True), ("K 20", Q("20"), "en", False),
    ("Ksh 350", Q("355"), "en", False), ("16 cm", Q("16 cm"), "en", True), ("sm 16", Q("16 cm"), "sw", True),
    ("16 m", Q("16 cm"), "en", False), ("16 metres", Q("16 m"), "en", True), ("16", Q("16 cm"), "en", True),
    ("8 kg", Q("8"), "en", True), ("mita 5", Q("5 m"), "sw", True),
    # number words (en)
    ("twenty-one", Q("21"), "en", True), ("twenty one", Q("21"), "en", True), ("one hundred and five", Q("105"), "en", True),
    ("a hundred", Q("100"), "en", True), ("two thousand three hundred", Q("2300"), "en", True),
    ("forty two", Q("42"), "en", True), ("twelve", Q("21"), "en", False), ("two point five", Q("2.5"), "en", True),
    ("zero", Q("0"), "en", True), ("nine", Q("9"), "en", True), ("nineteen", Q("19"), "en", True),
    ("ni 9", Q("9"), "sw", True), ("kshs 20", Q("20"), "en", True),
    # number words (sw)
    ("saba", Q("7"), "sw", True), ("nane", Q("8"), "sw", True), ("nane", Q("4"), "sw", False), ("nne", Q("4"), "sw", True),
    ("ishirini na moja", Q("21"), "sw", True), ("ishirini na moja", Q("20"), "sw", False),
    ("mia moja na tano", Q("105"), "sw", True), ("mia tano", Q("500"), "sw", True),
    ("elfu moja mia tano", Q("1500"), "sw", True), ("elfu ishirini na tano", Q("25000"), "sw", True),
    ("thelathini", Q("30"), "sw", True), ("kumi", Q("10"), "sw", True), ("sifuri", Q("0"), "sw", True),
    ("mbili nukta tano", Q("2.5"), "sw", True),
    # common misspellings
    ("fourty two", Q("42"), "en", True), ("ninty", Q("90"), "en", True), ("tweleve", Q("12"), "en", True),
    ("eigth", Q("8"), "en", True), ("three quaters", Q("3/4"), "en", True), ("ishrini", Q("20"), "sw", True),
    ("thelatini", Q("30"), "sw", True), ("perimiter", TEXT, "en", True), ("photosynthesys", PHOTO, "en", True),
    ("fotosynthesis", PHOTO, "en", True), ("synthesis", PHOTO, "en", False),
    # times of day
    ("14:30", Q("14:30"), "en", True), ("2:30 pm", Q("14:30"), "en", True), ("2.30pm", Q("14:30"), "en", True),
    ("2:30", Q("14:30"), "en", True), ("2:30 am", Q("14:30"), "en", False), ("3:30 pm", Q("14:30"), "en", False),
    ("2pm", Q("2:00 pm"), "en", True), ("14:00", Q("2pm"), "en", True), ("14:61", Q("14:30"), "en", False),
    # multiple choice: letter, number, text, value
    ("b", MCQ, "en", True), ("B", MCQ, "en", True), ("2", MCQ, "en", True), ("3/4", MCQ, "en", True),
    ("(b)", MCQ, "en", True), ("option 2", MCQ, "en", True), ("b.", MCQ, "en", True), ("0.75", MCQ, "en", True),
    ("robo tatu", MCQ, "sw", True), ("chaguo 2", MCQ, "sw", True), ("a", MCQ, "en", False), ("1", MCQ, "en", False),
    ("c", MCQ, "en", False), ("d", MCQ, "en", False), ("4", MCQ, "en", False), ("1/3", MCQ, "en", False),
    ("nairobi", MCQ_WORDS, "en", True), ("NAIROBI ", MCQ_WORDS, "en", True), ("b", MCQ_WORDS, "en", True),
    ("2", MCQ_WORDS, "en", True), ("Kisumu", MCQ_WORDS, "en", False), ("d", MCQ_WORDS, "en", False),
    ("16 cm", MCQ_UNITS, "en", True), ("16", MCQ_UNITS, "en", True), ("c", MCQ_UNITS, "en", True),
    ("sm 16", MCQ_UNITS, "sw", True), ("12cm", MCQ_UNITS, "en", False),
    ("20", MCQ_NUMBERS, "en", True), ("2", MCQ_NUMBERS, "en", True), ("b", MCQ_NUMBERS, "en", True),
    ("ishirini", MCQ_NUMBERS, "sw", True), ("twenty", MCQ_NUMBERS, "en", True), ("10", MCQ_NUMBERS, "en", False),
    ("1", MCQ_NUMBERS, "en", False), ("25", MCQ_NUMBERS, "en", False),
    # short text: case, spacing, accents, accept list
    ("Perimeter", TEXT, "en", True), ("  PERIMETER  ", TEXT, "en", True), ("perimeter.", TEXT, "en", True),
    ("mzingo", TEXT, "sw", True), ("Mzingo!", TEXT, "sw", True), ("area", TEXT, "en", False),
    ("eneo", TEXT, "sw", False), ("cafe", ACCENT, "en", True), ("CAFÉ", ACCENT, "en", True),
    ("Photo synthesis", PHOTO, "en", True), ("", TEXT, "en", False), ("   ", TEXT, "en", False),
]


def test_table_is_large_and_balanced():
    assert len(CASES) >= 100
    assert sum(1 for c in CASES if c[3]) >= 60 and sum(1 for c in CASES if not c[3]) >= 40
    assert sum(1 for c in CASES if c[2] == "sw") >= 30


@pytest.mark.parametrize("given_text,question,lang,expected", CASES,
                         ids=[f"{i}-{c[0]!r}->{c[1].answer!r}" for i, c in enumerate(CASES)])
def test_answer_table(given_text, question, lang, expected):
    result = check(given_text, question, lang)
    assert isinstance(result, CheckResult)
    assert result.correct is expected, result


def test_reasons_say_why():
    assert check("2/4", HALF_SIMPLEST).reason == "not_simplest"
    assert check("16 m", Q("16 cm")).reason == "wrong_unit"
    assert check("", TEXT).reason == "empty"
    assert check("banana", Q("3/4")).reason == "unreadable"
    assert check("b", MCQ).normalised == "b: 3/4"
    assert check("0.75", Q("3/4")).normalised == "3/4"
    assert check("perimiter", TEXT).reason == "misspelt"


def test_question_types():
    assert qtype(MCQ) == "mcq" and qtype(Q("3/4")) == "numeric" and qtype(TEXT) == "short"
    assert qtype(Q("14:30")) == "numeric"


def test_exact_arithmetic_not_floats():
    assert parse_quantity("0.1").value + parse_quantity("0.2").value == parse_quantity("0.3").value
    assert check("0.30000000000000004", Q("0.3")).correct is False


def test_hostile_lengths_are_bounded():
    assert check("9" * 100_000, Q("9")).correct is False
    assert check("1/" + "0" * 50, Q("1")).correct is False


_QUESTIONS = st.sampled_from([Q("3/4"), HALF_SIMPLEST, MIXED, TEXT, MCQ, MCQ_UNITS, MCQ_NUMBERS, Q("14:30"),
                              Q("50%"), Q("-3"), Q("1500"), ACCENT,
                              BankQuestion(question="?", answer="5/6", accept=["10/12"], difficulty=2)])


@given(st.text(max_size=200), _QUESTIONS, st.sampled_from(["en", "sw", "xx"]))
def test_checker_never_raises_on_any_text(text, question, lang):
    result = check(text, question, lang)
    assert isinstance(result.correct, bool) and isinstance(result.normalised, str) and result.reason


_NUMBERISH = st.text(alphabet="0123456789 /.,-+%:abcdehklmnoqrstuwKSh=\u2212", max_size=40)


@given(_NUMBERISH, _QUESTIONS)
def test_checker_never_raises_on_numberish_text(text, question):
    check(text, question, "en")


@given(st.fractions(min_value=-1000, max_value=1000, max_denominator=50))
def test_any_fraction_written_as_a_fraction_is_accepted(value):
    q = Q(f"{value.numerator}/{value.denominator}")
    assert check(f"{value.numerator * 3}/{value.denominator * 3}", q).correct
