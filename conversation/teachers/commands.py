"""Parsing teacher commands (English and Kiswahili, case-insensitive).

`BROADCAST <class> <text>`, `LESSON <class> <topic>`, `NEXT|REPEAT|SKIP|PAUSE|RESUME|RESULTS <class>`,
`HELP`, and `YES`/`NO` for a pending confirmation. When the message arrives on a class's own
number the class may be left out. Parsing is pure; carrying out lives in `teachers.service`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

VERBS: dict[str, str] = {
    "broadcast": "broadcast", "tangaza": "broadcast", "bcast": "broadcast",
    "lesson": "lesson", "somo": "lesson", "fundisha": "lesson",
    "next": "next", "endelea": "next", "mbele": "next",
    "repeat": "repeat", "rudia": "repeat",
    "skip": "skip", "ruka": "skip",
    "pause": "pause", "simamisha": "pause", "sitisha": "pause",
    "resume": "resume", "rejea": "resume", "anzatena": "resume",
    "results": "results", "matokeo": "results", "result": "results",
    "help": "help", "msaada": "help", "saidia": "help",
    "yes": "yes", "ndiyo": "yes", "ndio": "yes",
    "no": "no", "hapana": "no", "ghairi": "no",
}
DOMAIN = "teachers"  # the catalog domain of the msgids marked here
NEEDS_CLASS = {"broadcast", "lesson", "next", "repeat", "skip", "pause", "resume", "results"}
NEEDS_ARG = {"broadcast", "lesson"}


@dataclass(frozen=True)
class Command:
    verb: str
    class_ref: str | None = None
    arg: str = ""


def N_(msgid: str) -> str:
    """Marks a msgid for extraction; the service translates it in the teacher's language."""
    return msgid


@dataclass(frozen=True)
class ParseError:
    reason: str  # msgid of the explanation
    verb: str | None = None


def _fold(word: str) -> str:
    word = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in word if ch.isalnum()).lower()


def parse(text: str, *, known_classes: set[str], default_class: str | None = None,
          foreign_classes: frozenset[str] | set[str] = frozenset()) -> Command | ParseError | None:
    """A Command, a ParseError (it was meant as a command but is incomplete), or None (not a command).

    `known_classes` holds the lower-cased names/keywords the teacher may refer to; a class
    reference is matched case-insensitively against it. `foreign_classes` are the school's
    other classes: naming one is an error even where a default class applies.
    """
    words = text.strip().split()
    if not words:
        return None
    first = _fold(words[0])
    if first == "anza" and len(words) > 1 and _fold(words[1]) == "tena":
        first, words = "anzatena", ["anzatena", *words[2:]]
    verb = VERBS.get(first)
    if verb is None:
        return None
    rest = words[1:]
    if verb not in NEEDS_CLASS:
        return Command(verb)
    class_ref = None
    if rest and rest[0].lower() in foreign_classes and rest[0].lower() not in known_classes:
        return ParseError(N_("Unknown class {name}. Your classes: {classes}"), verb)
    if rest and rest[0].lower() in known_classes:
        class_ref, rest = rest[0].lower(), rest[1:]
    elif default_class is not None:
        class_ref = default_class.lower()
    if class_ref is None:
        if rest:
            return ParseError(N_("Unknown class {name}. Your classes: {classes}"), verb)
        return ParseError(N_("Which class? For example: {example}"), verb)
    arg = " ".join(rest).strip()
    if verb in NEEDS_ARG and not arg:
        return ParseError(N_("Missing text. For example: {example}"), verb)
    return Command(verb, class_ref, arg)


EXAMPLES = {
    "broadcast": "BROADCAST 6B Test on Friday",
    "lesson": "LESSON 6B fractions-add",
    "next": "NEXT 6B", "repeat": "REPEAT 6B", "skip": "SKIP 6B", "pause": "PAUSE 6B",
    "resume": "RESUME 6B", "results": "RESULTS 6B",
}


def normalise_topic(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
