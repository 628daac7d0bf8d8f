from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conversation.teachers.commands import Command, ParseError, parse

CLASSES = {"6b", "7a"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BROADCAST 6B Test on Friday", Command("broadcast", "6b", "Test on Friday")),
        ("broadcast 6b  Bring   rulers", Command("broadcast", "6b", "Bring rulers")),
        ("Tangaza 6B Mtihani Ijumaa", Command("broadcast", "6b", "Mtihani Ijumaa")),
        ("LESSON 6B fractions-add", Command("lesson", "6b", "fractions-add")),
        ("somo 7a sehemu", Command("lesson", "7a", "sehemu")),
        ("NEXT 6B", Command("next", "6b")),
        ("endelea 6b", Command("next", "6b")),
        ("Repeat 6B", Command("repeat", "6b")),
        ("rudia 6B", Command("repeat", "6b")),
        ("SKIP 6B", Command("skip", "6b")),
        ("ruka 6b", Command("skip", "6b")),
        ("PAUSE 6B", Command("pause", "6b")),
        ("simamisha 6B", Command("pause", "6b")),
        ("RESUME 6B", Command("resume", "6b")),
        ("anza tena 6B", Command("resume", "6b")),
        ("RESULTS 7A", Command("results", "7a")),
        ("matokeo 7a", Command("results", "7a")),
        ("HELP", Command("help")),
        ("msaada", Command("help")),
        ("YES", Command("yes")),
        ("Ndiyo", Command("yes")),
        ("no", Command("no")),
    ],
)
def test_parses_english_and_kiswahili(text, expected):
    assert parse(text, known_classes=CLASSES) == expected


def test_class_can_be_left_out_on_the_class_number():
    assert parse("NEXT", known_classes=CLASSES, default_class="6B") == Command("next", "6b")
    assert parse("BROADCAST Bring rulers", known_classes=CLASSES, default_class="6B") == Command(
        "broadcast", "6b", "Bring rulers"
    )


@pytest.mark.parametrize("text", ["NEXT", "NEXT 9Z", "BROADCAST 6B", "LESSON 6B"])
def test_incomplete_commands_explain(text):
    result = parse(text, known_classes=CLASSES)
    assert isinstance(result, ParseError)


@pytest.mark.parametrize("text", ["", "3/4", "hello teacher", "the next one is 5", "nextt 6B"])
def test_ordinary_text_is_not_a_command(text):
    assert parse(text, known_classes=CLASSES) is None


@given(st.text(max_size=300))
def test_parse_never_raises(text):
    result = parse(text, known_classes=CLASSES, default_class=None)
    assert result is None or isinstance(result, Command | ParseError)
