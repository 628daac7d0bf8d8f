"""The audit log of every admin action, newest first."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from admin.deps import AuthDep, SessionDep
from admin.templating import render
from core.models import AuditLog

router = APIRouter()
PAGE = 200


@router.get("/audit")
def audit_log(request: Request, session: SessionDep, who: AuthDep, action: str = "",
              before: int | None = None) -> Response:
    who.scope.require_manager()
    stmt = select(AuditLog)
    if not who.scope.is_platform:
        stmt = stmt.where(AuditLog.school_id == who.user.school_id)
    if action.strip():
        stmt = stmt.where(AuditLog.action.startswith(action.strip()[:80], autoescape=True))  # % and _ literal
    if before is not None:
        stmt = stmt.where(AuditLog.id < before)
    rows = list(session.scalars(stmt.order_by(AuditLog.id.desc()).limit(PAGE)))
    return render(request, "audit.html", {"rows": rows, "action": action,
                                          "next_before": rows[-1].id if len(rows) == PAGE else None},
                  who=who, active="audit")
