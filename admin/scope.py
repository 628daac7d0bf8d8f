"""Tenancy: what a staff user may see. Every admin and API query goes through a Scope.

A platform admin sees every school; a school admin their school; a teacher the classes
they teach (and the students enrolled in them). Anything outside the scope is reported
as missing (404), never as forbidden, so ids of other schools leak nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core.models import (
    Broadcast,
    ClassTeacher,
    Enrolment,
    Message,
    Role,
    School,
    SchoolClass,
    StaffUser,
    Student,
)


class NotInScope(Exception):
    """The object does not exist, or belongs to someone else's school: both are a 404."""

    def __init__(self, what: str, ident: object) -> None:
        super().__init__(f"{what} {ident} not found")
        self.what = what


class NotAllowed(Exception):
    """The role may not do this at all (a teacher managing staff, say): a 403."""


@dataclass
class Scope:
    user: StaffUser
    class_ids: set[int] = field(default_factory=set)  # teachers: the classes they teach

    @classmethod
    def of(cls, session: Session, user: StaffUser) -> Scope:
        ids: set[int] = set()
        if user.role == Role.TEACHER.value:
            ids = set(session.scalars(select(ClassTeacher.class_id).where(ClassTeacher.staff_user_id == user.id)))
        return cls(user=user, class_ids=ids)

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def is_platform(self) -> bool:
        return self.role == Role.PLATFORM_ADMIN.value

    @property
    def is_teacher(self) -> bool:
        return self.role == Role.TEACHER.value

    @property
    def school_id(self) -> int | None:
        return None if self.is_platform else self.user.school_id

    def require_manager(self) -> None:
        """School-wide management (teachers, classes, imports) is for admins, not teachers."""
        if self.is_teacher:
            raise NotAllowed("only a school admin or platform admin may do this")

    def require_platform(self) -> None:
        if not self.is_platform:
            raise NotAllowed("only a platform admin may do this")

    # --- filters -----------------------------------------------------------------------
    def schools(self, stmt: Select | None = None) -> Select:
        stmt = stmt if stmt is not None else select(School)
        return stmt if self.is_platform else stmt.where(School.id == self.user.school_id)

    def classes(self, stmt: Select | None = None) -> Select:
        stmt = stmt if stmt is not None else select(SchoolClass)
        if self.is_platform:
            return stmt
        if self.is_teacher:
            return stmt.where(SchoolClass.id.in_(self.class_ids or {-1}))
        return stmt.where(SchoolClass.school_id == self.user.school_id)

    def student_ids(self) -> Select:
        """A subquery of the ids of students in scope."""
        if self.is_platform:
            return select(Student.id)
        if self.is_teacher:
            return select(Enrolment.student_id).where(Enrolment.class_id.in_(self.class_ids or {-1}))
        in_class = select(Enrolment.student_id).join(SchoolClass, SchoolClass.id == Enrolment.class_id).where(
            SchoolClass.school_id == self.user.school_id
        )
        return select(Student.id).where((Student.school_id == self.user.school_id) | Student.id.in_(in_class))

    def students(self, stmt: Select | None = None) -> Select:
        stmt = stmt if stmt is not None else select(Student)
        return stmt if self.is_platform else stmt.where(Student.id.in_(self.student_ids()))

    def staff(self, stmt: Select | None = None) -> Select:
        stmt = stmt if stmt is not None else select(StaffUser)
        if self.is_platform:
            return stmt
        if self.is_teacher:
            return stmt.where(StaffUser.id == self.user.id)
        return stmt.where(StaffUser.school_id == self.user.school_id)

    def broadcasts(self, stmt: Select | None = None) -> Select:
        stmt = stmt if stmt is not None else select(Broadcast)
        if self.is_platform:
            return stmt
        if self.is_teacher:
            return stmt.where(Broadcast.class_id.in_(self.class_ids or {-1}))
        return stmt.where(Broadcast.school_id == self.user.school_id)

    def messages(self, stmt: Select | None = None) -> Select:
        stmt = stmt if stmt is not None else select(Message)
        if self.is_platform:
            return stmt
        return stmt.where(Message.student_id.in_(self.student_ids()))

    # --- single objects (404 outside the scope) ------------------------------------------
    def _one(self, session: Session, stmt: Select, what: str, ident: object):
        row = session.scalar(stmt.limit(1))
        if row is None:
            raise NotInScope(what, ident)
        return row

    def school(self, session: Session, school_id: int) -> School:
        return self._one(session, self.schools().where(School.id == school_id), "school", school_id)

    def klass(self, session: Session, class_id: int) -> SchoolClass:
        return self._one(session, self.classes().where(SchoolClass.id == class_id), "class", class_id)

    def student(self, session: Session, student_id: int) -> Student:
        return self._one(session, self.students().where(Student.id == student_id), "student", student_id)

    def staff_user(self, session: Session, staff_id: int) -> StaffUser:
        return self._one(session, self.staff().where(StaffUser.id == staff_id), "staff user", staff_id)

    def broadcast(self, session: Session, broadcast_id: int) -> Broadcast:
        return self._one(session, self.broadcasts().where(Broadcast.id == broadcast_id), "broadcast", broadcast_id)

    def message(self, session: Session, message_id: int) -> Message:
        return self._one(session, self.messages().where(Message.id == message_id), "message", message_id)
