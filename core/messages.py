"""The shapes that cross package boundaries: one `Inbound` for every provider, one `Reply`
for every channel. Channels parse into `Inbound` and render a `Reply`; the conversation
engine and the modes only ever see these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Inbound:
    channel: str  # sms | ussd | whatsapp | console
    provider: str  # africastalking | twilio | meta | console
    provider_message_id: str | None
    sender: str  # E.164
    recipient: str | None  # our number, short code or WhatsApp number
    text: str
    received_at: datetime
    ussd_session_id: str | None = None
    network_code: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    profile_name: str | None = None  # WhatsApp display name, when the provider sends it
    button_id: str | None = None  # interactive reply id (WhatsApp buttons and lists)


@dataclass(frozen=True)
class Option:
    """A numbered choice. `key` is what the student types ('1'); `id` is a stable payload."""

    key: str
    label: str
    id: str = ""


@dataclass
class Reply:
    """What Somo says next, before any channel has rendered it."""

    text: str
    options: list[Option] = field(default_factory=list)
    expects_answer: bool = False  # the student should type an answer, not pick an option
    end_session: bool = False  # USSD: END rather than CON
    footer: str = ""  # short hint line, e.g. "Reply MENU for the menu"
    sms_followup: str | None = None  # USSD only: a longer answer that follows by SMS
    meta: dict[str, Any] = field(default_factory=dict)  # free for the engine (e.g. cost, sources)

    def full_text(self) -> str:
        parts = [self.text.strip()]
        if self.options:
            parts.append("\n".join(f"{o.key}. {o.label}" for o in self.options))
        if self.footer:
            parts.append(self.footer)
        return "\n".join(p for p in parts if p)
