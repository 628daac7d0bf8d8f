"""Sign in and sign out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from admin import audit, auth
from admin.deps import AuthDep, FormDep, RuntimeDep, SessionDep
from admin.templating import render

router = APIRouter()


def _secure(rt) -> bool:
    return rt.settings.public_base_url.startswith("https://")


def _safe_next(value: str | None) -> str:
    """Only same-site admin paths: an attacker's `next=https://evil` goes to the dashboard."""
    if value and value.startswith("/admin/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/admin/"


def _login_page(request: Request, rt, *, error: str = "", email: str = "", next_url: str = "/admin/",
                status: int = 200) -> Response:
    nonce = request.cookies.get(auth.LOGIN_COOKIE)
    fresh = not nonce or len(nonce) > 100
    if fresh:
        nonce = secrets.token_urlsafe(24)
    response = render(request, "login.html", {
        "error": error, "email": email, "next_url": _safe_next(next_url),
        "login_csrf": auth.login_csrf(rt.settings.secret_key_value(), nonce),
    }, status=status)
    if fresh:
        response.set_cookie(auth.LOGIN_COOKIE, nonce, httponly=True, samesite="lax", secure=_secure(rt),
                            path="/admin", max_age=3600)
    return response


@router.get("/login")
def login_form(request: Request, rt: RuntimeDep, next: str = "/admin/") -> Response:
    return _login_page(request, rt, next_url=next)


@router.post("/login")
def login(
    request: Request, rt: RuntimeDep, session: SessionDep,
    email: Annotated[str, Form(max_length=200)] = "", password: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "", next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    nonce = request.cookies.get(auth.LOGIN_COOKIE) or ""
    if not nonce or not auth.csrf_ok(auth.login_csrf(rt.settings.secret_key_value(), nonce), csrf_token):
        return _login_page(request, rt, error="The form expired or its CSRF token is missing. Please try again.",
                           email=email, next_url=next, status=403)
    try:
        user = auth.authenticate(session, email, password)
    except auth.LoginFailed as exc:
        session.commit()  # keep the failure count even though the answer is an error page
        return _login_page(request, rt, error=str(exc), email=email, next_url=next, status=401)
    new = auth.start_session(session, user, old_cookie=request.cookies.get(auth.COOKIE))
    audit.record(session, user, "login", obj=user, ip=request.client.host if request.client else None)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(auth.COOKIE, new.cookie_token, httponly=True, samesite="lax", secure=_secure(rt),
                        path="/admin", max_age=int(auth.SESSION_TTL.total_seconds()))
    response.delete_cookie(auth.LOGIN_COOKIE, path="/admin")
    return response


@router.post("/logout")
def logout(request: Request, rt: RuntimeDep, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    audit.record(session, who.user, "logout", obj=who.user, ip=who.ip)
    auth.end_session(session, request.cookies.get(auth.COOKIE))
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/admin")
    return response
