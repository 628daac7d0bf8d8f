"""The two floors our throughput is measured against, served like the real app (uvicorn, uvloop).

`make_bare_app`: FastAPI parsing an Africa's Talking form and answering a fixed text, no
storage. `make_insert_app`: the same plus one INSERT into PostgreSQL through the driver and
pool the gateway uses (SQLAlchemy 2 sync + psycopg 3, a `def` route in the threadpool), one
commit per request. Not a benchmark by itself: `bench.flow` starts both.
"""

from __future__ import annotations

import os
import time

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from bench.webhooks import ServerTiming


def _form(body: bytes) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in body.decode().split("&") if "=" in pair)


def make_bare_app():
    app = FastAPI()

    @app.post("/bare")
    async def bare(request: Request) -> PlainTextResponse:
        form = _form(await request.body())
        return PlainTextResponse("CON Welcome\n1. Learn" if form.get("sessionId") or form.get("from") else "END ?")

    return ServerTiming(app)


def make_insert_app():
    from core.db import make_engine

    engine = make_engine(os.environ["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_inserts (id BIGSERIAL PRIMARY KEY, "
                          "phone VARCHAR(32), body TEXT, created_at DOUBLE PRECISION)"))
    app = FastAPI()

    @app.post("/bare-insert")
    async def bare_insert(request: Request) -> PlainTextResponse:
        form = _form(await request.body())
        await run_in_threadpool(_insert, engine, form)
        return PlainTextResponse("")

    return ServerTiming(app)


def _insert(engine, form: dict[str, str]) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO bench_inserts (phone, body, created_at) VALUES (:p, :b, :t)"),
                     {"p": form.get("from", ""), "b": form.get("text", ""), "t": time.time()})
