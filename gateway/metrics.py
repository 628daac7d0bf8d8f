"""`/metrics` and the request middleware (request id, per-route latency, USSD answer time).

The API runs several uvicorn workers; each keeps its own counters, so with more than one
worker `somo serve` sets PROMETHEUS_MULTIPROC_DIR and this route merges every worker's
files (prometheus-client multiprocess mode). Without it (tests, the demo) the process's
default registry is served. Values about shared state (queue depth, oldest job, active
students) are read per scrape by `StateCollector`.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from core.observability import (
    HTTP_REQUESTS,
    REQUEST_ID,
    WEBHOOK_SECONDS,
    StateCollector,
    new_request_id,
    observe_ussd,
)
from gateway.deps import RuntimeDep

router = APIRouter()

REQUEST_ID_HEADER = "x-request-id"
USSD_ROUTES = frozenset({"/webhooks/africastalking/ussd"})
UNMATCHED = "unmatched"  # one label for every unknown path, so scanners cannot blow up the series count
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def process_registry() -> CollectorRegistry:
    """This process's counters, or every API worker's when running in multiprocess mode."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


class _Union:
    """Collects several registries into one scrape (a registry cannot hold another)."""

    def __init__(self, *sources) -> None:
        self.sources = sources

    def collect(self):
        for source in self.sources:
            yield from source.collect()


def render(runtime) -> bytes:
    return generate_latest(_Union(process_registry(), StateCollector(runtime)))  # type: ignore[arg-type]


@router.get("/metrics", include_in_schema=False)
def metrics(rt: RuntimeDep) -> Response:
    return Response(render(rt), media_type=CONTENT_TYPE_LATEST)


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-ID when it is a sane token, else a new one (never trust raw input in logs)."""
    for key, value in headers:
        if key.lower() == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1").strip()
            if _SAFE_ID.match(candidate):
                return candidate
            break
    return new_request_id()


class MetricsMiddleware:
    """Pure ASGI middleware: sets the request id, echoes it, times the request per route template."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers") or [])
        token = REQUEST_ID.set(request_id)
        status = {"code": 500}

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            _series(WEBHOOK_SECONDS, route).observe(elapsed)
            _series(HTTP_REQUESTS, route, scope.get("method", ""), str(status["code"])).inc()
            if route in USSD_ROUTES:
                observe_ussd(elapsed)
            REQUEST_ID.reset(token)


_SERIES: dict[tuple, object] = {}


def _series(metric, *labels: str):
    """`metric.labels(*labels)`, kept: labels() validates, locks and looks up on every call.
    Route templates, methods and codes are bounded sets (unknown paths are UNMATCHED)."""
    key = (id(metric), *labels)
    child = _SERIES.get(key)
    if child is None:
        child = _SERIES[key] = metric.labels(*labels)
    return child


def install(app: FastAPI) -> None:
    """Mount /metrics and the middleware on the app (called once by the app factory)."""
    app.include_router(router)
    app.add_middleware(MetricsMiddleware)


def prepare_multiprocess(workers: int, base_dir) -> str | None:
    """Before uvicorn starts N workers: give them one shared metrics directory, emptied.

    prometheus-client reads PROMETHEUS_MULTIPROC_DIR when it is first imported, so this runs
    in the parent before the workers start; files left from a previous run would be summed
    into this one's counters, hence the wipe (the library's documented requirement).
    """
    directory = multiprocess_dir()
    if directory is None:
        if workers <= 1:
            return None
        directory = str(Path(base_dir) / "prometheus-multiproc")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return directory


def serve_worker_metrics(port: int, addr: str = "0.0.0.0"):
    """An rq worker's own /metrics on `port` (a worker is one process with its own registry)."""
    from prometheus_client import start_http_server

    return start_http_server(port, addr=addr, registry=process_registry())
