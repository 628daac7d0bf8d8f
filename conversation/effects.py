"""What the machine asks the edge to do. The machine returns these; `conversation.engine`
applies them inside the unit of work (rows) or after commit (jobs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from conversation.store import ConvState
from core.messages import Reply


@dataclass(frozen=True)
class SetLanguage:
    lang: str


@dataclass(frozen=True)
class SetName:
    name: str


@dataclass(frozen=True)
class SetPin:
    pin: str


@dataclass(frozen=True)
class Enrol:
    class_id: int


@dataclass(frozen=True)
class FinishOnboarding:
    pass


@dataclass(frozen=True)
class SwitchStudent:
    """Another learner on this phone takes over; the edge re-enters the machine for them."""

    student_id: int


@dataclass(frozen=True)
class AddStudent:
    """A new learner profile on this phone; it starts onboarding."""


@dataclass(frozen=True)
class RunMode:
    """Hand the turn to a learning mode: its reply becomes the machine's reply."""

    action: str  # start | handle | resume
    mode: str
    pack: str
    topic: str
    text: str = ""


@dataclass(frozen=True)
class OptOut:
    pass


@dataclass(frozen=True)
class OptIn:
    pass


Effect = SetLanguage | SetName | SetPin | Enrol | FinishOnboarding | SwitchStudent | AddStudent | RunMode | OptOut | OptIn


@dataclass
class Outcome:
    state: ConvState
    reply: Reply | None  # None: a RunMode effect supplies it, or (opted out) say nothing
    effects: list[Effect] = field(default_factory=list)
