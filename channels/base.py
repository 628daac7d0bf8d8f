"""The one interface every provider adapter implements, and the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.messages import Reply


@dataclass
class Rendered:
    """A reply as the channel will show it: the messages to send now and what waits for MORE."""

    messages: list[str]
    rest: str | None = None  # shown when the student asks for MORE (SMS/WhatsApp) or 98 (USSD)
    segments: int = 0  # SMS segments in total
    encoding: str | None = None  # gsm7 | ucs2 for SMS
    payloads: list[dict] | None = None  # per message: a structured form (Meta interactive), or None


@dataclass
class SendResult:
    provider_message_id: str | None
    status: str  # sent | delivered | failed
    error: str | None = None


class SendError(Exception):
    """A failed send; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None, opted_out: bool = False):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.opted_out = opted_out


class Renderer(Protocol):
    def render(self, reply: Reply, *, limit: int | None = None) -> Rendered: ...


class InvalidPayload(ValueError):
    """A webhook payload we cannot accept; `field` names what is wrong, for the 400 answer."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass
class Outgoing:
    """One stored outbound row, as an adapter needs it (adapters never see ORM objects)."""

    channel: str  # sms | whatsapp
    to: str  # E.164
    text: str
    interactive: dict | None = None  # Meta interactive object, when the reply has one
    template: str | None = None  # set: send the approved template with `text` as its variable
    sender: str | None = None  # our number the student wrote to (Twilio `To`), when known
    status_callback: str | None = None


@dataclass
class StatusUpdate:
    """A provider's delivery receipt, mapped onto our statuses."""

    provider_message_id: str
    status: str | None  # a MessageStatus value, or None for a state we do not track (queued, accepted)
    error: str | None = None
    opted_out: bool = False
    phone: str | None = None


class Adapter(Protocol):
    provider: str

    def send(self, out: Outgoing) -> SendResult: ...


def require(form: dict, name: str) -> str:
    """A required form field, stripped; missing or blank is an InvalidPayload naming it."""
    value = form.get(name)
    if value is None or not str(value).strip():
        raise InvalidPayload(name, "missing")
    return str(value).strip()


def phone_of(value: str, field: str, default_country: str = "KE") -> str:
    """E.164 for a sender number, or an InvalidPayload naming the field."""
    from core.phone import InvalidPhone, to_e164

    try:
        return to_e164(value, default_country)
    except InvalidPhone as exc:
        raise InvalidPayload(field, str(exc)) from exc


def network_error(exc: Exception) -> SendError:
    """Timeouts and dropped connections may succeed next time."""
    return SendError(f"network error: {type(exc).__name__}: {exc}"[:300], retryable=True)


def retry_after_of(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; an HTTP date is treated as unknown)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
