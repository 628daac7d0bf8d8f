"""JSON log lines: request id on every line (also inside jobs), phones masked, secrets never written."""

from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi.testclient import TestClient

from core.observability import configure_logging, request_id_scope
from core.settings import Settings
from gateway.app import create_app

SECRETS = dict(at_api_key="atsk_live_9f8e7d6c5b", twilio_auth_token="tw-auth-0123456789abcdef",
               whatsapp_app_secret="wa-app-secret-XYZ", openai_api_key="sk-proj-abcdefghijklmnop")


@pytest.fixture
def logbuf():
    """Somo's handler writing into a buffer; removed after the test."""
    buf = io.StringIO()
    handler = configure_logging(Settings(_env_file=None, log_level="DEBUG", **SECRETS), stream=buf)
    yield buf
    logging.getLogger().removeHandler(handler)


def lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def test_a_line_is_json_with_the_fixed_fields_and_extras(logbuf):
    with request_id_scope("req-42"):
        logging.getLogger("somo.test").warning("queued %d sends", 3, extra={"channel": "sms", "attempt": 2})
    [line] = lines(logbuf)
    assert line["level"] == "WARNING" and line["logger"] == "somo.test" and line["msg"] == "queued 3 sends"
    assert line["request_id"] == "req-42" and line["channel"] == "sms" and line["attempt"] == 2
    assert line["ts"].endswith("+00:00") and "T" in line["ts"]


@pytest.mark.parametrize("raw, shown", [
    ("+254712345612", "+2547******12"),
    ("254712345612", "2547******12"),
    ("whatsapp:+256772123456", "whatsapp:+2567******56"),
    ("0712345612", "0712****12"),
])
def test_phone_numbers_are_masked_in_message_and_extra_fields(logbuf, raw, shown):
    logging.getLogger("somo.test").info("inbound from %s", raw, extra={"phone": raw, "to": [raw]})
    [line] = lines(logbuf)
    assert line["msg"] == f"inbound from {shown}"
    assert line["phone"] == shown and line["to"] == [shown]
    assert raw.split(":")[-1] not in json.dumps(line)


def test_ids_that_merely_contain_digits_are_left_alone(logbuf):
    logging.getLogger("somo.test").info("job send-123 message console-1234567890abc at 2024-05-01")
    assert lines(logbuf)[0]["msg"] == "job send-123 message console-1234567890abc at 2024-05-01"


def test_secret_values_from_settings_are_scrubbed_everywhere_including_tracebacks(logbuf):
    log = logging.getLogger("somo.test")
    log.info("calling with key %s", SECRETS["at_api_key"], extra={"headers": {"Authorization": "Bearer abcdefgh12345678"}})
    log.info("url https://api.example/send?token=%s&x=1", SECRETS["twilio_auth_token"])
    try:
        raise RuntimeError(f"provider refused secret {SECRETS['whatsapp_app_secret']}")
    except RuntimeError:
        log.exception("send failed")
    text = logbuf.getvalue()
    for secret in SECRETS.values():
        assert secret not in text
    first, second, third = lines(logbuf)
    assert first["msg"] == "calling with key [secret]" and first["headers"] == {"Authorization": "Bearer [secret]"}
    assert "token=[secret]&x=1" in second["msg"]
    assert "RuntimeError: provider refused secret [secret]" in third["exc"]


def test_the_request_id_reaches_log_lines_of_the_request_and_of_its_inline_jobs(rt, logbuf):
    app = create_app(rt)

    @app.post("/_test/work")
    def work() -> dict:
        logging.getLogger("somo.test").info("handling for +254712345612")
        rt.queue.enqueue("tests.ops.jobs.fail_loudly", "boom")
        return {"ok": True}

    response = TestClient(app).post("/_test/work", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "abc-123"
    by_msg = {line["msg"]: line for line in lines(logbuf)}
    assert by_msg["handling for +2547******12"]["request_id"] == "abc-123"
    assert by_msg["inline job failed"]["request_id"] == "abc-123"
    assert by_msg["inline job failed"]["job"] == "tests.ops.jobs.fail_loudly"


def test_request_ids_are_made_when_missing_or_unsafe(rt):
    client = TestClient(create_app(rt))
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 32 and int(made, 16) >= 0
    unsafe = client.get("/healthz", headers={"X-Request-ID": "x <script>" + "a" * 200})
    assert unsafe.headers["x-request-id"] != made and len(unsafe.headers["x-request-id"]) == 32
    assert client.get("/healthz").headers["x-request-id"] != made


def test_made_request_ids_are_hex_unique_and_differ_in_a_forked_child():
    import os

    from core.logs import new_request_id

    made = [new_request_id() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(len(x) == 32 and x == x.lower() and int(x, 16) >= 0 for x in made)
    # a process forked after start (an rq work horse) must not repeat its parent's next ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert len(child) == 32 and child != new_request_id()
