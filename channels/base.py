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
