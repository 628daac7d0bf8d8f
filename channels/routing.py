"""Which channel and provider reach a contact when Somo speaks first (broadcasts, digests,
reminders, answers by SMS): the provider they last wrote through on that channel, else the
one configured for it, else the console (demo). USSD cannot be pushed, so it becomes SMS.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Direction, Message
from core.settings import Settings


@dataclass(frozen=True)
class Route:
    channel: str
    provider: str


def configured_provider(settings: Settings, channel: str) -> str | None:
    if channel == "whatsapp":
        if settings.whatsapp_access_token.get_secret_value() and settings.whatsapp_phone_number_id:
            return "meta"
        if settings.twilio_auth_token.get_secret_value() and settings.twilio_whatsapp_from:
            return "twilio"
        return None
    if settings.at_api_key.get_secret_value():
        return "africastalking"
    if settings.twilio_auth_token.get_secret_value() and settings.twilio_sms_from:
        return "twilio"
    return None


def last_provider(session: Session, contact_id: int | None, channel: str) -> str | None:
    if contact_id is None:
        return None
    return session.scalar(
        select(Message.provider)
        .where(Message.contact_id == contact_id, Message.direction == Direction.IN.value, Message.channel == channel,
               Message.provider != "console")
        .order_by(Message.id.desc())
        .limit(1)
    )


def prefill(session: Session, contact_ids: list[int], channels: tuple[str, ...] = ("sms", "whatsapp")
            ) -> dict[tuple[int, str], str | None]:
    """A `last_seen` cache for a fan-out batch: one query per channel instead of one per contact."""
    cache: dict[tuple[int, str], str | None] = {(cid, ch): None for cid in contact_ids for ch in channels}
    if not contact_ids:
        return cache
    for channel in channels:
        newest = (
            select(Message.contact_id, func.max(Message.id).label("id"))
            .where(Message.contact_id.in_(contact_ids), Message.direction == Direction.IN.value,
                   Message.channel == channel, Message.provider != "console")
            .group_by(Message.contact_id).subquery()
        )
        rows = session.execute(select(Message.contact_id, Message.provider).join(newest, Message.id == newest.c.id))
        for cid, provider in rows:
            cache[(cid, channel)] = provider
    return cache


def route_for(session: Session, settings: Settings, *, contact_id: int | None, channel: str,
              last_seen: dict[tuple[int, str], str | None] | None = None) -> Route:
    """`last_seen` is an optional cache for fan-outs (one query per contact and channel)."""
    channel = "sms" if channel in ("ussd", "", None) else channel
    if channel not in ("sms", "whatsapp"):
        channel = "sms"
    key = (contact_id or 0, channel)
    if last_seen is not None and key in last_seen:
        provider = last_seen[key]
    else:
        provider = last_provider(session, contact_id, channel)
        if last_seen is not None:
            last_seen[key] = provider
    provider = provider or configured_provider(settings, channel)
    if provider is None and channel == "whatsapp":
        sms = configured_provider(settings, "sms")  # no WhatsApp provider here, but SMS can reach them
        if sms is not None:
            return Route("sms", sms)
    return Route(channel, provider or "console")
