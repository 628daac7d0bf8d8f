"""Broadcasts: compose for a class or the whole school, schedule, watch delivered/failed counts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from admin import audit
from admin import broadcasts as service
from admin.deps import AuthDep, FormDep, FormInvalid, RuntimeDep, SessionDep, text_field
from admin.templating import render
from core.models import Broadcast, BroadcastRecipient, School, SchoolClass, Student

router = APIRouter()


@router.get("/broadcasts")
def broadcasts(request: Request, session: SessionDep, who: AuthDep) -> Response:
    rows = list(session.scalars(who.scope.broadcasts().order_by(Broadcast.created_at.desc(), Broadcast.id.desc())
                                .limit(100)))
    for row in rows:
        service.refresh_counts(session, row)
    classes = {c.id: c for c in session.scalars(who.scope.classes().order_by(SchoolClass.name))}
    schools = list(session.scalars(who.scope.schools().order_by(School.name)))
    return render(request, "broadcasts.html", {"rows": rows, "classes": classes, "schools": schools,
                                               "max_text": service.MAX_TEXT}, who=who, active="broadcasts")


@router.post("/broadcasts")
def compose(request: Request, rt: RuntimeDep, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    target = text_field(form, "target", max_len=40)  # "class:<id>" or "school:<id>"
    kind, _, ident = target.partition(":")
    if kind not in ("class", "school") or not ident.isdigit():
        raise FormInvalid(f"target: choose a class or a school, got {target!r}")
    if kind == "class":
        klass = who.scope.klass(session, int(ident))
        school = session.get(School, klass.school_id)
    else:
        klass, school = None, who.scope.school(session, int(ident))
    try:
        row = service.compose(session, who.scope, school=school, klass=klass,
                              text=text_field(form, "text", max_len=service.MAX_TEXT),
                              scheduled_at=service.parse_local(text_field(form, "scheduled_at", max_len=40,
                                                                          required=False), school.timezone))
    except service.BroadcastInvalid as exc:
        raise FormInvalid(str(exc)) from exc
    audit.record(session, who.user, "broadcast.create", obj=row,
                 after={"class_id": row.class_id, "text": row.text, "status": row.status,
                        "scheduled_at": row.scheduled_at}, ip=who.ip)
    session.commit()  # the job reads the row: enqueue only after it is committed
    service.dispatch(rt, row)
    return RedirectResponse(f"/admin/broadcasts/{row.id}", status_code=303)


@router.get("/broadcasts/{broadcast_id}")
def broadcast_page(request: Request, broadcast_id: int, session: SessionDep, who: AuthDep) -> Response:
    row = service.refresh_counts(session, who.scope.broadcast(session, broadcast_id))
    recipients = session.execute(
        select(BroadcastRecipient, Student.name).join(Student, Student.id == BroadcastRecipient.student_id)
        .where(BroadcastRecipient.broadcast_id == row.id).order_by(Student.name).limit(500)
    ).all()
    klass = session.get(SchoolClass, row.class_id) if row.class_id else None
    return render(request, "broadcast.html", {"b": row, "klass": klass, "recipients": recipients},
                  who=who, active="broadcasts")


@router.post("/broadcasts/{broadcast_id}/cancel")
def cancel(request: Request, broadcast_id: int, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    row = who.scope.broadcast(session, broadcast_id)
    if row.status != "scheduled":
        raise FormInvalid(f"status: only a scheduled broadcast can be cancelled; this one is {row.status}")
    row.status = "cancelled"
    audit.record(session, who.user, "broadcast.cancel", obj=row, ip=who.ip)
    return RedirectResponse(f"/admin/broadcasts/{row.id}", status_code=303)
