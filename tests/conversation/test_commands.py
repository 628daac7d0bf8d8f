"""Global commands: every language, any case and spacing, one slip of the thumb; never a
command when the word is only part of a longer answer."""

from __future__ import annotations

import pytest

from conversation.commands import Command, is_skip, parse

C = Command


@pytest.mark.parametrize(("text", "expected"), [
    ("MENU", C.MENU), ("menu", C.MENU), ("  Menu  ", C.MENU), ("MENYU", C.MENU), ("main menu", C.MENU),
    ("HELP", C.HELP), ("msaada", C.HELP), ("Msaada!", C.HELP), ("?", C.HELP),
    ("STOP", C.STOP), ("stop", C.STOP), ("Stop.", C.STOP), ("stop please", C.STOP), ("Stop. Thank you", C.STOP),
    ("please stop", C.STOP), ("STOP!!!", C.STOP), ("stop sending me messages", C.STOP), ("unsubscribe", C.STOP),
    ("opt out", C.STOP), ("ACHA", C.STOP), ("acha tafadhali", C.STOP), ("Sitisha", C.STOP), ("stop asante sana", C.STOP),
    ("START", C.START), ("start", C.START), ("ANZA", C.START), ("unstop", C.START),
    ("LANG", C.LANG), ("language", C.LANG), ("LUGHA", C.LANG), ("chilankhulo", C.LANG), ("olulimi", C.LANG),
    ("MORE", C.MORE), ("ZAIDI", C.MORE), ("zaidi tafadhali", C.MORE), ("zambiri", C.MORE),
    ("BACK", C.BACK), ("RUDI", C.BACK), ("nyuma", C.BACK),
])
def test_commands_in_every_language_case_and_spacing(text, expected):
    assert parse(text) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("stpo", C.STOP), ("sotp", C.STOP), ("stopp", C.STOP), ("mneu", C.MENU), ("menuu", C.MENU), ("hepl", C.HELP),
    ("mroe", C.MORE), ("bakc", C.BACK), ("menyuu", C.MENU), ("msada", C.HELP), ("zaidii", C.MORE), ("starr", C.START),
    ("langauge", C.LANG), ("lugah", C.LANG), ("unsubscrbe", C.STOP),
])
def test_small_typos_are_forgiven(text, expected):
    assert parse(text) is expected


@pytest.mark.parametrize("text", [
    "I want to stop at the river", "the bus will stop", "stop the car and help me", "more or less",
    "lung", "mode", "star", "help me with fractions", "3/4", "1", "", "   ", "Amina", "back of the book",
    "menu of the hotel is long", "stop stop stop stop stop stop stop stop stop",
])
def test_longer_answers_and_real_words_are_not_commands(text):
    assert parse(text) is None


@pytest.mark.parametrize(("text", "channel", "expected"), [
    ("0", "ussd", C.BACK), ("00", "ussd", C.MENU), ("98", "ussd", C.MORE),
    ("0", "sms", None), ("00", "whatsapp", None), ("98", "sms", None),
])
def test_ussd_keys_only_on_ussd(text, channel, expected):
    assert parse(text, channel=channel) is expected


def test_skip_words():
    assert is_skip("SKIP") and is_skip("ruka") and is_skip(" Skip. ")
    assert not is_skip("skip to the end")
