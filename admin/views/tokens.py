"""API tokens: made here (shown once), revoked here; the API acts with the maker's scope."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from admin import audit, auth
from admin.deps import AuthDep, FormDep, FormInvalid, SessionDep, text_field
from admin.scope import NotInScope
from admin.templating import render
from core.models import ApiToken

router = APIRouter()


def _page(request, session, who, new_token: str = "") -> Response:
    rows = list(session.scalars(select(ApiToken).where(ApiToken.staff_user_id == who.user.id)
                                .order_by(ApiToken.id.desc())))
    return render(request, "tokens.html", {"rows": rows, "new_token": new_token}, who=who, active="tokens")


@router.get("/tokens")
def tokens(request: Request, session: SessionDep, who: AuthDep) -> Response:
    return _page(request, session, who)


@router.post("/tokens")
def create_token(request: Request, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    try:
        token, row = auth.new_api_token(session, who.user, text_field(form, "name", max_len=120))
    except ValueError as exc:
        raise FormInvalid(str(exc)) from exc
    audit.record(session, who.user, "api_token.create", obj=row, after={"name": row.name}, ip=who.ip)
    return _page(request, session, who, new_token=token)


@router.post("/tokens/{token_id}/revoke")
def revoke(request: Request, token_id: int, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    row = session.get(ApiToken, token_id)
    if row is None or row.staff_user_id != who.user.id:
        raise NotInScope("token", token_id)
    row.revoked = True
    audit.record(session, who.user, "api_token.revoke", obj=row, ip=who.ip)
    return RedirectResponse("/admin/tokens", status_code=303)
