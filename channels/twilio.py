"""Twilio: SMS and WhatsApp (`whatsapp:+…` addresses) inbound, sending, status callbacks.

The official SDK builds and signs the API calls; its transport is an httpx client (one
per process, so respx can stand in for Twilio in tests), pointed at `TWILIO_API_BASE`.
Timeouts, 5xx and 429 are raised by the transport as retryable errors carrying
`Retry-After`; 4xx answers come back through the SDK as `TwilioRestException` with
Twilio's error code (21610: the recipient replied STOP).

`logged_since` asks Twilio's message log for a send whose answer we never got (a worker died
during the call): `channels.reconcile` uses it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels.base import (
    InvalidPayload,
    Outgoing,
    SendError,
    SendResult,
    StatusUpdate,
    network_error,
    phone_of,
    require,
    retry_after_of,
)
from core import clock
from core.messages import Inbound
from core.models import MessageStatus
from core.settings import Settings

PROVIDER = "twilio"
WHATSAPP_PREFIX = "whatsapp:"

STATUS = {
    "accepted": None, "scheduled": None, "queued": None, "sending": None,
    "sent": MessageStatus.SENT.value, "delivered": MessageStatus.DELIVERED.value, "read": MessageStatus.READ.value,
    "undelivered": MessageStatus.FAILED.value, "failed": MessageStatus.FAILED.value,
    "canceled": MessageStatus.FAILED.value, "receiving": None, "received": None, "partially_delivered": None,
}
OPTED_OUT_CODE = 21610  # "Attempt to send to unsubscribed recipient"
OUTSIDE_WINDOW_CODE = 63016
LOG_LOOKUP_LIMIT = 200  # messages read from Twilio's log per look-up (one student's, since the claim's day)


@dataclass
class Logged:
    """A message in Twilio's log that may be the send we lost the answer to."""

    sid: str
    status: str  # a MessageStatus value; Twilio's queued/accepted/sending are `sent` (it has the message)
    error: str | None
    created_at: datetime | None


def parse_message(form: dict[str, str], default_country: str = "KE") -> Inbound:
    sid = form.get("MessageSid") or form.get("SmsSid")
    if not sid:
        raise InvalidPayload("MessageSid", "missing")
    raw_from = require(form, "From")
    recipient = require(form, "To")
    channel = "whatsapp" if raw_from.lower().startswith(WHATSAPP_PREFIX) else "sms"
    sender = phone_of(raw_from, "From", default_country)
    return Inbound(
        channel=channel, provider=PROVIDER, provider_message_id=sid, sender=sender, recipient=recipient,
        text=form.get("Body", ""), received_at=clock.now(), raw=dict(form),
        profile_name=form.get("ProfileName") or None, button_id=form.get("ButtonPayload") or None,
    )


def parse_status(form: dict[str, str]) -> StatusUpdate:
    sid = form.get("MessageSid") or form.get("SmsSid")
    if not sid:
        raise InvalidPayload("MessageSid", "missing")
    status = require(form, "MessageStatus")
    if status not in STATUS:
        raise InvalidPayload("MessageStatus", f"unknown status {status[:40]!r}")
    code = (form.get("ErrorCode") or "").strip()
    if code and not code.isdigit():
        raise InvalidPayload("ErrorCode", f"not a number: {code[:20]!r}")
    error = f"Twilio error {code}" if code else None
    raw_to = form.get("To") or ""
    return StatusUpdate(
        provider_message_id=sid, status=STATUS[status], error=error,
        opted_out=code == str(OPTED_OUT_CODE), phone=raw_to.removeprefix(WHATSAPP_PREFIX) or None,
    )


def _normal(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").strip()


class HttpxTwilioClient(HttpClient):
    """Twilio's HttpClient interface on httpx."""

    def __init__(self, http: httpx.Client, timeout: float = 10.0):
        super().__init__(logging.getLogger("somo.channels.twilio"), is_async=False, timeout=timeout)
        self.http = http

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False) -> Response:
        try:
            res = self.http.request(method, uri, params=params, data=data, headers=headers, auth=auth,
                                    timeout=timeout or self.timeout, follow_redirects=allow_redirects)
        except httpx.TransportError as exc:
            raise network_error(exc) from exc
        if res.status_code == 429 or res.status_code >= 500:
            raise SendError(f"Twilio HTTP {res.status_code}: {res.text[:200]}", retryable=True,
                            retry_after=retry_after_of(res.headers.get("Retry-After")))
        return Response(res.status_code, res.text, dict(res.headers))


class TwilioAdapter:
    provider = PROVIDER

    def __init__(self, settings: Settings, http: httpx.Client | None = None):
        self.settings = settings
        self.http = http or httpx.Client(timeout=10.0)
        self.client = Client(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                             http_client=HttpxTwilioClient(self.http), environment={})
        self.client.api.base_url = settings.twilio_api_base

    def _sender(self, out: Outgoing) -> str:
        if out.channel == "whatsapp":
            sender = out.sender if (out.sender or "").startswith(WHATSAPP_PREFIX) else self.settings.twilio_whatsapp_from
            if not sender:
                raise SendError("TWILIO_WHATSAPP_FROM is not set", retryable=False)
            return sender if sender.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + sender
        sender = out.sender or self.settings.twilio_sms_from  # reply from the number the student wrote to
        if not sender:
            raise SendError("TWILIO_SMS_FROM is not set", retryable=False)
        return sender

    def send(self, out: Outgoing) -> SendResult:
        to = WHATSAPP_PREFIX + out.to if out.channel == "whatsapp" else out.to
        kwargs: dict = {"to": to, "from_": self._sender(out)}
        if out.status_callback:
            kwargs["status_callback"] = out.status_callback
        if out.template:
            kwargs["content_sid"] = out.template
            kwargs["content_variables"] = json.dumps({"1": out.text[:1024]})
        else:
            kwargs["body"] = out.text
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise SendError(f"Twilio error {exc.code} (HTTP {exc.status}): {exc.msg}"[:500], retryable=False,
                            opted_out=exc.code == OPTED_OUT_CODE) from exc
        return SendResult(provider_message_id=message.sid, status=MessageStatus.SENT.value)

    def logged_since(self, out: Outgoing, since: datetime) -> list[Logged]:
        """Outbound messages in Twilio's log from our sender to `out.to`, created at or after
        `since`, carrying `out`'s body, oldest first: the Messages list filtered by To, From and
        DateSent (a day, in GMT; the time is compared here on `date_created`). A template send's
        body is Twilio's rendering of the template, so it is matched on the addresses and time
        alone. Raises SendError when Twilio cannot be asked."""
        to = WHATSAPP_PREFIX + out.to if out.channel == "whatsapp" else out.to
        body = _normal(out.text)
        found: list[Logged] = []
        try:
            for m in self.client.messages.stream(to=to, from_=self._sender(out), date_sent_after=f"{since:%Y-%m-%d}",
                                                 limit=LOG_LOOKUP_LIMIT, page_size=100):
                created = m.date_created.astimezone(UTC) if m.date_created else None
                if not (m.direction or "").startswith("outbound") or (created is not None and created < since):
                    continue
                if out.template is None and _normal(m.body) != body:
                    continue
                code = str(m.error_code) if m.error_code else None
                status = STATUS.get(m.status or "") or MessageStatus.SENT.value
                found.append(Logged(sid=m.sid, status=status, created_at=created,
                                    error=f"Twilio error {code}" if code and status == MessageStatus.FAILED.value else None))
        except TwilioRestException as exc:
            raise SendError(f"Twilio error {exc.code} (HTTP {exc.status}): {exc.msg}"[:500], retryable=True) from exc
        return sorted(found, key=lambda m: m.created_at or since)

    def close(self) -> None:
        self.http.close()
