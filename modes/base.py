"""The interface every learning mode implements. The conversation engine owns the state;
a mode reads and updates its own slice (`ctx.data`) and returns a Reply plus effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from core.messages import Reply
from core.models import Student
from core.runtime import Runtime
from rag.schema import Pack


@dataclass
class ModeContext:
    runtime: Runtime
    session: Session  # the engine's unit of work: flush, never commit
    student: Student
    lang: str  # the student's language (strings come from the catalogs / the pack with fallback)
    channel: str  # sms | ussd | whatsapp | console
    pack: Pack
    topic_id: str
    data: dict[str, Any]  # this mode's persisted state; mutate it in place
    now: datetime
    class_id: int | None = None
    class_paced: bool = False  # a teacher paces this lesson for the class (LESSON / NEXT): no flowing ahead


@dataclass
class ModeResult:
    reply: Reply
    done: bool = False  # the mode has finished: the engine returns to the menu after this reply
    jobs: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)  # enqueued after commit
    progress_label: str = ""  # e.g. "Fractions, step 3 of 6" for "continue where I left off"


class Mode(Protocol):
    name: str  # teach | explore | practice | exam

    def start(self, ctx: ModeContext) -> ModeResult: ...

    def handle(self, ctx: ModeContext, text: str) -> ModeResult: ...

    def resume(self, ctx: ModeContext) -> ModeResult:
        """Show the current step again (after a dropped session or MENU → continue)."""
        ...
