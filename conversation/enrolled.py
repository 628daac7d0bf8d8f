"""A learner's class, answered from memory on most turns.

Every turn asks which class the learner is in (onboarding skips the class code for a
pre-enrolled number; a lesson passes the class on to its mode). That was a SELECT on every
message, USSD steps included. This keeps, per database and learner, the first active
class for 30 s (`core.memo`); any ORM write of an Enrolment in this process forgets
everything at once (enrolments change through the admin, CSV import, JOIN and the class
code, all ORM), and a change made by another process is seen within the 30 s.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.memo import Memo
from core.models import Enrolment

classes = Memo(30.0, Enrolment)


def first_class(session: Session, student_id: int) -> int | None:
    """The learner's first active class (by enrolment order), or None."""
    return classes.get(session, student_id, lambda: session.scalar(
        select(Enrolment.class_id).where(Enrolment.student_id == student_id, Enrolment.active.is_(True))
        .order_by(Enrolment.id).limit(1)
    ))


def prime(session: Session, student_id: int, class_id: int | None) -> None:
    """The learner's first active class, read by the turn's first statement (conversation.service):
    the memo then answers the turn without a SELECT of its own."""
    classes.put(session, student_id, class_id)


def forget() -> None:
    classes.forget()
