"""Class numbers and keywords for students: writing to a class's own number, or sending
`JOIN <keyword>` (`JIUNGE <keyword>`, or the keyword alone) on a shared short code, joins
that class and carries on. A registered teacher's messages stay commands (the teachers'
pre-handler runs first). A pre-handler of the conversation engine.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from conversation import engine
from conversation.teachers.directory import class_by_keyword, class_by_number, maybe_staff
from core.i18n import translator
from core.messages import Inbound, Reply
from core.models import Contact, Enrolment, School, SchoolClass
from core.runtime import Runtime

JOIN_WORDS = frozenset({"join", "jiunge", "jiunga", "ingia"})


def keyword_in(text: str) -> str | None:
    words = text.strip().split()
    if len(words) == 2 and words[0].lower() in JOIN_WORDS:
        return words[1]
    if len(words) == 1:
        return words[0]
    return None


def handle(runtime: Runtime, session: Session, inbound: Inbound, contact: Contact) -> Reply | None:
    class_id = class_by_number(session, inbound.recipient)
    via_keyword = False
    if class_id is None:
        word = keyword_in(inbound.text or "")
        class_id = class_by_keyword(session, word) if word else None
        via_keyword = class_id is not None
    if class_id is None or maybe_staff(session, inbound.sender):
        return None
    klass = session.get(SchoolClass, class_id)
    if klass is None:
        return None
    student = engine.current_student(session, contact) or engine.new_student(session, contact, inbound.channel)
    enrolment = session.scalar(select(Enrolment).where(Enrolment.student_id == student.id,
                                                       Enrolment.class_id == klass.id))
    joined = enrolment is None or not enrolment.active
    if enrolment is None:
        session.add(Enrolment(student_id=student.id, class_id=klass.id))
    else:
        enrolment.active = True
    if student.school_id is None:
        student.school_id = klass.school_id
    session.flush()
    if not via_keyword or not joined or not student.onboarded:
        return None  # carry on: a new student's onboarding now skips the class code
    _ = translator(student.language, "teachers").gettext
    school = session.get(School, klass.school_id)
    return Reply(_("You joined {name} at {school}. Reply MENU to start.").format(name=klass.name, school=school.name))
