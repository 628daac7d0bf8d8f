"""Request dependencies of the admin: runtime, unit of work, the signed-in user, CSRF-checked forms."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from admin import auth
from admin.scope import Scope
from core.models import AdminSession, StaffUser
from core.runtime import Runtime

ROOT = "/admin"
MAX_UPLOAD_BYTES = 2_000_000


class LoginRequired(Exception):
    pass


class CsrfRefused(Exception):
    pass


class FormInvalid(Exception):
    """A form field failed validation; the message names the field and why."""


def runtime_of(request: Request) -> Runtime:
    """The admin is a mounted sub-app: the runtime lives on the parent app's state."""
    state = request.app.state
    parent = getattr(state, "parent", None)
    return (parent.state if parent is not None else state).runtime


def get_session(request: Request) -> Iterator[Session]:
    with runtime_of(request).session() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
# scope="function": the unit of work commits before the response is sent. FastAPI's default
# ("request") runs a yield dependency's exit after the response: a redirect could reach the
# browser before its write committed (the next page then missed it), and a failed commit
# would have answered success for a write that was rolled back.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass
class Auth:
    user: StaffUser
    scope: Scope
    admin_session: AdminSession
    ip: str | None

    @property
    def csrf(self) -> str:
        return self.admin_session.csrf_token


def current_auth(request: Request, session: SessionDep) -> Auth:
    loaded = auth.load_session(session, request.cookies.get(auth.COOKIE))
    if loaded is None:
        raise LoginRequired()
    row, user = loaded
    ip = request.client.host if request.client else None
    return Auth(user=user, scope=Scope.of(session, user), admin_session=row, ip=ip)


AuthDep = Annotated[Auth, Depends(current_auth)]


async def checked_form(request: Request, who: AuthDep) -> FormData:
    """The posted form, refused unless it carries this session's CSRF token."""
    form = await request.form(max_files=1, max_fields=200)
    if not auth.csrf_ok(who.csrf, form.get("csrf_token")):
        raise CsrfRefused()
    return form


FormDep = Annotated[FormData, Depends(checked_form)]


def text_field(form: FormData, name: str, *, max_len: int = 200, required: bool = True, default: str = "") -> str:
    value = form.get(name)
    if isinstance(value, UploadFile):
        raise FormInvalid(f"{name}: expected text, got a file")
    value = (value or default).strip()
    if required and not value:
        raise FormInvalid(f"{name}: required")
    if len(value) > max_len:
        raise FormInvalid(f"{name}: at most {max_len} characters (got {len(value)})")
    return value


def int_field(form: FormData, name: str, *, required: bool = True, lo: int | None = None,
              hi: int | None = None) -> int | None:
    raw = text_field(form, name, max_len=20, required=required)
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise FormInvalid(f"{name}: must be a whole number, got {raw!r}") from exc
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise FormInvalid(f"{name}: must be between {lo} and {hi}, got {value}")
    return value


def query_id(value: str | None) -> int | None:
    """An optional id from a GET filter form, where "All" submits an empty string."""
    value = (value or "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise FormInvalid(f"filter: expected an id, got {value[:20]!r}")
    return int(value)


def upload_text(upload: object, name: str) -> str:
    """Read an uploaded text file (from a sync handler), refusing missing, large or non-UTF-8 files."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise FormInvalid(f"{name}: choose a file to upload")
    upload.file.seek(0)
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise FormInvalid(f"{name}: larger than {MAX_UPLOAD_BYTES // 1000} kB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormInvalid(f"{name}: {upload.filename or 'file'} is not UTF-8 text (byte {exc.start})") from exc
