"""Recognising the global commands (MENU, HELP, STOP, START, LANG, MORE, BACK) in any language.

Students type on feature phones: case, spacing, punctuation and one slip of the thumb
must not matter ("Menu", " menyu ", "stpo", "hepl"). But a quiz answer that merely
contains a command word ("I stop at the river") must never be taken as one, so a
message is a command only when, once polite filler is removed, the command is all
that is left. Keywords are input vocabulary, not text a student reads, so they live
here and not in the catalogs.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Command(StrEnum):
    MENU = "menu"
    HELP = "help"
    STOP = "stop"
    START = "start"
    LANG = "lang"
    MORE = "more"
    BACK = "back"


# Every word (or phrase, space-joined) maps to one command. English, Kiswahili, and the
# Luganda, Bemba and Nyanja forms we are confident of.
KEYWORDS: dict[str, Command] = {
    # MENU
    "menu": Command.MENU, "menyu": Command.MENU, "main menu": Command.MENU, "home": Command.MENU,
    "orodha": Command.MENU, "mwanzo": Command.MENU,
    # HELP
    "help": Command.HELP, "msaada": Command.HELP, "saidia": Command.HELP, "nisaidie": Command.HELP,
    "info": Command.HELP, "obuyambi": Command.HELP, "thandizo": Command.HELP,
    "ubwafwilisho": Command.HELP, "?": Command.HELP,
    # STOP
    "stop": Command.STOP, "stopall": Command.STOP, "stop all": Command.STOP, "unsubscribe": Command.STOP,
    "cancel": Command.STOP, "end": Command.STOP, "quit": Command.STOP, "optout": Command.STOP,
    "opt out": Command.STOP, "acha": Command.STOP, "sitisha": Command.STOP, "simamisha": Command.STOP,
    "leka": Command.STOP,
    # START
    "start": Command.START, "unstop": Command.START, "subscribe": Command.START, "anza": Command.START,
    "anzisha": Command.START, "tandika": Command.START, "tampa": Command.START, "yambani": Command.START,
    # LANG
    "lang": Command.LANG, "language": Command.LANG, "lugha": Command.LANG, "olulimi": Command.LANG,
    "lulimi": Command.LANG, "ululimi": Command.LANG, "chilankhulo": Command.LANG,
    # MORE
    "more": Command.MORE, "zaidi": Command.MORE, "ebirala": Command.MORE, "zambiri": Command.MORE,
    # BACK
    "back": Command.BACK, "rudi": Command.BACK, "nyuma": Command.BACK, "emabega": Command.BACK,
    "kunuma": Command.BACK, "bwerera": Command.BACK,
}

# Words that may surround a command without changing it ("stop please", "Stop. Thank you").
FILLER = frozenset({
    "please", "pls", "plz", "pliz", "kindly", "thank", "thanks", "thankyou", "thx", "you", "now", "ok", "okay",
    "asante", "asanteni", "sana", "tafadhali", "tafathali", "sasa", "somo", "webale", "natotela", "zikomo",
    "the", "me", "it", "hi", "hello", "jambo", "habari", "sir", "madam", "mwalimu",
})
# Extra filler only after STOP: "stop sending me messages", "acha kutuma ujumbe".
STOP_FILLER = frozenset({"sending", "send", "messages", "message", "sms", "texts", "text", "these", "kutuma",
                         "ujumbe", "meseji", "all"})

# USSD keys (the operator convention the channel renderer also shows).
USSD_KEYS = {"0": Command.BACK, "00": Command.MENU, "98": Command.MORE}

_SPACE = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w?]+", re.UNICODE)


def fold(text: str) -> str:
    """Lower case, accents and punctuation removed, spaces collapsed: how keywords are compared."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _NOT_WORD.sub(" ", text.casefold())
    return _SPACE.sub(" ", text).strip()


def _near(word: str, keyword: str) -> bool:
    """One slip of the thumb: a swap of neighbours, a doubled letter, or (5+ letters) one edit.

    Four-letter keywords only forgive swaps and doubled letters, because one free edit
    would turn real answers into commands ("lung" is not "lang").
    """
    if word == keyword:
        return True
    if len(word) == len(keyword):
        diff = [i for i, (a, b) in enumerate(zip(word, keyword, strict=True)) if a != b]
        if len(diff) == 2 and diff[1] == diff[0] + 1 and word[diff[0]] == keyword[diff[1]] \
                and word[diff[1]] == keyword[diff[0]]:
            return True
        return len(keyword) >= 5 and len(diff) == 1
    if len(word) == len(keyword) + 1:
        for i in range(len(word)):
            if word[:i] + word[i + 1:] == keyword:
                doubled = (i > 0 and word[i] == word[i - 1]) or (i + 1 < len(word) and word[i] == word[i + 1])
                return doubled or len(keyword) >= 5
        return False
    if len(word) + 1 == len(keyword) and len(keyword) >= 6:
        return any(keyword[:i] + keyword[i + 1:] == word for i in range(len(keyword)))
    return False


def _lookup(phrase: str) -> Command | None:
    if phrase in KEYWORDS:
        return KEYWORDS[phrase]
    if " " in phrase or len(phrase) < 4 or phrase.isdigit():
        return None
    for keyword, command in KEYWORDS.items():
        if " " not in keyword and len(keyword) >= 4 and _near(phrase, keyword):
            return command
    return None


def parse(text: str, *, channel: str = "sms") -> Command | None:
    """The global command this message is, or None (it is an answer or a menu choice)."""
    raw = (text or "").strip()
    if channel == "ussd" and raw in USSD_KEYS:
        return USSD_KEYS[raw]
    words = fold(raw).split(" ")
    if not words or words == [""] or len(words) > 8:
        return None
    for size in (2, 1):  # two-word keywords first ("opt out", "main menu")
        for i in range(len(words) - size + 1):
            command = _lookup(" ".join(words[i:i + size]))
            if command is None:
                continue
            rest = words[:i] + words[i + size:]
            filler = FILLER | STOP_FILLER if command is Command.STOP else FILLER
            if all(w in filler for w in rest):
                return command
    return None


SKIP_WORDS = frozenset({"skip", "ruka", "ruka hii", "no", "none", "sina", "hapana", "later", "baadaye"})
YES_WORDS = frozenset({"yes", "y", "ndiyo", "ndio", "ee", "yee", "agree", "ok", "okay", "sawa", "inde", "eya"})


def is_skip(text: str) -> bool:
    return fold(text) in SKIP_WORDS


def is_yes(text: str) -> bool:
    return fold(text) in YES_WORDS
