"""What the machine may look up: the facts of one turn, and read-only queries behind a protocol.

The machine never writes; it reads through `World` (the database here, a dict in tests of
the pure machine) and returns effects that the engine applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from conversation.text import subject_title
from core.driver import DriverStatement
from core.memo import Memo
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
_PROFILES = DriverStatement(
    select(Student.id, Student.name, Student.pin_hash, Student.onboarded)
    .where(Student.contact_id == bindparam("contact_id"), Student.active.is_(True))
    .order_by(Student.id)
)
# Built once, sent by the driver on PostgreSQL (core.driver): the menus ask them.
_CLASS_PACKS = DriverStatement(
    select(SchoolClass.pack).join(Enrolment, Enrolment.class_id == SchoolClass.id)
    .where(Enrolment.student_id == bindparam("student_id"), Enrolment.active.is_(True), SchoolClass.pack.is_not(None))
    .order_by(Enrolment.id)
)
_SUBJECT_COLUMNS = select(CurriculumPack.pack, CurriculumPack.subject, CurriculumPack.grade)
_SUBJECT_ORDER = (CurriculumPack.subject, CurriculumPack.grade)
_SUBJECTS_OF_PACKS = _SUBJECT_COLUMNS.where(CurriculumPack.pack.in_(bindparam("packs", expanding=True))).order_by(
    *_SUBJECT_ORDER)
_SUBJECTS_OF_COUNTRY = DriverStatement(
    _SUBJECT_COLUMNS.where(CurriculumPack.country == bindparam("country")).order_by(*_SUBJECT_ORDER))
# The menus' subject rows (pack, subject, grade) per country and per set of class packs: they
# change only when a pack is imported, so they are kept per process (core.memo): an import in
# this process is seen at once, one in another process within the TTL.
SUBJECT_ROWS_TTL_S = 30.0
subject_rows = Memo(SUBJECT_ROWS_TTL_S, CurriculumPack)


class DbWorld:
    """The real look-ups, for one contact, in the engine's unit of work."""

    def __init__(self, session: Session, contact_id: int, student_id: int, country: str,
                 mode_names: tuple[str, ...] = MODE_NAMES, in_class: Callable[[], bool] | None = None):
        self.session = session
        self.contact_id = contact_id
        self.student_id = student_id
        self.country = country
        self.mode_names = mode_names
        # Whether the learner has an active class, as the turn knows it (asked when the menu is
        # built, so a class joined earlier in the turn counts); None: ask the database.
        self.in_class = in_class
        self._profiles: list[Profile] | None = None

    def profiles(self) -> list[Profile]:
        """The phone's learners, read once per world (one machine step asks several times; the
        learners it changes are written after the step, by the engine)."""
        if self._profiles is None:
            rows = _PROFILES.execute(self.session, {"contact_id": self.contact_id}).all()
            self._profiles = [Profile(sid, name or "?", bool(pin_hash), onboarded)
                              for sid, name, pin_hash, onboarded in rows]
        return list(self._profiles)

    def _class_packs(self) -> list[str]:
        if self.in_class is not None and not self.in_class():
            return []  # no active class, so no class packs: no statement
        return [p for (p,) in _CLASS_PACKS.execute(self.session, {"student_id": self.student_id}).all() if p]

    def subjects(self, lang: str) -> list[Item]:
        """The packs of the student's classes, or else (none set, or none loaded) the country's packs."""
        wanted = tuple(dict.fromkeys(self._class_packs()))
        rows = subject_rows.get(self.session, ("packs", wanted), lambda: [
            tuple(r) for r in self.session.execute(_SUBJECTS_OF_PACKS, {"packs": list(wanted)}).all()
        ]) if wanted else []
        if not rows:
            rows = subject_rows.get(self.session, ("country", self.country), lambda: [
                tuple(r) for r in _SUBJECTS_OF_COUNTRY.execute(self.session, {"country": self.country}).all()
            ])
        titles = [subject_title(subject, lang) for _pack, subject, _grade in rows]
        return [Item(pack, f"{t} {grade}" if titles.count(t) > 1 else t)
                for (pack, _subject, grade), t in zip(rows, titles, strict=True)]

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
