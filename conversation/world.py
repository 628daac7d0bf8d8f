"""What the machine may look up: the facts of one turn, and read-only queries behind a protocol.

The machine never writes; it reads through `World` (the database here, a dict in tests of
the pure machine) and returns effects that the engine applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from conversation.text import subject_title
from core.models import CurriculumPack, Enrolment, School, SchoolClass, Student
from rag.store import get_pack

MODE_NAMES = ("teach", "explore", "practice", "exam")


@dataclass(frozen=True)
class Profile:
    id: int
    name: str
    has_pin: bool
    onboarded: bool


@dataclass(frozen=True)
class Item:
    """A menu entry: a subject (id = pack id) or a topic (id = topic id)."""

    id: str
    title: str


@dataclass(frozen=True)
class ClassInfo:
    id: int
    name: str
    school: str


@dataclass(frozen=True)
class Facts:
    """Everything the machine knows about this turn beyond the state itself."""

    student_id: int
    name: str
    lang: str
    country: str
    offered: tuple[str, ...]  # languages offered for the number's country
    onboarded: bool
    enrolled: bool
    has_pin: bool
    channel: str
    new_session: bool = False  # a USSD dial, or a message after a long pause
    switched: bool = False  # the learner was just picked on a shared phone
    button_id: str | None = None


class World(Protocol):
    def profiles(self) -> list[Profile]: ...

    def subjects(self, lang: str) -> list[Item]: ...

    def topics(self, pack: str, lang: str) -> list[Item]: ...

    def find_class(self, code: str) -> ClassInfo | None: ...

    def check_pin(self, student_id: int, pin: str) -> bool: ...

    def modes(self) -> tuple[str, ...]: ...


# Built once: the four columns a profile needs, not whole learners.
_PROFILES = (
    select(Student.id, Student.name, Student.pin_hash, Student.onboarded)
    .where(Student.contact_id == bindparam("contact_id"), Student.active.is_(True))
    .order_by(Student.id)
)


class DbWorld:
    """The real look-ups, for one contact, in the engine's unit of work."""

    def __init__(self, session: Session, contact_id: int, student_id: int, country: str,
                 mode_names: tuple[str, ...] = MODE_NAMES):
        self.session = session
        self.contact_id = contact_id
        self.student_id = student_id
        self.country = country
        self.mode_names = mode_names
        self._profiles: list[Profile] | None = None

    def profiles(self) -> list[Profile]:
        """The phone's learners, read once per world (one machine step asks several times; the
        learners it changes are written after the step, by the engine)."""
        if self._profiles is None:
            rows = self.session.execute(_PROFILES, {"contact_id": self.contact_id})
            self._profiles = [Profile(r.id, r.name or "?", bool(r.pin_hash), r.onboarded) for r in rows]
        return list(self._profiles)

    def _class_packs(self) -> list[str]:
        return [p for p in self.session.scalars(
            select(SchoolClass.pack).join(Enrolment, Enrolment.class_id == SchoolClass.id)
            .where(Enrolment.student_id == self.student_id, Enrolment.active.is_(True),
                   SchoolClass.pack.is_not(None))
            .order_by(Enrolment.id)
        ) if p]

    def subjects(self, lang: str) -> list[Item]:
        """The packs of the student's classes, or else (none set, or none loaded) the country's packs."""
        query = select(CurriculumPack.pack, CurriculumPack.subject, CurriculumPack.grade)
        order = (CurriculumPack.subject, CurriculumPack.grade)
        wanted = self._class_packs()
        rows = self.session.execute(query.where(CurriculumPack.pack.in_(wanted)).order_by(*order)).all() \
            if wanted else []
        if not rows:
            rows = self.session.execute(query.where(CurriculumPack.country == self.country).order_by(*order)).all()
        titles = [subject_title(r.subject, lang) for r in rows]
        return [Item(r.pack, f"{t} {r.grade}" if titles.count(t) > 1 else t) for r, t in zip(rows, titles, strict=True)]

    def topics(self, pack: str, lang: str) -> list[Item]:
        p = get_pack(self.session, pack)
        if p is None:
            return []
        return [Item(t.id, p.text(t.title, lang)) for t in p.topics]

    def find_class(self, code: str) -> ClassInfo | None:
        code = code.strip().upper()
        if not code or len(code) > 16:
            return None
        row = self.session.execute(
            select(SchoolClass.id, SchoolClass.name, School.name.label("school"))
            .join(School, School.id == SchoolClass.school_id)
            .where(or_(func.upper(SchoolClass.join_code) == code, func.upper(SchoolClass.keyword) == code))
        ).first()
        return ClassInfo(row.id, row.name, row.school) if row else None

    def check_pin(self, student_id: int, pin: str) -> bool:
        from conversation.pins import verify_pin

        student = self.session.get(Student, student_id)
        return bool(student and student.contact_id == self.contact_id and verify_pin(student.pin_hash, pin))

    def modes(self) -> tuple[str, ...]:
        return self.mode_names
