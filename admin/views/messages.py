"""The message log, filtered by phone, class, channel and status."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from admin.deps import AuthDep, SessionDep, query_id
from admin.templating import render
from core.models import Contact, Enrolment, Message, MessageStatus, SchoolClass, Student
from core.phone import InvalidPhone, to_e164

router = APIRouter()
PAGE = 200
CHANNELS = ("sms", "ussd", "whatsapp")
STATUSES = tuple(s.value for s in MessageStatus)


@router.get("/messages")
def messages(request: Request, session: SessionDep, who: AuthDep, phone: str = "", class_id: str = "",
             channel: str = "", status: str = "", before: int | None = None) -> Response:
    class_id = query_id(class_id)
    stmt = who.scope.messages()
    problem = ""
    phone = phone.strip()[:32]
    if phone:
        try:
            number = to_e164(phone, "KE")
            # through the contact's index (messages are indexed by phone for inbound rows only)
            stmt = stmt.where(Message.contact_id == select(Contact.id).where(Contact.phone == number).scalar_subquery(),
                              Message.phone == number)
        except InvalidPhone as exc:
            problem = f"phone: {exc}"
    if class_id is not None:
        klass = who.scope.klass(session, class_id)
        stmt = stmt.where(Message.student_id.in_(
            select(Enrolment.student_id).where(Enrolment.class_id == klass.id)))
    if channel in CHANNELS:
        stmt = stmt.where(Message.channel == channel)
    if status in STATUSES:
        stmt = stmt.where(Message.status == status)
    if before is not None:
        stmt = stmt.where(Message.id < before)
    rows = [] if problem else list(session.scalars(stmt.order_by(Message.id.desc()).limit(PAGE)))
    names = dict(session.execute(select(Student.id, Student.name).where(
        Student.id.in_({m.student_id for m in rows if m.student_id}))).all()) if rows else {}
    classes = list(session.scalars(who.scope.classes().order_by(SchoolClass.name)))
    return render(request, "messages.html", {
        "rows": rows, "names": names, "classes": classes, "phone": phone, "class_id": class_id, "channel": channel,
        "status": status, "channels": CHANNELS, "statuses": STATUSES, "problem": problem,
        "next_before": rows[-1].id if len(rows) == PAGE else None,
    }, who=who, active="messages")
