"""The app factory."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core import gctune
from core.observability import NO_OTEL
from core.runtime import Runtime, get_runtime, set_runtime
from gateway import (
    health,
    offload,
    webhooks_africastalking,
    webhooks_console,
    webhooks_twilio,
    webhooks_whatsapp,
)
from gateway.connections import RecycleConnections
from gateway.errors import AppError
from gateway.metrics import install as install_metrics
from gateway.security import BaseHeaders
from rag.warmup import warm_on_start

log = logging.getLogger("somo.gateway")


def create_app(runtime: Runtime | None = None) -> FastAPI:
    if runtime is not None:
        set_runtime(runtime)
    rt = runtime or get_runtime()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # A USSD question is answered in this process, within the operator's deadline: the answer
        # path (the search collections, qdrant-client's import; the LLM client) is built first.
        warm_on_start(rt, "api")
        # Serving from here on: what start-up built is frozen out of the collector's walks.
        gctune.tune(rt.settings.gc_thresholds, where="api")
        yield

    # at most one pooled connection per webhook thread, so a burst queues here, not in the pool
    offload.use_threads(min(rt.settings.webhook_threads, rt.settings.db_pool_size))
    app = FastAPI(title="Somo", version="0.1.0", docs_url="/docs", redoc_url=None, lifespan=lifespan,
                  telemetry=NO_OTEL)
    app.state.runtime = rt

    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes the input back, which fails on a JSON `Infinity` (a 500)
        # and would repeat a student's text: say where and what, not the value.
        detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(DataError)
    async def _unstorable(_request: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses (an id past bigint, text it cannot hold) came from the
        # request: the client's error, said plainly, not a 500.
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        return JSONResponse({"error": f"a value in the request cannot be stored: {reason}"}, status_code=400)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def _database_down(_request: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL restarting or unreachable: nothing was stored, so say "try again" (gateways
        # retry on 5xx) rather than a 500; the pool reconnects by itself (pre-ping).
        log.warning("database unavailable: %s", type(exc).__name__)
        return JSONResponse({"error": "database unavailable, please retry"}, status_code=503,
                            headers={"Retry-After": "5"})

    app.include_router(health.router)
    install_metrics(app)  # /metrics, request ids, per-route latency
    app.add_middleware(BaseHeaders)  # nosniff, DENY, no-store on every answer
    if rt.settings.keepalive_max_requests:  # off by default: no layer on every request then
        # the outermost: kept-alive connections recycled so the workers' split follows the load
        app.add_middleware(RecycleConnections, max_requests=rt.settings.keepalive_max_requests)
    app.include_router(webhooks_console.router)
    app.include_router(webhooks_africastalking.router)
    app.router.routes[:0] = webhooks_africastalking.direct_routes()  # matched first (see DirectRoute)
    app.include_router(webhooks_twilio.router)
    app.include_router(webhooks_whatsapp.router)
    from admin.app import mount_admin  # the web admin (/admin), the API (/api/v1) and the simulator (/)

    mount_admin(app)
    return app
