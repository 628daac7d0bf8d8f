"""The edge of the conversation machine: load state, ask the pure machine, apply its effects.

`handle` is called once per stored inbound row, in arrival order, under the contact's lock
(see `conversation.service`). It returns the Reply to send, or None to say nothing (an
opted-out number, a flood past the rate limit). Order: teacher pre-handlers, STOP/START,
rate limit, then the learner's state machine.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import bindparam, null, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from conversation import commands, enrolled, limits, machine, optout
from conversation import effects as fx
from conversation.commands import Command
from conversation.lessons import LessonRunner
from conversation.pins import hash_pin
from conversation.states import S
from conversation.store import ConvState, StateStore
from conversation.text import gettext_for, offered_languages
from conversation.world import DbWorld, Facts
from core import clock
from core.driver import DriverStatement, write_now
from core.i18n import LANGUAGES
from core.messages import Inbound, Reply
from core.models import Contact, Enrolment, SchoolClass, Student
from core.runtime import Runtime

log = logging.getLogger("somo.conversation")

# Handlers that may answer before the student machine: dotted paths to functions
# `(runtime, session, inbound, contact) -> Reply | None`. Teacher commands (a sender whose
# phone is a StaffUser.phone) plug in here; the first non-None reply wins.
PRE_HANDLERS: list[str] = ["conversation.teachers.service.handle", "conversation.teachers.joining.handle"]

IDLE_NEW_SESSION = timedelta(hours=1)  # a message after this pause starts a new session
ACTIVE_PRECISION = timedelta(minutes=1)
KEEP = "conversation.keep"  # session.info key: ORM objects held for the unit of work
NEW_STUDENTS = "conversation.new_students"  # session.info key: learners created in this unit of work
MAX_TEXT = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")


def register_pre_handler(path: str) -> None:
    if path not in PRE_HANDLERS:
        PRE_HANDLERS.append(path)


def clean_text(text: str | None) -> str:
    """Control characters out, length capped: what the machine and the modes may rely on."""
    return _CONTROL.sub(" ", text or "")[:MAX_TEXT].strip()


def _pre_handlers() -> tuple[Callable, ...]:
    return _resolve(tuple(PRE_HANDLERS))


@functools.lru_cache(maxsize=8)  # resolved once per list (every message asks; the list rarely changes)
def _resolve(paths: tuple[str, ...]) -> tuple[Callable, ...]:
    found = []
    for path in paths:
        module, _, name = path.rpartition(".")
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ModuleNotFoundError, AttributeError):
            log.warning("pre-handler %s is not importable; skipped", path)
    return tuple(found)


def handle(runtime: Runtime, session: Session, inbound: Inbound, *, contact_id: int) -> Reply | None:
    """Answer one inbound message from a known contact. Called once per stored inbound row."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise ValueError(f"conversation.engine.handle: contact {contact_id} does not exist")
    text = clean_text(inbound.text)
    for pre in _pre_handlers():
        reply = pre(runtime, session, inbound, contact)
        if reply is not None:
            return reply
    command = commands.parse(text, channel=inbound.channel)
    student = current_student(session, contact)
    lang = student.language if student is not None and student.language in LANGUAGES else "en"
    if command is Command.STOP:
        return optout.opt_out(session, contact, lang)
    prefix = ""
    if contact.opted_out:
        if not optout.wants_start(command, text, inbound.channel):
            return optout.while_out(inbound.channel, lang)
        optout.opt_in(session, contact)
        prefix, command, text = optout.welcome_back(lang), None, ""
    past, wait = limits.over_limit(session, inbound.sender, inbound.received_at, runtime.settings.rate_limit_per_minute)
    if past:
        if inbound.channel == "ussd" or past == 1:
            return limits.warning(wait, inbound.received_at, lang, contact.country, inbound.channel)
        return None
    if student is None:
        student = new_student(session, contact, inbound.channel)
    turn = Turn(runtime, session, contact, inbound)
    reply = turn.run(student, text, command, force_new=bool(prefix))
    if prefix:
        reply.text = f"{prefix}\n{reply.text}"
    return reply


def current_student(session: Session, contact: Contact) -> Student | None:
    """The learner this phone is on now (the first profile when none was picked)."""
    if contact.active_student_id:
        student = session.get(Student, contact.active_student_id)
        if student is not None and student.active and student.contact_id == contact.id:
            return student
    # The id only, through the driver: a new phone's first message asks this and finds nothing,
    # and an ORM query that loads no row still cost a new SMS turn a tenth of its CPU.
    student_id = _FIRST_LEARNER.execute(session, {"contact_id": contact.id}).scalar()
    student = session.get(Student, student_id) if student_id is not None else None
    if student is not None:
        contact.active_student_id = student.id
    return student


_FIRST_LEARNER = DriverStatement(
    select(Student.id).where(Student.contact_id == bindparam("contact_id"), Student.active.is_(True))
    .order_by(Student.id).limit(1))


def touch(student: Student) -> None:
    """Last active, kept to the minute: the reports count days and weeks, and a lesson's
    steps then cost no UPDATE of the student each."""
    now = clock.now()
    last = student.last_active_at
    if last is None or now - last >= ACTIVE_PRECISION or now < last:
        write_now(student, last_active_at=now)


def _enrolled_here(session: Session, student_id: int) -> bool:
    """Whether this unit of work enrolled the learner (joining a class by its number does)."""
    return any(isinstance(obj, Enrolment) and obj.student_id == student_id
               for obj in (*session.new, *session.identity_map.values()))


def new_student(session: Session, contact: Contact, channel: str) -> Student:
    """A new phone's first learner, made the phone's active one (and active now, so the
    turn's `touch` writes nothing more)."""
    preferred = channel if channel in ("sms", "ussd", "whatsapp") else "sms"
    now = clock.now()
    if session.get_bind().dialect.name == "postgresql":  # one statement: the INSERT and the contact's pointer
        row = _NEW_LEARNER.execute(session, {"b_contact": contact.id, "b_channel": preferred, "b_now": now}).first()
        student = Student(**row._asdict())
        make_transient_to_detached(student)  # persistent and clean, as if loaded: no flush writes it again
        session.add(student)
        set_committed_value(contact, "active_student_id", student.id)
    else:
        student = Student(contact_id=contact.id, name="", language="en", onboarded=False, preferred_channel=preferred,
                          last_active_at=now)
        session.add(student)
        session.flush()
        contact.active_student_id = student.id
    session.info.setdefault(NEW_STUDENTS, set()).add(student.id)  # no state of theirs to read anywhere
    return student


_STUDENTS = Student.__table__
_INSERTED = (
    pg_insert(_STUDENTS)
    .values(contact_id=bindparam("b_contact", type_=_STUDENTS.c.contact_id.type), school_id=null(), name="",
            language="en", preferred_channel=bindparam("b_channel", type_=_STUDENTS.c.preferred_channel.type),
            pin_hash=null(), active=True, onboarded=False, streak_days=0, streak_last_day=null(),
            last_active_at=bindparam("b_now", type_=_STUDENTS.c.last_active_at.type), last_reminded_at=null(),
            parent_phone=null(), created_at=bindparam("b_now"))
    .returning(*_STUDENTS.c)
    .cte("new_learner")
)
_NEW_LEARNER = DriverStatement(
    select(*_INSERTED.c).add_cte(
        update(Contact.__table__).where(Contact.__table__.c.id == bindparam("b_contact"))
        .values(active_student_id=select(_INSERTED.c.id).scalar_subquery()).cte("pointed"))
)


class Turn:
    """One inbound message's worth of work for one contact."""

    def __init__(self, runtime: Runtime, session: Session, contact: Contact, inbound: Inbound):
        self.runtime, self.session, self.contact, self.inbound = runtime, session, contact, inbound
        self.store = StateStore(runtime, session)
        self.country = contact.country or runtime.settings.default_country
        self.lessons = LessonRunner(runtime, session, self)
        self._class_ids: dict[int, int | None] = {}
        # The learners this turn touched stay in the session's identity map (it holds clean
        # objects weakly) so the deliver step's language look-up costs no second SELECT.
        session.info.setdefault(KEEP, [])

    def world(self, student: Student) -> DbWorld:
        return DbWorld(self.session, self.contact.id, student.id, self.country, self.lessons.available_modes(),
                       in_class=lambda: self.class_id(student) is not None)

    def facts(self, student: Student, st: ConvState, *, new_session: bool, switched: bool) -> Facts:
        offered = offered_languages(self.country, self.runtime.settings.default_country)
        in_class = self.class_id(student) is not None
        lang = student.language if student.language in LANGUAGES else offered[0]
        return Facts(student.id, student.name or "", lang, self.country, offered, student.onboarded, in_class,
                     bool(student.pin_hash), self.inbound.channel, new_session, switched, self.inbound.button_id)

    def class_id(self, student: Student) -> int | None:
        """The student's first active class, once per turn (the facts and the lesson both ask); see enrolled.py."""
        if student.id not in self._class_ids:
            if student.id in self.session.info.get(NEW_STUDENTS, ()) and not _enrolled_here(self.session, student.id):
                self._class_ids[student.id] = None  # created in this unit of work, not enrolled in it
            else:
                self._class_ids[student.id] = enrolled.first_class(self.session, student.id)
        return self._class_ids[student.id]

    def is_new_session(self, st: ConvState, text: str, command: Command | None) -> bool:
        if self.inbound.channel == "ussd":
            return text == "" and command is None
        if command is not None or st.updated_at is None:
            return False
        if clock.now() - st.updated_at <= IDLE_NEW_SESSION:
            return False  # the common case: no look-up of the phone's other learners
        return st.state == S.LESSON or len([s for s in self.contact.students if s.onboarded and s.active]) > 1

    def run(self, student: Student, text: str, command: Command | None, *, force_new: bool = False,
            switched: bool = False, depth: int = 0) -> Reply:
        self.session.info[KEEP].append(student)
        st = self.store.load(student.id, new=student.id in self.session.info.get(NEW_STUDENTS, ()))
        new_session = force_new or self.is_new_session(st, text, command)
        facts = self.facts(student, st, new_session=new_session, switched=switched)
        outcome = machine.step(st, machine.Event(text, command), facts, self.world(student))
        return self.apply(student, outcome, facts, depth)

    def apply(self, student: Student, outcome: fx.Outcome, facts: Facts, depth: int) -> Reply:
        st, reply = outcome.state, outcome.reply
        for eff in outcome.effects:
            # the learner's own columns written at once, without leaving the object for the ORM's flush
            if isinstance(eff, fx.SetLanguage):
                write_now(student, language=eff.lang)
            elif isinstance(eff, fx.SetName):
                write_now(student, name=eff.name)
            elif isinstance(eff, fx.SetPin):
                student.pin_hash = hash_pin(eff.pin)
            elif isinstance(eff, fx.Enrol):
                self.enrol(student, eff.class_id)
            elif isinstance(eff, fx.FinishOnboarding):
                write_now(student, onboarded=True)
            elif isinstance(eff, fx.RunMode):
                reply = self.lessons.run(student, st, eff, facts)
            elif isinstance(eff, (fx.SwitchStudent, fx.AddStudent)) and depth == 0:
                self.store.save(st)
                touch(student)
                return self.hand_over(eff, depth)
        self.store.save(st)
        touch(student)
        if reply is None:
            _ = gettext_for(facts.lang)
            reply = Reply(_("Reply MENU for the menu."))
        return reply

    def hand_over(self, eff, depth: int) -> Reply:
        """Another learner takes the phone: save this one, enter the machine for the other."""
        if isinstance(eff, fx.AddStudent):
            other = new_student(self.session, self.contact, self.inbound.channel)
            return self.run(other, "", None, depth=depth + 1)
        other = self.session.get(Student, eff.student_id)
        if other is None or other.contact_id != self.contact.id or not other.active:
            raise ValueError(f"student {eff.student_id} is not a learner on contact {self.contact.id}")
        self.contact.active_student_id = other.id
        return self.run(other, "", None, switched=True, depth=depth + 1)

    def enrol(self, student: Student, class_id: int) -> None:
        self._class_ids.pop(student.id, None)
        exists = self.session.scalar(
            select(Enrolment).where(Enrolment.student_id == student.id, Enrolment.class_id == class_id)
        )
        if exists is None:
            self.session.add(Enrolment(student_id=student.id, class_id=class_id))
        else:
            exists.active = True
        klass = self.session.get(SchoolClass, class_id)
        if klass is not None and student.school_id is None:
            student.school_id = klass.school_id
        self.session.flush()
