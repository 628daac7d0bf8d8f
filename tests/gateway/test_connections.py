"""Kept-alive connections are closed after KEEPALIVE_MAX_REQUESTS answers (gateway.connections)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn
from fastapi.testclient import TestClient

from gateway import connections
from gateway.app import create_app
from gateway.connections import RecycleConnections
from tests.conftest import make_runtime


async def _ok(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2"), (b"connection", b"keep-alive")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _answer(app, client) -> dict[bytes, bytes]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "client": client, "method": "GET", "path": "/"}, receive, send))
    return dict(sent[0]["headers"])


def test_every_nth_answer_of_a_connection_says_close_and_its_count_starts_again():
    app = RecycleConnections(_ok, max_requests=3)
    first, second = ("10.0.0.1", 40000), ("10.0.0.1", 40001)
    closes = [_answer(app, first).get(b"connection") for _ in range(7)]
    assert closes == [b"keep-alive", b"keep-alive", b"close"] * 2 + [b"keep-alive"]
    assert _answer(app, second)[b"connection"] == b"keep-alive"  # another connection: its own count
    assert [k for k, v in _answer(app, first).items() if k == b"connection"] == [b"connection"]  # one header, not two


def test_zero_never_closes_and_a_scope_without_a_peer_is_left_alone():
    never = RecycleConnections(_ok, max_requests=0)
    assert all(_answer(never, ("10.0.0.1", 40000))[b"connection"] == b"keep-alive" for _ in range(5))
    app = RecycleConnections(_ok, max_requests=1)
    assert _answer(app, None)[b"connection"] == b"keep-alive"
    assert app.served == {}


def test_the_table_is_emptied_past_its_limit_instead_of_growing(monkeypatch):
    monkeypatch.setattr(connections, "TABLE_LIMIT", 4)
    app = RecycleConnections(_ok, max_requests=10)
    for port in range(20):
        _answer(app, ("10.0.0.2", port))
        assert len(app.served) <= 4


def test_uvicorn_closes_the_connection_after_the_answer_that_says_so():
    """On a real server: two answers on one kept-alive socket, the second says close and the
    server ends the connection; the client's next request goes on a new one."""
    app = RecycleConnections(_ok, max_requests=2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started
        request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            answers = []
            for _ in range(2):
                conn.sendall(request)
                data = b""
                while not data.endswith(b"ok"):
                    chunk = conn.recv(4096)
                    assert chunk, data
                    data += chunk
                answers.append(data.decode().lower())
            assert "connection: keep-alive" in answers[0] and "connection: close" in answers[1]
            assert conn.recv(4096) == b""  # closed by the server
        with socket.create_connection(("127.0.0.1", port), timeout=5) as again:
            again.sendall(request)
            assert again.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def small_rt(db_url, tmp_path):
    runtime = make_runtime(db_url, tmp_path=tmp_path, keepalive_max_requests=2)
    yield runtime
    runtime.close()


def test_the_app_closes_after_keepalive_max_requests_answers(small_rt):
    with TestClient(create_app(small_rt), client=("196.201.214.200", 50000)) as client:
        said = [client.get("/healthz").headers.get("connection") for _ in range(4)]
    assert said == [None, "close", None, "close"]


def test_by_default_a_connection_is_never_closed(db_url, tmp_path):
    runtime = make_runtime(db_url, tmp_path=tmp_path)
    try:
        assert runtime.settings.keepalive_max_requests == 0
        with TestClient(create_app(runtime), client=("196.201.214.200", 50000)) as client:
            assert all(client.get("/healthz").headers.get("connection") is None for _ in range(120))
    finally:
        runtime.close()


def test_keepalive_max_requests_cannot_be_negative(tmp_path):
    from pydantic import ValidationError

    from core.settings import Settings

    with pytest.raises(ValidationError, match="keepalive_max_requests"):
        Settings(_env_file=None, somo_data_dir=tmp_path, keepalive_max_requests=-1)
