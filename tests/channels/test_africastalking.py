"""The Africa's Talking adapter's transport: the environment `requests` would read on every
call (proxies, CA bundle) is read once when the adapter is built, and still applies."""

from __future__ import annotations

from urllib.parse import parse_qs

import responses

from channels.africastalking import AfricasTalkingAdapter
from channels.base import Outgoing
from core.settings import Settings
from tests.channels.conftest import fixture
from tests.channels.test_jobs import AT_SEND


@responses.activate
def test_a_proxy_and_ca_bundle_from_the_environment_are_used(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    adapter = AfricasTalkingAdapter(Settings(_env_file=None, at_username="somo", at_api_key="at-api-key",
                                             at_api_base="https://at.test", at_sender_id="SOMO"))
    monkeypatch.delenv("HTTPS_PROXY")  # read once, at start: later sends still go through it
    for _ in range(2):
        result = adapter.send(Outgoing(channel="sms", to="+254711000111", text="Hello"))
    assert result.provider_message_id == "ATXid_af51d4b2d1a4c8c5c8f3e7c5a1b2c3d4"
    request = responses.calls[-1].request
    assert request.req_kwargs["proxies"].get("https") == "http://proxy.internal:3128"
    assert request.req_kwargs["verify"] == str(bundle) and request.req_kwargs["timeout"] == 10.0
    assert request.headers["apiKey"] == "at-api-key" and request.headers["Accept"] == "application/json"
    assert parse_qs(request.body) == {"username": ["somo"], "to": ["+254711000111"], "message": ["Hello"],
                                      "bulkSMSMode": ["1"], "from": ["SOMO"]}
    adapter.close()
