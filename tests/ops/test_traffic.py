"""Provider-shaped traffic (Africa's Talking USSD and SMS, an OpenAI-compatible endpoint), then /metrics."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest
import responses
from fastapi.testclient import TestClient
from sqlalchemy import select

from channels.sms import segment_info
from core.models import Direction, Message
from gateway.app import create_app
from tests.gateway.conftest import fixture
from tests.ops.scrape import scrape

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
AT_SEND = "https://at.test/version1/messaging"


def _at(client, path: str, form: dict):
    return client.post(f"/webhooks/africastalking/{path}?token=at-hook-secret", content=urlencode(form), headers=FORM)


def test_ussd_answers_are_timed_and_counted_as_ussd_inbound(at_client):
    before = scrape(at_client)
    assert _at(at_client, "ussd", fixture("africastalking:ussd_dial")).text.startswith(("CON ", "END "))
    assert _at(at_client, "ussd", fixture("africastalking:ussd_step")).status_code == 200
    after = scrape(at_client)
    count = "somo_ussd_response_seconds_count"
    assert after.value(count) - before.value(count) == 2
    assert after.has("somo_ussd_response_seconds_bucket", le="0.5")
    stored = dict(channel="ussd", provider="africastalking", status="stored")
    assert after.value("somo_inbound_messages_total", **stored) - before.value(
        "somo_inbound_messages_total", **stored) == 2
    route = "/webhooks/africastalking/ussd"
    assert after.value("somo_webhook_seconds_count", route=route) - before.value(
        "somo_webhook_seconds_count", route=route) == 2


@responses.activate
def test_sms_sends_count_outbound_status_and_segments_by_encoding(at_client, gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    before = scrape(at_client)
    assert _at(at_client, "sms", fixture("africastalking:sms")).status_code == 200
    after = scrape(at_client)
    with gw_rt.session() as s:
        sent = list(s.scalars(select(Message).where(Message.direction == Direction.OUT.value)))
    assert sent and len(responses.calls) == len(sent)
    statuses: dict[str, int] = {}
    segments: dict[str, int] = {}
    for row in sent:
        statuses[row.status] = statuses.get(row.status, 0) + 1
        n, encoding = segment_info(row.text)
        segments[encoding] = segments.get(encoding, 0) + n
    for status, n in statuses.items():
        labels = dict(channel="sms", provider="africastalking", status=status)
        assert after.value("somo_outbound_messages_total", **labels) - before.value(
            "somo_outbound_messages_total", **labels) == n
    for encoding, n in segments.items():
        labels = dict(encoding=encoding, provider="africastalking")
        assert after.value("somo_sms_segments_total", **labels) - before.value("somo_sms_segments_total", **labels) == n
    inbound = dict(channel="sms", provider="africastalking", status="stored")
    assert after.value("somo_inbound_messages_total", **inbound) - before.value(
        "somo_inbound_messages_total", **inbound) == 1


@responses.activate
def test_send_retries_and_give_ups_are_counted(at_client, gw_rt):
    responses.post(AT_SEND, json={"error": "busy"}, status=500)
    before = scrape(at_client)
    _at(at_client, "sms", fixture("africastalking:sms"))
    after = scrape(at_client)
    with gw_rt.session() as s:
        sent = list(s.scalars(select(Message).where(Message.direction == Direction.OUT.value)))
    attempts = sum(m.attempts for m in sent)
    assert attempts >= 2 and all(m.status == "failed" for m in sent)  # send_backoff_base_s=0: retried at once
    job = "channels.jobs.send_message"
    retries = after.value("somo_job_retries_total", job=job) - before.value("somo_job_retries_total", job=job)
    failures = after.value("somo_job_failures_total", job=job) - before.value("somo_job_failures_total", job=job)
    assert failures == len(sent) and retries == attempts - len(sent)
    failed = dict(channel="sms", provider="africastalking", status="failed")
    assert after.value("somo_outbound_messages_total", **failed) - before.value(
        "somo_outbound_messages_total", **failed) == len(sent)


@pytest.fixture
def llm_endpoint():
    """An OpenAI-compatible endpoint on loopback: 200 with usage, or 500 when the prompt says so."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if "FAIL" in json.dumps(body):
                status, data = 500, {"error": {"message": "upstream exploded"}}
            else:
                status, data = 200, {
                    "id": "c1", "object": "chat.completion", "created": 1, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "3/4"}}],
                    "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
                }
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_llm_calls_tokens_cost_and_retrieval_latency(db_url, tmp_path, llm_endpoint):
    from core.runtime import use_runtime
    from rag.llm import LLMError, chat
    from rag.retrieve import retrieve
    from tests.conftest import make_runtime

    rt = make_runtime(db_url, tmp_path=tmp_path, openai_api_key="sk-test", openai_base_url=llm_endpoint,
                      openai_model="test-model", llm_price_in_per_1k=0.5, llm_price_out_per_1k=2.0)
    client = TestClient(create_app(rt))
    try:
        with use_runtime(rt):
            before = scrape(client)
            chat(rt, [{"role": "user", "content": "1/4 + 2/4?"}], max_tokens=50, temperature=0)
            with pytest.raises(LLMError):
                chat(rt, [{"role": "user", "content": "FAIL"}], max_tokens=50, temperature=0)
            with rt.session() as s:
                retrieve(rt, s, "what is a fraction", packs=[], allow_network=False)
            after = scrape(client)
    finally:
        rt.close()

    def delta(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("somo_llm_calls_total", model="test-model", outcome="ok") == 1
    assert delta("somo_llm_calls_total", model="test-model", outcome="error") == 1
    assert delta("somo_llm_tokens_total", kind="prompt") == 1000
    assert delta("somo_llm_tokens_total", kind="completion") == 500
    assert delta("somo_llm_cost_usd_total") == pytest.approx(1000 / 1000 * 0.5 + 500 / 1000 * 2.0)
    assert delta("somo_retrieval_seconds_count") == 1

