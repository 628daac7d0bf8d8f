"""Liveness and readiness."""

from __future__ import annotations

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from core.settings import Settings
from gateway.deps import RuntimeDep

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(rt: RuntimeDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if rt.redis is not None:
        try:
            rt.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"unreachable: {type(exc).__name__}"
    if rt.settings.qdrant_url:
        checks["qdrant"] = qdrant_check(rt.settings)
    ok = all(v == "ok" for v in checks.values())
    failing = [k for k, v in checks.items() if v != "ok"]
    body = {"status": "ok" if ok else "unavailable", "checks": checks, "failing": failing}
    return JSONResponse(body, status_code=200 if ok else 503)


QDRANT_TIMEOUT_S = 2.0  # a probe, not a query: a slow Qdrant is not ready


def qdrant_check(settings: Settings) -> str:
    """Qdrant's own readiness endpoint (GET /readyz), with the API key when one is set."""
    headers = {}
    if settings.qdrant_api_key.get_secret_value():
        headers["api-key"] = settings.qdrant_api_key.get_secret_value()
    try:
        response = httpx.get(f"{settings.qdrant_url.rstrip('/')}/readyz", headers=headers, timeout=QDRANT_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"unreachable: {type(exc).__name__}"
    if response.status_code != 200:
        return f"not ready: HTTP {response.status_code}"
    return "ok"
