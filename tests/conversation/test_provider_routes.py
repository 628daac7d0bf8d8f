"""First contact to a finished Teach lesson through the real provider webhooks (Africa's
Talking USSD and SMS, Twilio WhatsApp, Meta WhatsApp), in English and Kiswahili. Providers
are doubles at the HTTP layer only: `responses` for Africa's Talking, respx for Twilio/Meta."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from urllib.parse import urlencode

import httpx
import pytest
import responses
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from core.models import Direction, LessonProgress, Message
from core.runtime import set_runtime
from gateway.app import create_app
from tests.conftest import make_runtime
from tests.conversation.helpers import Phone, finish_teach, load_pack, read_all, read_pack
from tests.gateway.conftest import PROVIDER_SETTINGS, fixture

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
AT_SEND = "https://at.test/version1/messaging"
TWILIO_CREATE = "https://twilio.test/2010-04-01/Accounts/AC" + "a" * 32 + "/Messages.json"
META_SEND = "https://graph.test/v21.0/106540352242922/messages"
_ids = itertools.count(1)


@pytest.fixture
def app_rt(db_url, tmp_path):
    runtime = make_runtime(db_url, tmp_path=tmp_path, **(PROVIDER_SETTINGS | {"rate_limit_per_minute": 500}))
    previous = set_runtime(runtime)
    load_pack(runtime)
    yield runtime
    set_runtime(previous)
    runtime.close()


@pytest.fixture
def client(app_rt):
    with TestClient(create_app(app_rt), client=("196.201.214.200", 50000)) as c:
        yield c


class RoutePhone(Phone):
    """A student behind a provider: `send` posts what the provider would, returns what they see."""

    def __init__(self, rt, client, number: str, kind: str):
        channel = {"at_ussd": "ussd", "at_sms": "sms", "console_http": "sms"}.get(kind, "whatsapp")
        super().__init__(rt, number, channel)
        self.client, self.kind, self.inputs = client, kind, []

    def dial(self) -> str:
        self.session_id, self.inputs = f"ATUid_{next(_ids):032x}", []
        return self._ussd()

    def send(self, text: str, *, button_id: str | None = None) -> str:
        if self.kind == "at_ussd":
            self.inputs.append(text)
            screen = self._ussd()
        elif self.kind == "console_http":
            res = self.client.post("/webhooks/console", json={"phone": self.phone, "text": text, "channel": "sms"})
            assert res.status_code == 200, res.text
            screen = "\n".join(res.json()["replies"])
        else:
            message_id = getattr(self, f"_{self.kind}")(text)
            screen = "\n".join(self.replies_to(message_id))
        self.screens.append(screen)
        return screen

    def _ussd(self) -> str:
        form = {"sessionId": self.session_id, "serviceCode": "*384*1234#", "phoneNumber": self.phone,
                "networkCode": "63902", "text": "*".join(self.inputs)}
        res = self.client.post("/webhooks/africastalking/ussd?token=at-hook-secret", content=urlencode(form),
                               headers=FORM)
        assert res.status_code == 200, res.text
        return res.text

    def _at_sms(self, text: str) -> str:
        form = fixture("africastalking:sms") | {"from": self.phone, "text": text, "id": f"ATPid_{next(_ids):032x}"}
        res = self.client.post("/webhooks/africastalking/sms?token=at-hook-secret", content=urlencode(form),
                               headers=FORM)
        assert res.status_code == 200, res.text
        return form["id"]

    def _twilio_wa(self, text: str) -> str:
        sid = f"SM{next(_ids):032x}"
        form = fixture("twilio:whatsapp") | {"Body": text, "MessageSid": sid, "SmsSid": sid,
                                              "From": f"whatsapp:{self.phone}", "WaId": self.phone[1:]}
        url = "https://somo.example.org/webhooks/twilio/messages"
        signature = RequestValidator("twilio-auth-token").compute_signature(url, form)
        res = self.client.post("/webhooks/twilio/messages", content=urlencode(form),
                               headers=FORM | {"X-Twilio-Signature": signature})
        assert res.status_code == 200, res.text
        return sid

    def _meta_wa(self, text: str) -> str:
        event = fixture("meta:text")
        value = event["entry"][0]["changes"][0]["value"]
        wamid = f"wamid.{next(_ids):032x}"
        value["contacts"][0]["wa_id"] = self.phone[1:]
        value["messages"][0].update({"from": self.phone[1:], "id": wamid, "text": {"body": text}})
        body = json.dumps(event).encode()
        signature = "sha256=" + hmac.new(b"meta-app-secret", body, hashlib.sha256).hexdigest()
        res = self.client.post("/webhooks/whatsapp", content=body,
                               headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})
        assert res.status_code == 200, res.text
        return wamid

    def replies_to(self, provider_message_id: str) -> list[str]:
        with self.rt.session() as s:
            inbound = s.scalar(select(Message).where(Message.provider_message_id == provider_message_id))
            return [m.text for m in s.scalars(select(Message).where(
                Message.reply_to_id == inbound.id, Message.direction == Direction.OUT.value).order_by(Message.id))]


def mock_providers():
    responses.add(responses.POST, AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    respx.post(TWILIO_CREATE).mock(return_value=httpx.Response(201, json=fixture("twilio:create_answer")))
    respx.post(META_SEND).mock(return_value=httpx.Response(200, json=fixture("meta:send_answer")))


WORDS = {"en": ("1", "Welcome to Somo, Amina!", "Step 6/6"), "sw": ("2", "Karibu Somo, Amina!", "Hatua 6/6")}


@pytest.mark.parametrize("lang", ["en", "sw"])
@pytest.mark.parametrize("kind", ["console_http", "at_ussd", "at_sms", "twilio_wa", "meta_wa"])
@respx.mock
@responses.activate
def test_first_contact_to_a_finished_lesson_through_the_provider_webhooks(client, app_rt, kind, lang):
    mock_providers()
    key, welcome, last_step = WORDS[lang]
    phone = RoutePhone(app_rt, client, "+254711000" + str(100 + list(WORDS).index(lang)), kind)
    first = phone.dial() if kind == "at_ussd" else phone.send("Hello Somo")
    assert "Kiswahili" in first and "English" in first
    for text in (key, "Amina", "SKIP"):
        phone.send(text)
    menu = read_all(phone, phone.send("1"))
    assert welcome in menu
    phone.send("1"), phone.send("1"), phone.send("1")
    assert phone.state().state == "lesson"
    last = read_all(phone, finish_teach(phone, read_pack()))
    assert last_step in last
    assert phone.state().state == "menu"
    with app_rt.session() as s:
        assert s.scalar(select(LessonProgress.completed_at)) is not None
    if kind == "at_ussd":
        assert all(screen.startswith(("CON ", "END ")) and len(screen) <= 160 for screen in phone.screens)
    elif kind == "at_sms":
        assert len(responses.calls) >= len(phone.screens)  # every reply went out through AT's API
    elif kind != "console_http":  # (the console's replies are its HTTP answers)
        assert respx.calls.call_count >= len(phone.screens)
