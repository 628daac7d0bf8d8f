"""Africa's Talking: USSD and SMS inbound, SMS sending, delivery reports, opt-outs, USSD session ends.

AT does not sign its callbacks (the gateway checks a secret token and an optional IP
allow-list). The SMS send goes through the official SDK for its request shape and
phone validation; its transport is replaced so we keep the HTTP status and the
`Retry-After` header, which the SDK otherwise folds into a bare exception.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import requests
from africastalking.SMS import SMSService

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

PROVIDER = "africastalking"

# Delivery report statuses (SMS) -> ours.
DELIVERY_STATUS = {
    "Sent": MessageStatus.SENT.value, "Submitted": MessageStatus.SENT.value, "Buffered": MessageStatus.SENT.value,
    "Success": MessageStatus.DELIVERED.value,
    "Failed": MessageStatus.FAILED.value, "Rejected": MessageStatus.FAILED.value, "Expired": MessageStatus.FAILED.value,
}
OPT_OUT_REASONS = {"UserInBlackList", "UserInBlacklist"}
# Per-recipient statusCode in the send answer.
ACCEPTED_CODES = {100, 101, 102}
BLACKLISTED_CODE = 406
RETRYABLE_CODES = {500, 501, 502}


def parse_date(value: str | None) -> datetime:
    """AT sends `2017-05-03T06:04:45Z` or `2017-05-03 06:04:45` (UTC); absent means now."""
    if not value:
        return clock.now()
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise InvalidPayload("date", f"not a date AT sends: {value[:40]!r}")


def parse_ussd(form: dict[str, str], default_country: str = "KE") -> Inbound:
    """One USSD step. `text` holds every input of the session joined by `*`; the engine gets
    the newest only, and the (session, full text) pair is the step's id, so a retry is a duplicate."""
    session_id = require(form, "sessionId")
    require(form, "serviceCode")
    sender = phone_of(require(form, "phoneNumber"), "phoneNumber", default_country)
    full = form.get("text") or ""
    newest = full.rsplit("*", 1)[-1] if full else ""
    return Inbound(
        channel="ussd", provider=PROVIDER, provider_message_id=ussd_step_id(session_id, full), sender=sender,
        recipient=form.get("serviceCode"), text=newest, received_at=clock.now(), ussd_session_id=session_id,
        network_code=form.get("networkCode") or None, raw=dict(form),
    )


def ussd_step_id(session_id: str, full: str) -> str:
    """`session:text`, or, when that passes the column's 160 characters (a long session), the
    session and a digest of the text: cutting it would make every later step a "duplicate"."""
    step = f"{session_id}:{full}"
    if len(step) <= 160:
        return step
    return f"{session_id[:80]}:#{hashlib.sha256(full.encode('utf-8', 'surrogatepass')).hexdigest()}"


def parse_sms(form: dict[str, str], default_country: str = "KE") -> Inbound:
    message_id = require(form, "id")
    sender = phone_of(require(form, "from"), "from", default_country)
    recipient = require(form, "to")
    if "text" not in form:
        raise InvalidPayload("text", "missing")
    return Inbound(
        channel="sms", provider=PROVIDER, provider_message_id=message_id, sender=sender, recipient=recipient,
        text=form["text"], received_at=parse_date(form.get("date")), network_code=form.get("networkCode") or None,
        raw=dict(form),
    )


def parse_delivery(form: dict[str, str]) -> StatusUpdate:
    message_id = require(form, "id")
    status = require(form, "status")
    if status not in DELIVERY_STATUS:
        raise InvalidPayload("status", f"unknown delivery status {status[:40]!r}")
    reason = (form.get("failureReason") or "").strip() or None
    return StatusUpdate(
        provider_message_id=message_id, status=DELIVERY_STATUS[status], error=reason,
        opted_out=reason in OPT_OUT_REASONS, phone=form.get("phoneNumber"),
    )


def parse_optout(form: dict[str, str], default_country: str = "KE") -> str:
    """The bulk SMS opt-out callback: the number that opted out of our sender id."""
    require(form, "senderId")
    return phone_of(require(form, "phoneNumber"), "phoneNumber", default_country)


def parse_ussd_end(form: dict[str, str], default_country: str = "KE") -> dict[str, Any]:
    """The end-of-session notification, kept as an event (status Incomplete/Success/Failed)."""
    session_id = require(form, "sessionId")
    status = require(form, "status")
    if status not in ("Incomplete", "Success", "Failed"):
        raise InvalidPayload("status", f"unknown session status {status[:40]!r}")
    phone = phone_of(require(form, "phoneNumber"), "phoneNumber", default_country)
    return {**form, "sessionId": session_id, "status": status, "phoneNumber": phone}


class _SmsService(SMSService):
    """The SDK's SMS service on our own `requests` session, keeping status and headers.

    The request is prepared here and handed to `Session.send` with what `Session.request`
    would read from the environment on every call (proxies, CA bundle) read once at start:
    that per-call look-up, and the session's cookie and netrc merging, were a third of a
    send's CPU. The session's default headers still go out (the SDK's own win)."""

    def __init__(self, username: str, api_key: str, base_url: str, http: requests.Session, timeout: float):
        super().__init__(username, api_key)
        self._baseUrl = base_url.rstrip("/") + "/version1"
        self._http = http
        self._send_options = {"timeout": timeout, **http.merge_environment_settings(
            self._baseUrl, {}, None, None, None)}

    def _make_request(self, url, method, headers, data, params, callback=None, timeout=None):  # noqa: ARG002
        request = requests.Request(method, url, headers={**self._http.headers, **headers}, data=data, params=params)
        try:
            res = self._http.send(request.prepare(), **self._send_options)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise network_error(exc) from exc
        if res.status_code == 429 or res.status_code >= 500:
            raise SendError(f"Africa's Talking HTTP {res.status_code}: {res.text[:200]}", retryable=True,
                            retry_after=retry_after_of(res.headers.get("Retry-After")))
        if res.status_code >= 400:
            raise SendError(f"Africa's Talking HTTP {res.status_code}: {res.text[:200]}", retryable=False)
        try:
            return res.json()
        except ValueError as exc:
            raise SendError(f"Africa's Talking answered non-JSON: {res.text[:200]}", retryable=True) from exc


class AfricasTalkingAdapter:
    """Sends SMS (USSD replies are the HTTP answer itself, never sent)."""

    provider = PROVIDER

    def __init__(self, settings: Settings, http: requests.Session | None = None):
        self.settings = settings
        self.sender_id = settings.at_sender_id or None
        self.service = _SmsService(
            settings.at_username, settings.at_api_key.get_secret_value(), settings.at_api_base,
            http or requests.Session(), timeout=10.0,
        )

    def send(self, out: Outgoing) -> SendResult:
        if out.channel != "sms":
            raise SendError(f"Africa's Talking sends SMS only, not {out.channel}", retryable=False)
        try:
            answer = self.service.send(out.text, [out.to], sender_id=self.sender_id)
        except ValueError as exc:  # the SDK's phone check
            raise SendError(str(exc), retryable=False) from exc
        return _result(answer)

    def close(self) -> None:
        self.service._http.close()


def _result(answer: Any) -> SendResult:
    try:
        recipient = answer["SMSMessageData"]["Recipients"][0]
        code = int(recipient["statusCode"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        message = answer.get("SMSMessageData", {}).get("Message") if isinstance(answer, dict) else answer
        raise SendError(f"Africa's Talking accepted no recipient: {str(message)[:200]}", retryable=False) from exc
    status = recipient.get("status", "")
    if code in ACCEPTED_CODES:
        return SendResult(provider_message_id=recipient.get("messageId"), status=MessageStatus.SENT.value)
    if code == BLACKLISTED_CODE:
        raise SendError(f"Africa's Talking {code} {status}", retryable=False, opted_out=True)
    raise SendError(f"Africa's Talking {code} {status}", retryable=code in RETRYABLE_CODES)
