"""Fault-test fixtures: a fake Africa's Talking send API that records what the student got,
and runtimes pointed at a Redis that is not there."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode

import pytest
import responses

from core.runtime import build_runtime
from core.settings import Settings
from tests.gateway.conftest import (
    PROVIDER_SETTINGS,
    fixture,
    gw_rt,  # noqa: F401 - a runtime with every provider against test doubles
)

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: every call is refused at once
AT_SEND = "https://at.test/version1/messaging"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
AT_TOKEN = "?token=at-hook-secret"


def dead_redis_runtime(db_url: str, tmp_path):
    """A runtime whose REDIS_URL points at a closed port (the shared server stays up)."""
    return build_runtime(Settings(_env_file=None, database_url=db_url, redis_url=DEAD_REDIS, somo_data_dir=tmp_path,
                                  **PROVIDER_SETTINGS))


def sms_form(phone: str, text: str, message_id: str) -> str:
    form = dict(fixture("africastalking:sms"))
    form.update({"from": phone, "text": text, "id": message_id})
    return urlencode(form)


def ussd_form(phone: str, session_id: str, text: str) -> str:
    form = dict(fixture("africastalking:ussd_dial"))
    form.update({"phoneNumber": phone, "sessionId": session_id, "text": text})
    return urlencode(form)


@pytest.fixture
def at_api():
    """Africa's Talking's send API (requests, mocked with `responses`); yields the texts sent."""
    bodies: list[str] = []

    def answer(request):
        form = parse_qs(request.body)
        bodies.append(form["message"][0])
        return 201, {}, send_answer(form["to"][0], len(bodies))

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, AT_SEND, callback=answer)
        yield bodies


def send_answer(phone: str, n: int) -> str:
    """AT's real answer shape, with a message id of its own per send (as AT gives)."""
    answer = fixture("africastalking:send_answer")
    recipient = answer["SMSMessageData"]["Recipients"][0]
    recipient.update(number=phone, messageId=f"ATXid_{n:032d}")
    return json.dumps(answer)
