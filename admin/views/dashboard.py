"""The dashboard: this week at a glance."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from admin import stats
from admin.deps import AuthDep, SessionDep
from admin.templating import render

router = APIRouter()


@router.get("/")
def dashboard(request: Request, session: SessionDep, who: AuthDep) -> Response:
    figures = stats.dashboard(session, who.scope)
    return render(request, "dashboard.html", {"d": figures}, who=who, active="dashboard")
