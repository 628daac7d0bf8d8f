"""The admin sub-app (mounted at /admin), the simulator (at /) and the API (at /api/v1).

The admin has its own guard, error pages and security headers; `mount_admin(app)` is the
one line the gateway's app factory calls.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from admin.deps import CsrfRefused, FormInvalid, LoginRequired
from admin.scope import NotAllowed, NotInScope
from admin.security import SecurityHeaders
from admin.templating import render
from core.observability import NO_OTEL

log = logging.getLogger("somo.admin")
STATIC = Path(__file__).resolve().parent / "static"

TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 405: "Method not allowed",
          413: "Too large", 422: "Bad request"}


def _error(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", {"title": TITLES.get(status, "Error"), "message": message,
                                          "back": request.headers.get("referer", "") if status != 404 else ""},
                  status=status)


def build_admin(parent: FastAPI) -> FastAPI:
    from admin.views import routers

    sub = FastAPI(title="Somo admin", docs_url=None, redoc_url=None, openapi_url=None, telemetry=NO_OTEL)
    sub.state.parent = parent
    sub.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    for router in routers():
        sub.include_router(router)

    @sub.exception_handler(LoginRequired)
    async def _login_required(request: Request, _exc: LoginRequired) -> Response:
        if request.method == "GET":
            path = request.url.path if request.url.path.startswith("/admin") else "/admin" + request.url.path
            return RedirectResponse(f"/admin/login?next={path}", status_code=303)
        return _error(request, 403, "Your session has ended. Sign in again.")

    @sub.exception_handler(NotInScope)
    async def _not_found(request: Request, exc: NotInScope) -> Response:
        return _error(request, 404, f"No such {exc.what}.")

    @sub.exception_handler(NotAllowed)
    async def _not_allowed(request: Request, exc: NotAllowed) -> Response:
        return _error(request, 403, str(exc).capitalize() + ".")

    @sub.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> Response:
        return _error(request, 403, "This form's CSRF token is missing or wrong. Reload the page and try again.")

    @sub.exception_handler(FormInvalid)
    async def _invalid(request: Request, exc: FormInvalid) -> Response:
        return _error(request, 400, str(exc))

    @sub.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:5]]
        if any(e.get("loc", ("",))[0] == "path" for e in exc.errors()):
            return _error(request, 404, "No such page.")
        return _error(request, 400, "; ".join(parts))

    @sub.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else "No such page."
        return _error(request, exc.status_code, message)

    return sub


def mount_admin(app: FastAPI) -> None:
    """Mount the admin at /admin, the API at /api/v1 and the simulator at /."""
    from admin import api, simulator

    settings = app.state.runtime.settings
    sub = build_admin(app)
    app.mount("/admin", SecurityHeaders(sub, settings.public_base_url))
    app.include_router(api.router, prefix="/api/v1")
    app.include_router(simulator.router)

    # The API's tenancy errors, as JSON (the admin sub-app has its own HTML error pages).
    @app.exception_handler(NotInScope)
    async def _api_not_found(_request: Request, exc: NotInScope) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(NotAllowed)
    async def _api_not_allowed(_request: Request, exc: NotAllowed) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=403)
