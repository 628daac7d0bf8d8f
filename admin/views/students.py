"""Students: search, add, edit, move, deactivate, export (JSON) and erase."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import or_, select

from admin import audit, stats
from admin import students as service
from admin.deps import AuthDep, FormDep, FormInvalid, SessionDep, int_field, query_id, text_field
from admin.templating import render
from core.i18n import LANGUAGES
from core.models import Contact, Enrolment, LessonProgress, SchoolClass, SkillMastery, Student

router = APIRouter()
PAGE = 200


@router.get("/students")
def students(request: Request, session: SessionDep, who: AuthDep, q: str = "", class_id: str = "",
             inactive: bool = False) -> Response:
    stmt = who.scope.students(select(Student, Contact.phone)).join(Contact, Contact.id == Student.contact_id)
    class_id = query_id(class_id)
    q = q.strip()[:100]
    if q:
        digits = "".join(ch for ch in q if ch.isdigit())
        # autoescape: `%` and `_` in a name are letters to find, not LIKE wildcards
        conds = [Student.name.icontains(q, autoescape=True)]
        if digits:
            conds.append(Contact.phone.contains(digits, autoescape=True))
        stmt = stmt.where(or_(*conds))
    if class_id is not None:
        klass = who.scope.klass(session, class_id)
        stmt = stmt.where(Student.id.in_(select(Enrolment.student_id).where(Enrolment.class_id == klass.id,
                                                                              Enrolment.active)))
    if not inactive:
        stmt = stmt.where(Student.active)
    rows = session.execute(stmt.order_by(Student.name, Student.id).limit(PAGE)).all()
    classes = list(session.scalars(who.scope.classes().order_by(SchoolClass.name)))
    return render(request, "students.html", {
        "rows": rows, "q": q, "class_id": class_id, "inactive": inactive, "classes": classes,
        "languages": LANGUAGES, "channels": service.CHANNELS, "page": PAGE,
    }, who=who, active="students")


@router.post("/students")
def add_student(request: Request, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    who.scope.require_manager()
    klass = who.scope.klass(session, int_field(form, "class_id", lo=1))
    try:
        student, created = service.upsert_student(
            session, klass, name=text_field(form, "name", max_len=120), phone=text_field(form, "phone", max_len=32),
            language=text_field(form, "language", max_len=8, default="en"),
            channel=text_field(form, "channel", max_len=16, default="sms"),
        )
    except service.StudentInvalid as exc:
        raise FormInvalid(str(exc)) from exc
    audit.record(session, who.user, "student.create" if created else "student.enrol", obj=student,
                 school_id=klass.school_id, after={"name": student.name, "class_id": klass.id}, ip=who.ip)
    return RedirectResponse(f"/admin/students/{student.id}", status_code=303)


@router.get("/students/{student_id}")
def student_page(request: Request, student_id: int, session: SessionDep, who: AuthDep) -> Response:
    student = who.scope.student(session, student_id)
    contact = session.get(Contact, student.contact_id)
    return render(request, "student.html", {
        "s": student, "contact": contact, "classes": service.classes_of(session, student),
        "all_classes": list(session.scalars(who.scope.classes().order_by(SchoolClass.name))),
        "attempts": stats.attempts(session, student.id),
        "progress": list(session.scalars(select(LessonProgress).where(LessonProgress.student_id == student.id)
                                         .order_by(LessonProgress.updated_at.desc()))),
        "mastery": list(session.scalars(select(SkillMastery).where(SkillMastery.student_id == student.id)
                                        .order_by(SkillMastery.pack, SkillMastery.topic, SkillMastery.skill))),
        "languages": LANGUAGES, "channels": service.CHANNELS,
    }, who=who, active="students")


@router.post("/students/{student_id}")
def edit_student(request: Request, student_id: int, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    student = who.scope.student(session, student_id)
    before = audit.snapshot(student, service.EDITABLE)
    try:
        student.name = service.check_name(text_field(form, "name", max_len=120))
        student.language = service.check_choice(text_field(form, "language", max_len=8), LANGUAGES, "language")
        student.preferred_channel = service.check_choice(text_field(form, "channel", max_len=16),
                                                         service.CHANNELS, "channel")
        parent = text_field(form, "parent_phone", max_len=32, required=False)
        country = session.get(Contact, student.contact_id).country or "KE"
        student.parent_phone = service.check_phone(parent, country, "parent_phone") if parent else None
    except service.StudentInvalid as exc:
        raise FormInvalid(str(exc)) from exc
    audit.record(session, who.user, "student.update", obj=student, before=before,
                 after=audit.snapshot(student, service.EDITABLE), ip=who.ip)
    return RedirectResponse(f"/admin/students/{student.id}", status_code=303)


@router.post("/students/{student_id}/move")
def move_student(request: Request, student_id: int, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    student = who.scope.student(session, student_id)
    who.scope.require_manager()
    klass = who.scope.klass(session, int_field(form, "class_id", lo=1))
    old = service.move(session, student, klass)
    audit.record(session, who.user, "student.move", obj=student, before={"class_ids": old},
                 after={"class_id": klass.id}, ip=who.ip)
    return RedirectResponse(f"/admin/students/{student.id}", status_code=303)


@router.post("/students/{student_id}/active")
def set_active(request: Request, student_id: int, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    student = who.scope.student(session, student_id)
    student.active = form.get("active") == "1"
    audit.record(session, who.user, "student.activate" if student.active else "student.deactivate", obj=student,
                 after={"active": student.active}, ip=who.ip)
    return RedirectResponse(f"/admin/students/{student.id}", status_code=303)


@router.get("/students/{student_id}/export.json")
def export_student(request: Request, student_id: int, session: SessionDep, who: AuthDep) -> Response:
    student = who.scope.student(session, student_id)
    data = service.export(session, student)
    audit.record(session, who.user, "student.export", obj=student, ip=who.ip)
    return Response(json.dumps(data, ensure_ascii=False, indent=2), media_type="application/json", headers={
        "content-disposition": f'attachment; filename="student-{student.id}.json"',
    })


@router.post("/students/{student_id}/erase")
def erase_student(request: Request, student_id: int, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    student = who.scope.student(session, student_id)
    who.scope.require_manager()
    if text_field(form, "confirm", max_len=20, required=False).upper() != "ERASE":
        raise FormInvalid("confirm: type ERASE to erase this student and all their data")
    school_id = student.school_id
    counts = service.erase(session, student)
    audit.record(session, who.user, "student.erase", object_type="student", object_id=student_id,
                 school_id=school_id, after=counts, ip=who.ip)
    return RedirectResponse("/admin/students", status_code=303)
