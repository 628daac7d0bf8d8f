"""Schools: a platform admin sees and creates all; a school admin sees and edits their own."""

from __future__ import annotations

from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from admin import audit
from admin.deps import AuthDep, FormDep, FormInvalid, SessionDep, text_field
from admin.templating import render
from core.models import School, SchoolClass
from core.phone import SUPPORTED_COUNTRIES

router = APIRouter()
FIELDS = ("name", "country", "timezone", "parent_weekly_sms")


def _read(form, session, current: School | None = None) -> dict:
    name = text_field(form, "name", max_len=200)
    country = text_field(form, "country", max_len=2).upper()
    if country not in SUPPORTED_COUNTRIES:
        raise FormInvalid(f"country: must be one of {', '.join(SUPPORTED_COUNTRIES)}, got {country!r}")
    tz = text_field(form, "timezone", max_len=64, required=False) or "Africa/Nairobi"
    if tz not in available_timezones():
        raise FormInvalid(f"timezone: unknown time zone {tz!r}")
    clash = session.scalar(select(School.id).where(func.lower(School.name) == name.lower()))
    if clash is not None and (current is None or clash != current.id):
        raise FormInvalid(f"name: a school called {name!r} already exists")
    return {"name": name, "country": country, "timezone": tz, "parent_weekly_sms": form.get("parent_weekly_sms") == "on"}


@router.get("/schools")
def schools(request: Request, session: SessionDep, who: AuthDep) -> Response:
    rows = session.execute(
        who.scope.schools(select(School, func.count(SchoolClass.id)))
        .outerjoin(SchoolClass, SchoolClass.school_id == School.id).group_by(School.id).order_by(School.name)
    ).all()
    return render(request, "schools.html", {"rows": rows, "countries": SUPPORTED_COUNTRIES}, who=who, active="schools")


@router.post("/schools")
def create_school(request: Request, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    who.scope.require_platform()
    school = School(**_read(form, session))
    session.add(school)
    session.flush()
    audit.record(session, who.user, "school.create", obj=school, school_id=school.id,
                 after=audit.snapshot(school, FIELDS), ip=who.ip)
    return RedirectResponse(f"/admin/schools/{school.id}", status_code=303)


@router.get("/schools/{school_id}")
def school_page(request: Request, school_id: int, session: SessionDep, who: AuthDep) -> Response:
    school = who.scope.school(session, school_id)
    classes = list(
        session.scalars(who.scope.classes().where(SchoolClass.school_id == school.id).order_by(SchoolClass.name))
    )
    return render(request, "school.html", {"school": school, "classes": classes, "countries": SUPPORTED_COUNTRIES},
                  who=who, active="schools")


@router.post("/schools/{school_id}")
def edit_school(request: Request, school_id: int, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    school = who.scope.school(session, school_id)
    who.scope.require_manager()
    before = audit.snapshot(school, FIELDS)
    for key, value in _read(form, session, school).items():
        setattr(school, key, value)
    audit.record(session, who.user, "school.update", obj=school, school_id=school.id, before=before,
                 after=audit.snapshot(school, FIELDS), ip=who.ip)
    return RedirectResponse(f"/admin/schools/{school.id}", status_code=303)
