"""The console channel over HTTP: the phone simulator and `somo chat` talk to Somo through it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from core import clock
from core.messages import Inbound
from core.phone import InvalidPhone, to_e164
from gateway.deps import RuntimeDep
from gateway.errors import BadRequest
from gateway.pipeline import handle_console
from gateway.webhooks_body import unstorable_text

router = APIRouter()


class ConsoleIn(BaseModel):
    phone: str = Field(max_length=32)
    text: str = Field(default="", max_length=2000)
    channel: str = "sms"
    session_id: str | None = Field(default=None, max_length=120)
    message_id: str | None = Field(default=None, max_length=120)

    @field_validator("phone", "text", "session_id", "message_id")
    @classmethod
    def _storable(cls, v: str | None, info) -> str | None:
        bad = unstorable_text(v, info.field_name) if v is not None else None
        if bad is not None:
            raise ValueError(bad)
        return v

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        if v not in ("sms", "ussd", "whatsapp"):
            raise ValueError("channel must be sms, ussd or whatsapp")
        return v


class ConsoleOut(BaseModel):
    replies: list[str]


@router.post("/webhooks/console", response_model=ConsoleOut)
def console_message(body: ConsoleIn, rt: RuntimeDep) -> ConsoleOut:
    try:
        phone = to_e164(body.phone, rt.settings.default_country)
    except InvalidPhone as exc:
        raise BadRequest(f"phone: {exc}") from exc
    inbound = Inbound(
        channel=body.channel, provider="console", provider_message_id=body.message_id or f"console-{uuid.uuid4().hex}",
        sender=phone, recipient="console", text=body.text, received_at=clock.now(), ussd_session_id=body.session_id,
    )
    return ConsoleOut(replies=handle_console(rt, inbound))
