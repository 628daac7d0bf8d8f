"""Meta WhatsApp Cloud API: verify handshake, inbound text/button/list replies, statuses, sending.

One POST may carry several messages and statuses across entries; each message becomes
its own Inbound (deduplicated on its `wamid`). Outbound goes to
`{WHATSAPP_API_BASE}/{phone_number_id}/messages` on a process-wide httpx client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from channels.base import (
    InvalidPayload,
    Outgoing,
    SendError,
    SendResult,
    StatusUpdate,
    network_error,
    phone_of,
    retry_after_of,
)
from core import clock
from core.messages import Inbound
from core.models import MessageStatus
from core.settings import Settings

PROVIDER = "meta"
STATUS = {
    "sent": MessageStatus.SENT.value, "delivered": MessageStatus.DELIVERED.value,
    "read": MessageStatus.READ.value, "failed": MessageStatus.FAILED.value, "deleted": None, "warning": None,
}
# Graph API error codes worth another try (rate limits, temporary failures).
RETRYABLE_CODES = {1, 2, 4, 17, 341, 80007, 130429, 131000, 131016, 131048, 131056}
OUTSIDE_WINDOW_CODE = 131047


@dataclass
class Batch:
    messages: list[Inbound] = field(default_factory=list)
    statuses: list[tuple[StatusUpdate, dict[str, Any]]] = field(default_factory=list)
    skipped: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (wamid, why) kept as events


class NoPhone(Exception):
    """A message identified only by a business-scoped user id (BSUID, WhatsApp usernames):
    our contacts are phone numbers, so it is recorded and skipped, not refused (a 4xx
    would make Meta retry the whole batch for days)."""


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPayload(path, "expected an object")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidPayload(path, "expected a list")
    return value


def _str(obj: dict[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayload(f"{path}.{key}", "missing")
    return value


def parse_events(body: Any, *, phone_number_id: str = "", default_country: str = "KE") -> Batch:
    """Every message and status in a webhook body. `phone_number_id`, when set, must match."""
    root = _obj(body, "body")
    if root.get("object") != "whatsapp_business_account":
        raise InvalidPayload("object", f"expected 'whatsapp_business_account', got {str(root.get('object'))[:40]!r}")
    batch = Batch()
    for i, entry in enumerate(_list(root.get("entry"), "entry")):
        for j, change in enumerate(_list(_obj(entry, f"entry[{i}]").get("changes"), f"entry[{i}].changes")):
            path = f"entry[{i}].changes[{j}]"
            change = _obj(change, path)
            if change.get("field") != "messages":
                continue
            _parse_value(_obj(change.get("value"), f"{path}.value"), f"{path}.value", batch,
                         phone_number_id, default_country)
    return batch


def _parse_value(value: dict[str, Any], path: str, batch: Batch, phone_number_id: str, country: str) -> None:
    metadata = _obj(value.get("metadata"), f"{path}.metadata")
    ours = _str(metadata, "phone_number_id", f"{path}.metadata")
    if phone_number_id and ours != phone_number_id:
        raise InvalidPayload(f"{path}.metadata.phone_number_id", f"unknown number id {ours[:30]!r}")
    contacts = [c for c in _list(value.get("contacts"), f"{path}.contacts") if isinstance(c, dict)]
    names = {c["wa_id"]: _name(c) for c in contacts if isinstance(c.get("wa_id"), str)}
    for k, message in enumerate(_list(value.get("messages"), f"{path}.messages")):
        message = _obj(message, f"{path}.messages[{k}]")
        try:
            batch.messages.append(_message(message, f"{path}.messages[{k}]", metadata, names, country, contacts))
        except NoPhone as exc:
            batch.skipped.append((_str(message, "id", f"{path}.messages[{k}]"), {"reason": str(exc), "message": message}))
    for k, status in enumerate(_list(value.get("statuses"), f"{path}.statuses")):
        status = _obj(status, f"{path}.statuses[{k}]")
        batch.statuses.append((_status(status, f"{path}.statuses[{k}]"), status))


def _sender(message: dict[str, Any], path: str, contacts: list[dict[str, Any]]) -> str:
    """The sender's number: `from`, else the one contact's `wa_id`; a BSUID alone is NoPhone."""
    if isinstance(message.get("from"), str) and message["from"].strip():
        return message["from"]
    user_id = message.get("from_user_id")
    if user_id:
        matches = [c["wa_id"] for c in contacts
                   if c.get("user_id") == user_id and isinstance(c.get("wa_id"), str) and c["wa_id"]]
        if matches:
            return matches[0]
        raise NoPhone("sender known only by a business-scoped user id")
    wa_ids = [c["wa_id"] for c in contacts if isinstance(c.get("wa_id"), str) and c["wa_id"]]
    if len(wa_ids) == 1:
        return wa_ids[0]
    raise InvalidPayload(f"{path}.from", "missing")


def _message(message: dict[str, Any], path: str, metadata: dict, names: dict, country: str,
             contacts: list[dict[str, Any]]) -> Inbound:
    wamid = _str(message, "id", path)
    sender_raw = _sender(message, path, contacts)
    sender = phone_of(sender_raw, f"{path}.from", country)
    kind = message.get("type", "text")
    if not isinstance(kind, str):
        raise InvalidPayload(f"{path}.type", "expected text")
    text, button_id = "", None
    if kind == "text":
        text = _text(_obj(message.get("text"), f"{path}.text").get("body"), f"{path}.text.body")
    elif kind == "interactive":
        interactive = _obj(message.get("interactive"), f"{path}.interactive")
        reply_kind = interactive.get("type")
        if reply_kind not in ("button_reply", "list_reply"):
            raise InvalidPayload(f"{path}.interactive.type", f"unsupported {str(reply_kind)[:30]!r}")
        chosen = _obj(interactive.get(reply_kind), f"{path}.interactive.{reply_kind}")
        button_id = _str(chosen, "id", f"{path}.interactive.{reply_kind}")
        text = _text(chosen.get("title"), f"{path}.interactive.{reply_kind}.title")
    elif kind == "button":  # a quick-reply button on a template
        button = _obj(message.get("button"), f"{path}.button")
        text = _text(button.get("text"), f"{path}.button.text")
        button_id = _text(button.get("payload"), f"{path}.button.payload") or None
    else:  # media, location...: kept raw; the caption, if any, is the text
        media = message.get(kind) if isinstance(message.get(kind), dict) else {}
        text = _text(media.get("caption"), f"{path}.{kind[:20]}.caption")
    raw = {"message": message, "phone_number_id": metadata.get("phone_number_id"),
           "display_phone_number": metadata.get("display_phone_number")}
    return Inbound(
        channel="whatsapp", provider=PROVIDER, provider_message_id=wamid, sender=sender,
        recipient=_text(metadata.get("display_phone_number"), "metadata.display_phone_number")
        or metadata.get("phone_number_id"), text=text,
        received_at=_timestamp(message.get("timestamp"), f"{path}.timestamp"), raw=raw,
        profile_name=names.get(sender_raw), button_id=button_id,
    )


def _text(value: Any, path: str) -> str:
    """Text Meta sends as a string (or leaves out); anything else is a bad payload, not a crash."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidPayload(path, "expected text")
    return value


def _name(contact: dict[str, Any]) -> str | None:
    profile = contact.get("profile")
    name = profile.get("name") if isinstance(profile, dict) else None
    return name if isinstance(name, str) else None


def _timestamp(value: Any, path: str) -> datetime:
    if value is None:
        return clock.now()
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise InvalidPayload(path, f"not a Unix timestamp: {str(value)[:20]!r}") from exc


def _status(status: dict[str, Any], path: str) -> StatusUpdate:
    wamid = _str(status, "id", path)
    state = _str(status, "status", path)
    if state not in STATUS:
        raise InvalidPayload(f"{path}.status", f"unknown status {state[:30]!r}")
    errors = [e for e in _list(status.get("errors"), f"{path}.errors") if isinstance(e, dict)]
    error = "; ".join(f"Meta error {e.get('code')}: {e.get('title') or e.get('message') or ''}".strip()
                      for e in errors) or None
    recipient = status.get("recipient_id")
    return StatusUpdate(provider_message_id=wamid, status=STATUS[state], error=error,
                        phone=("+" + recipient) if isinstance(recipient, str) and recipient.isdigit() else None)


class MetaAdapter:
    provider = PROVIDER

    def __init__(self, settings: Settings, http: httpx.Client | None = None):
        self.settings = settings
        self.url = f"{settings.whatsapp_api_base}/{settings.whatsapp_phone_number_id}/messages"
        self.http = http or httpx.Client(timeout=10.0)

    def body(self, out: Outgoing) -> dict[str, Any]:
        base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": out.to.lstrip("+")}
        if out.template:
            params = [{"type": "text", "text": out.text[:1024]}]
            template = {"name": out.template, "language": {"code": self.settings.whatsapp_template_lang},
                        "components": [{"type": "body", "parameters": params}]}
            return base | {"type": "template", "template": template}
        if out.interactive:
            return base | {"type": "interactive", "interactive": out.interactive}
        return base | {"type": "text", "text": {"preview_url": False, "body": out.text}}

    def send(self, out: Outgoing) -> SendResult:
        if out.channel != "whatsapp":
            raise SendError(f"Meta sends WhatsApp only, not {out.channel}", retryable=False)
        if not self.settings.whatsapp_phone_number_id:
            raise SendError("WHATSAPP_PHONE_NUMBER_ID is not set", retryable=False)
        token = self.settings.whatsapp_access_token.get_secret_value()
        try:
            res = self.http.post(self.url, json=self.body(out), headers={"Authorization": f"Bearer {token}"})
        except httpx.TransportError as exc:
            raise network_error(exc) from exc
        if res.status_code < 300:
            try:
                wamid = res.json()["messages"][0]["id"]
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise SendError(f"Meta answered without a message id: {res.text[:200]}", retryable=False) from exc
            return SendResult(provider_message_id=wamid, status=MessageStatus.SENT.value)
        raise _error(res)

    def close(self) -> None:
        self.http.close()


def _error(res: httpx.Response) -> SendError:
    try:
        err = res.json().get("error") or {}
    except ValueError:
        err = {}
    code = err.get("code")
    text = f"Meta HTTP {res.status_code} error {code}: {err.get('message') or res.text[:200]}"[:500]
    retryable = res.status_code == 429 or res.status_code >= 500 or code in RETRYABLE_CODES
    return SendError(text, retryable=retryable, retry_after=retry_after_of(res.headers.get("Retry-After")))
