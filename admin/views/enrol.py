"""CSV enrolment import: upload, preview with per-row errors, import the good rows, error report."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from admin import audit
from admin import enrol as service
from admin.deps import AuthDep, FormDep, FormInvalid, RuntimeDep, SessionDep, text_field, upload_text
from admin.templating import render
from core.enrolment import COLUMNS, CsvFormatError, error_report_csv

router = APIRouter()
MAX_TEXT = 2_000_000


def _csv_text(form) -> str:
    if form.get("csv_file") is not None and getattr(form.get("csv_file"), "filename", ""):
        return upload_text(form.get("csv_file"), "csv_file")
    text = text_field(form, "csv_text", max_len=MAX_TEXT, required=False)
    if not text:
        raise FormInvalid("csv_file: choose a CSV file (or paste the rows)")
    return text


@router.get("/enrol")
def enrol_page(request: Request, who: AuthDep) -> Response:
    who.scope.require_manager()
    return render(request, "enrol.html", {"columns": COLUMNS, "result": None, "text": "", "done": None,
                                          "format_error": ""}, who=who, active="enrol")


@router.post("/enrol/preview")
def preview(request: Request, rt: RuntimeDep, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    who.scope.require_manager()
    text = _csv_text(form)
    try:
        result = service.check(session, who.scope, text, default_country=rt.settings.default_country)
    except CsvFormatError as exc:
        return render(request, "enrol.html", {"columns": COLUMNS, "result": None, "text": "", "done": None,
                                              "format_error": str(exc)}, who=who, active="enrol", status=400)
    return render(request, "enrol.html", {"columns": COLUMNS, "result": result, "text": text, "done": None,
                                          "format_error": ""}, who=who, active="enrol")


@router.post("/enrol/import")
def do_import(request: Request, rt: RuntimeDep, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    who.scope.require_manager()
    text = _csv_text(form)
    try:
        result = service.run(session, who.scope, text, default_country=rt.settings.default_country)
    except CsvFormatError as exc:
        raise FormInvalid(str(exc)) from exc
    summary = {"good_rows": len(result.rows), "bad_rows": len({e.line for e in result.errors}),
               "students": result.created_students, "teachers": result.created_teachers,
               "enrolments": result.created_enrolments, "unchanged": result.unchanged}
    for school_id in service.school_ids(session, result) or {who.user.school_id}:
        audit.record(session, who.user, "enrolment.import", object_type="csv", school_id=school_id,
                     after=summary, ip=who.ip)
    return render(request, "enrol.html", {"columns": COLUMNS, "result": result, "text": text, "done": summary,
                                          "format_error": ""}, who=who, active="enrol")


@router.post("/enrol/errors.csv")
def error_report(request: Request, rt: RuntimeDep, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    who.scope.require_manager()
    try:
        result = service.check(session, who.scope, _csv_text(form), default_country=rt.settings.default_country)
    except CsvFormatError as exc:
        raise FormInvalid(str(exc)) from exc
    return Response(error_report_csv(result.errors), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": 'attachment; filename="enrolment-errors.csv"'})
