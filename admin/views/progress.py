"""Progress: a class × topic mastery heatmap, and per class a student × topic one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from admin import stats
from admin.deps import AuthDep, SessionDep, query_id
from admin.templating import render

router = APIRouter()


@router.get("/progress")
def progress(request: Request, session: SessionDep, who: AuthDep, class_id: str = "") -> Response:
    class_id = query_id(class_id)
    klass = who.scope.klass(session, class_id) if class_id is not None else None
    heat = stats.student_heatmap(session, klass) if klass else stats.class_heatmap(session, who.scope)
    return render(request, "progress.html", {"klass": klass, "heat": heat}, who=who, active="progress")
