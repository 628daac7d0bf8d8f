"""Mode-level fixtures: the mini-math pack saved, a student, and a ModeContext driver."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from modes.base import ModeContext, ModeResult
from modes.registry import get_mode
from rag.schema import Pack
from rag.store import save_pack
from tests import factories

PACK_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "packs" / "mini-math.yaml"


def load_pack() -> Pack:
    return Pack.model_validate(yaml.safe_load(PACK_PATH.read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def pack() -> Pack:
    return load_pack()


@dataclass
class Driver:
    """Plays a student through one mode, one unit of work per turn, like the engine does."""

    rt: Any
    pack: Pack
    student_id: int
    mode: str
    topic_id: str
    lang: str = "en"
    channel: str = "sms"
    data: dict[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime(2025, 3, 3, 8, 0, tzinfo=UTC))
    last: ModeResult | None = None

    def _run(self, fn: str, *args: str) -> ModeResult:
        self.now += timedelta(seconds=20)
        with self.rt.session() as s:
            from core.models import Student

            student = s.get(Student, self.student_id)
            ctx = ModeContext(runtime=self.rt, session=s, student=student, lang=self.lang, channel=self.channel,
                              pack=self.pack, topic_id=self.topic_id, data=self.data, now=self.now)
            self.last = getattr(get_mode(self.mode), fn)(ctx, *args)
        return self.last

    def start(self) -> ModeResult:
        return self._run("start")

    def say(self, text: str) -> ModeResult:
        return self._run("handle", text)

    def resume(self) -> ModeResult:
        return self._run("resume")

    @property
    def text(self) -> str:
        return self.last.reply.full_text() if self.last else ""


@pytest.fixture
def saved_pack(rt, pack) -> Pack:
    with rt.session() as s:
        save_pack(s, pack)
    return pack


@pytest.fixture
def student_id(rt, saved_pack) -> int:
    with rt.session() as s:
        return factories.student(s, language="en").id


@pytest.fixture
def drive(rt, saved_pack, student_id):
    def make(mode: str, topic_id: str = "fractions-add", **kw) -> Driver:
        return Driver(rt=rt, pack=saved_pack, student_id=student_id, mode=mode, topic_id=topic_id, **kw)

    return make
