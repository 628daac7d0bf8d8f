"""A gateway with every provider configured against test doubles (respx / responses)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.runtime import set_runtime
from gateway.app import create_app
from tests.conftest import make_runtime

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"

PROVIDER_SETTINGS = dict(
    public_base_url="https://somo.example.org",
    at_username="somo", at_api_key="at-api-key", at_api_base="https://at.test", at_webhook_token="at-hook-secret",
    at_sender_id="SOMO",
    twilio_account_sid="AC" + "a" * 32, twilio_auth_token="twilio-auth-token", twilio_api_base="https://twilio.test",
    twilio_sms_from="+15005550006", twilio_whatsapp_from="whatsapp:+14155238886",
    whatsapp_access_token="meta-access-token", whatsapp_app_secret="meta-app-secret",
    whatsapp_verify_token="meta-verify-token", whatsapp_phone_number_id="106540352242922",
    whatsapp_api_base="https://graph.test/v21.0",
    send_backoff_base_s=0.0,
    send_rate_per_second=1000.0,  # pacing has its own tests (tests/channels/test_throttle.py)
)


def fixture(name: str) -> dict:
    provider, _, key = name.partition(":")
    data = json.loads((FIXTURES / f"{provider}.json").read_text())
    return json.loads(json.dumps(data[key])) if key else data


@pytest.fixture
def gw_rt(db_url, tmp_path, request):
    overrides = dict(PROVIDER_SETTINGS)
    overrides.update(getattr(request, "param", {}) or {})
    runtime = make_runtime(db_url, tmp_path=tmp_path, **overrides)
    previous = set_runtime(runtime)
    yield runtime
    set_runtime(previous)
    runtime.close()


@pytest.fixture
def client(gw_rt) -> Iterator[TestClient]:
    with TestClient(create_app(gw_rt), client=("196.201.214.200", 50000)) as c:
        yield c
