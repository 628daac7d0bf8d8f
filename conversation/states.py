"""Every conversation state and every transition between them, in one table.

The machine (`conversation.machine`) may only move along an edge listed here: `check`
raises on any other move, so this table is the truth a reader can see whole, and
`mermaid()` draws it for docs/conversation.md. Input a state does not understand keeps
the student where they are (a self-loop, always allowed, not drawn).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class S(StrEnum):
    NEW = "new"
    ONBOARD_LANGUAGE = "onboard_language"
    ONBOARD_NAME = "onboard_name"
    ONBOARD_PIN = "onboard_pin"
    ONBOARD_CLASS = "onboard_class"
    ONBOARD_CONSENT = "onboard_consent"
    MENU = "menu"
    PICK_TOPIC = "pick_topic"
    PICK_MODE = "pick_mode"
    LESSON = "lesson"
    RESUME_OFFER = "resume_offer"
    CHOOSE_PROFILE = "choose_profile"
    ENTER_PIN = "enter_pin"
    PICK_LANGUAGE = "pick_language"
    OPTED_OUT = "opted_out"  # a contact-wide flag (Contact.opted_out), drawn as a state


ONBOARDING = frozenset({S.NEW, S.ONBOARD_LANGUAGE, S.ONBOARD_NAME, S.ONBOARD_PIN, S.ONBOARD_CLASS,
                        S.ONBOARD_CONSENT})
ANY = "*"  # any state of an onboarded student


@dataclass(frozen=True)
class Edge:
    source: str
    event: str
    target: str


TRANSITIONS: tuple[Edge, ...] = (
    # Onboarding an unknown number (a pre-enrolled one skips what the school already gave).
    Edge(S.NEW, "first message", S.ONBOARD_LANGUAGE),
    Edge(S.ONBOARD_LANGUAGE, "language chosen", S.ONBOARD_NAME),
    Edge(S.ONBOARD_LANGUAGE, "language chosen, name known, shared phone", S.ONBOARD_PIN),
    Edge(S.ONBOARD_LANGUAGE, "language chosen, name known", S.ONBOARD_CLASS),
    Edge(S.ONBOARD_LANGUAGE, "language chosen, pre-enrolled", S.ONBOARD_CONSENT),
    Edge(S.ONBOARD_NAME, "name, shared phone", S.ONBOARD_PIN),
    Edge(S.ONBOARD_NAME, "name", S.ONBOARD_CLASS),
    Edge(S.ONBOARD_NAME, "name, pre-enrolled", S.ONBOARD_CONSENT),
    Edge(S.ONBOARD_NAME, "BACK", S.ONBOARD_LANGUAGE),
    Edge(S.ONBOARD_PIN, "4-digit PIN or SKIP", S.ONBOARD_CLASS),
    Edge(S.ONBOARD_PIN, "4-digit PIN or SKIP, pre-enrolled", S.ONBOARD_CONSENT),
    Edge(S.ONBOARD_PIN, "BACK", S.ONBOARD_NAME),
    Edge(S.ONBOARD_CLASS, "join code or SKIP", S.ONBOARD_CONSENT),
    Edge(S.ONBOARD_CLASS, "BACK", S.ONBOARD_NAME),
    Edge(S.ONBOARD_CONSENT, "1 (agree)", S.MENU),
    Edge(S.ONBOARD_CONSENT, "BACK", S.ONBOARD_NAME),
    # The menu: subject -> topic -> mode, and continue where I left off.
    Edge(S.MENU, "continue", S.LESSON),
    Edge(S.MENU, "subject", S.PICK_TOPIC),
    Edge(S.MENU, "change learner", S.CHOOSE_PROFILE),
    Edge(S.MENU, "add a learner (a new profile starts)", S.NEW),
    Edge(S.PICK_TOPIC, "topic", S.PICK_MODE),
    Edge(S.PICK_TOPIC, "BACK", S.MENU),
    Edge(S.PICK_MODE, "mode", S.LESSON),
    Edge(S.PICK_MODE, "BACK", S.PICK_TOPIC),
    Edge(S.LESSON, "mode finished", S.MENU),
    Edge(S.LESSON, "BACK", S.PICK_MODE),
    Edge(S.RESUME_OFFER, "1 (continue)", S.LESSON),
    Edge(S.RESUME_OFFER, "2 (menu) or BACK", S.MENU),
    # One phone, several learners.
    Edge(S.CHOOSE_PROFILE, "learner without PIN", S.MENU),
    Edge(S.CHOOSE_PROFILE, "learner without PIN, lesson in progress", S.RESUME_OFFER),
    Edge(S.CHOOSE_PROFILE, "learner with PIN", S.ENTER_PIN),
    Edge(S.CHOOSE_PROFILE, "add a learner (a new profile starts)", S.NEW),
    Edge(S.CHOOSE_PROFILE, "BACK", S.MENU),
    Edge(S.ENTER_PIN, "right PIN", S.MENU),
    Edge(S.ENTER_PIN, "right PIN, lesson in progress", S.RESUME_OFFER),
    Edge(S.ENTER_PIN, "wrong PIN three times, or BACK", S.CHOOSE_PROFILE),
    Edge(S.PICK_LANGUAGE, "language chosen", S.MENU),
    # Global commands and session starts, from any state of an onboarded student.
    Edge(ANY, "MENU", S.MENU),
    Edge(ANY, "LANG", S.PICK_LANGUAGE),
    Edge(ANY, "new session, lesson in progress", S.RESUME_OFFER),
    Edge(ANY, "new session, shared phone", S.CHOOSE_PROFILE),
    Edge(ANY, "STOP (any state, onboarding too)", S.OPTED_OUT),
    Edge(S.OPTED_OUT, "START", S.MENU),
)

_ALLOWED = {(e.source, e.target) for e in TRANSITIONS}
_FROM_ANY = {e.target for e in TRANSITIONS if e.source == ANY}


class IllegalTransition(RuntimeError):
    """The machine tried a move the table does not list: a bug, never a student's fault."""


def allowed(source: str, target: str) -> bool:
    if source == target or (source, target) in _ALLOWED:
        return True
    return target in _FROM_ANY and source not in ONBOARDING


def check(source: str, target: str) -> None:
    if not allowed(source, target):
        raise IllegalTransition(f"no transition {source!r} -> {target!r} in conversation.states.TRANSITIONS")


def mermaid() -> str:
    """The state diagram as Mermaid text, generated from TRANSITIONS (docs/conversation.md embeds it)."""
    lines = ["stateDiagram-v2", f"    [*] --> {S.NEW.value}"]
    for e in TRANSITIONS:
        source = "onboarded" if e.source == ANY else str(e.source)
        lines.append(f"    {source} --> {e.target}: {e.event}")
    lines.append("    note right of onboarded: any state after onboarding")
    return "\n".join(lines) + "\n"
