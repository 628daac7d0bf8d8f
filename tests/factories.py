"""Small keyword-only factories for test data."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from core.models import ClassTeacher, Contact, Enrolment, Role, School, SchoolClass, StaffUser, Student

_seq = itertools.count(1)


def school(session: Session, *, name: str | None = None, country: str = "KE") -> School:
    row = School(name=name or f"School {next(_seq)}", country=country)
    session.add(row)
    session.flush()
    return row


def school_class(session: Session, *, school: School, name: str | None = None, grade: int = 6,
                 keyword: str | None = None, join_code: str | None = None, pack: str | None = None) -> SchoolClass:
    n = next(_seq)
    row = SchoolClass(school_id=school.id, name=name or f"C{n}", grade=grade, keyword=keyword,
                      join_code=join_code or f"J{n:05d}", pack=pack)
    session.add(row)
    session.flush()
    return row


def contact(session: Session, *, phone: str | None = None) -> Contact:
    row = Contact(phone=phone or f"+2547{next(_seq):08d}", country="KE", channels_seen=[])
    session.add(row)
    session.flush()
    return row


def student(session: Session, *, phone: str | None = None, name: str = "Amina", language: str = "en",
            channel: str = "sms", school: School | None = None, klass: SchoolClass | None = None,
            onboarded: bool = True, contact_row: Contact | None = None) -> Student:
    c = contact_row or contact(session, phone=phone)
    row = Student(contact_id=c.id, name=name, language=language, preferred_channel=channel,
                  school_id=school.id if school else (klass.school_id if klass else None), onboarded=onboarded)
    session.add(row)
    session.flush()
    if c.active_student_id is None:
        c.active_student_id = row.id
    if klass is not None:
        session.add(Enrolment(student_id=row.id, class_id=klass.id))
        session.flush()
    return row


def staff(session: Session, *, role: Role = Role.TEACHER, school: School | None = None, email: str | None = None,
          phone: str | None = None, classes: list[SchoolClass] | None = None, password_hash: str = "") -> StaffUser:
    row = StaffUser(email=email or f"staff{next(_seq)}@example.org", role=role.value,
                    school_id=school.id if school else None, phone=phone, password_hash=password_hash)
    session.add(row)
    session.flush()
    for k in classes or []:
        session.add(ClassTeacher(class_id=k.id, staff_user_id=row.id))
    session.flush()
    return row
