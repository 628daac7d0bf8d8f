"""`/api/v1` for integrations (school information systems): bearer-token auth, the maker's
tenancy scope, OpenAPI at /docs. Students and enrolments (upsert), classes, progress and
mastery export, broadcasts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select

from admin import audit, auth
from admin import broadcasts as bc
from admin import students as student_service
from admin.deps import SessionDep, runtime_of
from admin.scope import NotInScope, Scope
from core.models import (
    Broadcast,
    Contact,
    Enrolment,
    LessonProgress,
    School,
    SchoolClass,
    SkillMastery,
    Student,
)

router = APIRouter(tags=["api v1"])
_bearer = HTTPBearer(auto_error=False, description="An API token made with `somo admin create-token` or on /admin/tokens")


def api_scope(session: SessionDep,
              creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Scope:
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(401, "Authorization: Bearer <token> header required",
                            headers={"WWW-Authenticate": "Bearer"})
    user = auth.user_for_api_token(session, creds.credentials[:200])
    if user is None:
        raise HTTPException(401, "unknown or revoked API token", headers={"WWW-Authenticate": "Bearer"})
    return Scope.of(session, user)


ScopeDep = Annotated[Scope, Depends(api_scope)]


class ClassOut(BaseModel):
    id: int
    school_id: int
    name: str
    grade: int | None
    number: str | None
    keyword: str | None
    join_code: str
    pack: str | None


class StudentIn(BaseModel):
    class_id: int = Field(gt=0)
    name: str = Field(min_length=1, max_length=120)
    phone: str = Field(min_length=3, max_length=32)
    language: str = Field(default="en", max_length=8)
    channel: str = Field(default="sms", max_length=16)


class StudentOut(BaseModel):
    id: int
    name: str
    phone: str
    school_id: int | None
    language: str
    channel: str
    active: bool
    class_ids: list[int]
    created: bool = False


class EnrolmentsIn(BaseModel):
    rows: list[StudentIn] = Field(max_length=1000)


class RowResult(BaseModel):
    index: int
    student_id: int | None = None
    created: bool = False
    error: str | None = None


class MasteryOut(BaseModel):
    student_id: int
    pack: str
    topic: str
    skill: str
    p_known: float
    attempts: int
    correct: int
    mastered_at: datetime | None


class LessonOut(BaseModel):
    student_id: int
    pack: str
    topic: str
    mode: str
    step: int
    steps_total: int
    completed_at: datetime | None


class BroadcastIn(BaseModel):
    class_id: int | None = Field(default=None, gt=0)
    school_id: int | None = Field(default=None, gt=0)
    text: str = Field(min_length=1, max_length=bc.MAX_TEXT)
    scheduled_at: datetime | None = None


class BroadcastOut(BaseModel):
    id: int
    school_id: int
    class_id: int | None
    text: str
    status: str
    scheduled_at: datetime | None
    total: int
    delivered: int
    failed: int


def _student_out(session, student: Student, created: bool = False) -> StudentOut:
    contact = session.get(Contact, student.contact_id)
    ids = list(session.scalars(select(Enrolment.class_id).where(Enrolment.student_id == student.id, Enrolment.active)))
    return StudentOut(id=student.id, name=student.name, phone=contact.phone, school_id=student.school_id,
                      language=student.language, channel=student.preferred_channel, active=student.active,
                      class_ids=ids, created=created)


def _class_ids(session, scope: Scope, class_id: int | None) -> list[int]:
    if class_id is not None:
        return [scope.klass(session, class_id).id]
    return list(session.scalars(scope.classes(select(SchoolClass.id))))


@router.get("/classes", response_model=list[ClassOut])
def list_classes(session: SessionDep, scope: ScopeDep) -> list[SchoolClass]:
    return list(session.scalars(scope.classes().order_by(SchoolClass.id)))


@router.get("/students", response_model=list[StudentOut])
def list_students(session: SessionDep, scope: ScopeDep, class_id: int | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200, offset: Annotated[int, Query(ge=0)] = 0):
    stmt = scope.students()
    if class_id is not None:
        stmt = stmt.where(Student.id.in_(select(Enrolment.student_id).where(
            Enrolment.class_id == scope.klass(session, class_id).id, Enrolment.active)))
    rows = session.scalars(stmt.order_by(Student.id).offset(offset).limit(limit))
    return [_student_out(session, s) for s in rows]


@router.get("/students/{student_id}", response_model=StudentOut)
def get_student(student_id: int, session: SessionDep, scope: ScopeDep):
    return _student_out(session, scope.student(session, student_id))


def _upsert(session, scope: Scope, body: StudentIn) -> tuple[Student, bool]:
    scope.require_manager()
    klass = scope.klass(session, body.class_id)
    try:
        student, created = student_service.upsert_student(session, klass, name=body.name, phone=body.phone,
                                                          language=body.language, channel=body.channel)
    except student_service.StudentInvalid as exc:
        raise HTTPException(422, str(exc)) from exc
    audit.record(session, scope.user, "api.student.upsert", obj=student, school_id=klass.school_id,
                 after={"class_id": klass.id, "created": created})
    return student, created


@router.put("/students", response_model=StudentOut)
def upsert_student(body: StudentIn, session: SessionDep, scope: ScopeDep):
    """Create the student (same phone and name = same student) or update them, and enrol them."""
    student, created = _upsert(session, scope, body)
    return _student_out(session, student, created)


@router.post("/enrolments", response_model=list[RowResult])
def upsert_enrolments(body: EnrolmentsIn, session: SessionDep, scope: ScopeDep):
    """Bulk upsert; each row succeeds or reports its own error (the good rows still import)."""
    results = []
    for index, row in enumerate(body.rows):
        try:
            with session.begin_nested():
                student, created = _upsert(session, scope, row)
            results.append(RowResult(index=index, student_id=student.id, created=created))
        except HTTPException as exc:
            results.append(RowResult(index=index, error=f"rows[{index}]: {exc.detail}"))
        except NotInScope as exc:
            results.append(RowResult(index=index, error=f"rows[{index}]: {exc}"))
    return results


@router.get("/progress/mastery", response_model=list[MasteryOut])
def mastery(session: SessionDep, scope: ScopeDep, class_id: int | None = None):
    students = select(Enrolment.student_id).where(Enrolment.class_id.in_(_class_ids(session, scope, class_id) or [-1]))
    return list(session.scalars(select(SkillMastery).where(SkillMastery.student_id.in_(students))
                                .order_by(SkillMastery.student_id, SkillMastery.pack, SkillMastery.skill)))


@router.get("/progress/lessons", response_model=list[LessonOut])
def lessons(session: SessionDep, scope: ScopeDep, class_id: int | None = None):
    students = select(Enrolment.student_id).where(Enrolment.class_id.in_(_class_ids(session, scope, class_id) or [-1]))
    return list(session.scalars(select(LessonProgress).where(LessonProgress.student_id.in_(students))
                                .order_by(LessonProgress.student_id, LessonProgress.pack, LessonProgress.topic)))


@router.get("/broadcasts", response_model=list[BroadcastOut])
def list_broadcasts(session: SessionDep, scope: ScopeDep):
    rows = list(session.scalars(scope.broadcasts().order_by(Broadcast.id.desc()).limit(200)))
    return [bc.refresh_counts(session, r) for r in rows]


@router.get("/broadcasts/{broadcast_id}", response_model=BroadcastOut)
def get_broadcast(broadcast_id: int, session: SessionDep, scope: ScopeDep):
    return bc.refresh_counts(session, scope.broadcast(session, broadcast_id))


@router.post("/broadcasts", response_model=BroadcastOut, status_code=201)
def create_broadcast(body: BroadcastIn, request: Request, session: SessionDep, scope: ScopeDep):
    if (body.class_id is None) == (body.school_id is None):
        raise HTTPException(422, "give exactly one of class_id or school_id")
    if body.class_id is not None:
        klass = scope.klass(session, body.class_id)
        school = session.get(School, klass.school_id)
    else:
        klass, school = None, scope.school(session, body.school_id)
    when = body.scheduled_at
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # a time without a zone is taken as UTC
    try:
        row = bc.compose(session, scope, school=school, klass=klass, text=body.text, scheduled_at=when)
    except bc.BroadcastInvalid as exc:
        raise HTTPException(422, str(exc)) from exc
    audit.record(session, scope.user, "api.broadcast.create", obj=row, after={"class_id": row.class_id})
    session.commit()
    bc.dispatch(runtime_of(request), row)
    session.refresh(row)
    return bc.refresh_counts(session, row)
