"""Teachers and school admins: school admins manage their school's staff; platform admins all."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from admin import audit, auth, staff
from admin.deps import AuthDep, FormDep, FormInvalid, SessionDep, int_field, text_field
from admin.templating import render
from core.models import ClassTeacher, Role, School, SchoolClass, StaffUser

router = APIRouter()
FIELDS = ("email", "name", "role", "phone", "active", "school_id")
PAGE_ROLES = (Role.TEACHER.value, Role.SCHOOL_ADMIN.value)


@router.get("/teachers")
def teachers(request: Request, session: SessionDep, who: AuthDep) -> Response:
    who.scope.require_manager()
    rows = session.execute(
        who.scope.staff(select(StaffUser, School.name)).outerjoin(School, School.id == StaffUser.school_id)
        .order_by(School.name, StaffUser.name, StaffUser.email)
    ).all()
    schools = list(session.scalars(who.scope.schools().order_by(School.name)))
    return render(request, "teachers.html", {"rows": rows, "schools": schools, "roles": PAGE_ROLES},
                  who=who, active="teachers")


@router.post("/teachers")
def create_teacher(request: Request, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    who.scope.require_manager()
    school = who.scope.school(session, int_field(form, "school_id", lo=1))
    role = text_field(form, "role", max_len=20)
    if role not in PAGE_ROLES:
        raise FormInvalid(f"role: must be one of {', '.join(PAGE_ROLES)}, got {role!r}")
    try:
        user = staff.create(session, email=text_field(form, "email"), role=role, school=school,
                            password=text_field(form, "password", max_len=500),
                            name=text_field(form, "name", max_len=120, required=False),
                            phone=text_field(form, "phone", max_len=32, required=False))
    except staff.StaffInvalid as exc:
        raise FormInvalid(str(exc)) from exc
    audit.record(session, who.user, "staff.create", obj=user, after=audit.snapshot(user, FIELDS), ip=who.ip)
    return RedirectResponse(f"/admin/teachers/{user.id}", status_code=303)


@router.get("/teachers/{staff_id}")
def teacher_page(request: Request, staff_id: int, session: SessionDep, who: AuthDep) -> Response:
    user = who.scope.staff_user(session, staff_id)
    classes = list(session.scalars(
        select(SchoolClass).join(ClassTeacher, ClassTeacher.class_id == SchoolClass.id)
        .where(ClassTeacher.staff_user_id == user.id).order_by(SchoolClass.name)
    ))
    return render(request, "teacher.html", {"u": user, "classes": classes, "roles": PAGE_ROLES},
                  who=who, active="teachers")


@router.post("/teachers/{staff_id}")
def edit_teacher(request: Request, staff_id: int, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    user = who.scope.staff_user(session, staff_id)
    who.scope.require_manager()
    before = audit.snapshot(user, FIELDS)
    school = session.get(School, user.school_id) if user.school_id else None
    try:
        user.name = text_field(form, "name", max_len=120, required=False)
        if user.email or text_field(form, "email", required=False):
            user.email = staff.check_email(session, text_field(form, "email"), user)
        user.phone = staff.check_phone(session, text_field(form, "phone", max_len=32, required=False),
                                       school.country if school else "KE", user)
        if user.role != Role.PLATFORM_ADMIN.value:
            role = text_field(form, "role", max_len=20)
            if role not in PAGE_ROLES:
                raise FormInvalid(f"role: must be one of {', '.join(PAGE_ROLES)}, got {role!r}")
            user.role = role
        user.active = form.get("active") == "on" or user.id == who.user.id  # nobody locks themselves out
        password = text_field(form, "password", max_len=500, required=False)
        if password:
            user.password_hash = auth.hash_password(password)
            user.failed_logins, user.locked_until = 0, None
    except (staff.StaffInvalid, ValueError) as exc:
        raise FormInvalid(str(exc)) from exc
    audit.record(session, who.user, "staff.update", obj=user, before=before,
                 after={**audit.snapshot(user, FIELDS), "password_changed": bool(password)}, ip=who.ip)
    return RedirectResponse(f"/admin/teachers/{user.id}", status_code=303)
