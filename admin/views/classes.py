"""Classes: number or keyword, join code, pack, and the teachers who teach them."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin import audit
from admin.deps import AuthDep, FormDep, FormInvalid, SessionDep, int_field, text_field
from admin.templating import render
from core.enrolment import new_join_code
from core.models import ClassTeacher, Enrolment, Role, School, SchoolClass, StaffUser, Student

router = APIRouter()
FIELDS = ("name", "grade", "number", "keyword", "pack", "paused")
_KEYWORD = re.compile(r"^[A-Za-z0-9]{1,32}$")
_NUMBER = re.compile(r"^\+?[0-9]{3,15}$")


def _read(form, session: Session, school_id: int, current: SchoolClass | None = None) -> dict:
    name = text_field(form, "name", max_len=100)
    grade = int_field(form, "grade", required=False, lo=1, hi=13)
    number = text_field(form, "number", max_len=32, required=False) or None
    keyword = (text_field(form, "keyword", max_len=32, required=False) or "").upper() or None
    pack = text_field(form, "pack", max_len=80, required=False) or None
    if number and not _NUMBER.match(number):
        raise FormInvalid(f"number: a phone number or short code of digits, got {number!r}")
    if keyword and not _KEYWORD.match(keyword):
        raise FormInvalid(f"keyword: letters and digits only, got {keyword!r}")
    checks = [("name", SchoolClass.name == name, SchoolClass.school_id == school_id)]
    if number:
        checks.append(("number", SchoolClass.number == number, True))
    if keyword:
        checks.append(("keyword", SchoolClass.keyword == keyword, True))
    for field, cond, extra in checks:
        clash = session.scalar(select(SchoolClass.id).where(cond, extra))
        if clash is not None and (current is None or clash != current.id):
            raise FormInvalid(f"{field}: another class already uses {form.get(field)!r}")
    return {"name": name, "grade": grade, "number": number, "keyword": keyword, "pack": pack,
            "paused": form.get("paused") == "on"}


@router.get("/classes")
def classes(request: Request, session: SessionDep, who: AuthDep) -> Response:
    rows = session.execute(
        who.scope.classes(select(SchoolClass, School.name)).join(School, School.id == SchoolClass.school_id)
        .order_by(School.name, SchoolClass.name)
    ).all()
    counts = dict(session.execute(
        select(Enrolment.class_id, func.count()).where(Enrolment.active).group_by(Enrolment.class_id)
    ).all())
    schools = list(session.scalars(who.scope.schools().order_by(School.name)))
    return render(request, "classes.html", {"rows": rows, "counts": counts, "schools": schools, "klass": None},
                  who=who, active="classes")


@router.post("/classes")
def create_class(request: Request, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    who.scope.require_manager()
    school = who.scope.school(session, int_field(form, "school_id", lo=1))
    klass = SchoolClass(school_id=school.id, join_code=new_join_code(session), **_read(form, session, school.id))
    session.add(klass)
    session.flush()
    audit.record(session, who.user, "class.create", obj=klass, after=audit.snapshot(klass, FIELDS), ip=who.ip)
    return RedirectResponse(f"/admin/classes/{klass.id}", status_code=303)


@router.get("/classes/{class_id}")
def class_page(request: Request, class_id: int, session: SessionDep, who: AuthDep) -> Response:
    klass = who.scope.klass(session, class_id)
    students = list(session.scalars(
        select(Student).join(Enrolment, Enrolment.student_id == Student.id)
        .where(Enrolment.class_id == klass.id, Enrolment.active).order_by(Student.name)
    ))
    teachers = list(session.scalars(
        select(StaffUser).join(ClassTeacher, ClassTeacher.staff_user_id == StaffUser.id)
        .where(ClassTeacher.class_id == klass.id).order_by(StaffUser.name)
    ))
    candidates = list(session.scalars(
        select(StaffUser).where(StaffUser.school_id == klass.school_id, StaffUser.active,
                                StaffUser.role.in_([Role.TEACHER.value, Role.SCHOOL_ADMIN.value]))
        .order_by(StaffUser.name)
    ))
    return render(request, "class.html", {"klass": klass, "students": students, "teachers": teachers,
                                          "candidates": [c for c in candidates if c not in teachers]},
                  who=who, active="classes")


@router.post("/classes/{class_id}")
def edit_class(request: Request, class_id: int, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    klass = who.scope.klass(session, class_id)
    who.scope.require_manager()
    before = audit.snapshot(klass, FIELDS)
    for key, value in _read(form, session, klass.school_id, klass).items():
        setattr(klass, key, value)
    audit.record(session, who.user, "class.update", obj=klass, before=before,
                 after=audit.snapshot(klass, FIELDS), ip=who.ip)
    return RedirectResponse(f"/admin/classes/{klass.id}", status_code=303)


@router.post("/classes/{class_id}/teachers")
def add_teacher(request: Request, class_id: int, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    klass = who.scope.klass(session, class_id)
    who.scope.require_manager()
    teacher = who.scope.staff_user(session, int_field(form, "staff_user_id", lo=1))
    if teacher.school_id != klass.school_id:
        raise FormInvalid("staff_user_id: this teacher belongs to another school")
    if session.get(ClassTeacher, (klass.id, teacher.id)) is None:
        session.add(ClassTeacher(class_id=klass.id, staff_user_id=teacher.id))
        audit.record(session, who.user, "class.teacher_add", obj=klass, after={"staff_user_id": teacher.id}, ip=who.ip)
    return RedirectResponse(f"/admin/classes/{klass.id}", status_code=303)


@router.post("/classes/{class_id}/teachers/{staff_id}/remove")
def remove_teacher(request: Request, class_id: int, staff_id: int, session: SessionDep, who: AuthDep,
                   form: FormDep) -> Response:
    klass = who.scope.klass(session, class_id)
    who.scope.require_manager()
    link = session.get(ClassTeacher, (klass.id, staff_id))
    if link is not None:
        session.delete(link)
        audit.record(session, who.user, "class.teacher_remove", obj=klass, before={"staff_user_id": staff_id}, ip=who.ip)
    return RedirectResponse(f"/admin/classes/{klass.id}", status_code=303)
