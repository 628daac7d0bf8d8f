"""Inbound pipeline: store before ack (idempotently), hand to the engine, store and queue replies."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from channels import console
from channels.outbound import enqueue_sends, store_outbound
from conversation.service import process_pending
from core import clock
from core.messages import Inbound, Reply
from core.models import Contact, Direction, Message, MessageStatus
from core.observability import count_inbound
from core.phone import country_of
from core.runtime import Runtime


@dataclass
class Stored:
    message_id: int
    contact_id: int
    duplicate: bool


def upsert_contact(session: Session, phone: str, channel: str) -> Contact:
    contact = session.scalar(select(Contact).where(Contact.phone == phone))
    if contact is None:
        try:
            with session.begin_nested():
                contact = Contact(phone=phone, country=country_of(phone), channels_seen=[])
                session.add(contact)
        except IntegrityError:
            contact = session.scalar(select(Contact).where(Contact.phone == phone))
    if channel not in (contact.channels_seen or []):
        contact.channels_seen = [*(contact.channels_seen or []), channel]
    if channel in ("sms", "ussd", "whatsapp"):
        setattr(contact, f"last_inbound_{channel}_at", clock.now())
    return contact


def store_inbound(session: Session, inbound: Inbound) -> Stored:
    """Insert the inbound row; a repeated provider id returns the existing row, changing nothing."""
    if inbound.provider_message_id:
        existing = session.scalar(
            select(Message).where(
                Message.provider == inbound.provider, Message.provider_message_id == inbound.provider_message_id
            )
        )
        if existing is not None:
            count_inbound(inbound.channel, inbound.provider, "duplicate")
            return Stored(existing.id, existing.contact_id or 0, True)
    contact = upsert_contact(session, inbound.sender, inbound.channel)
    row = Message(
        direction=Direction.IN.value, channel=inbound.channel, provider=inbound.provider,
        provider_message_id=inbound.provider_message_id, contact_id=contact.id,
        student_id=contact.active_student_id, phone=inbound.sender, service_number=inbound.recipient,
        text=inbound.text, status=MessageStatus.RECEIVED.value, ussd_session_id=inbound.ussd_session_id,
        payload=inbound.raw or None, created_at=inbound.received_at,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = session.scalar(
            select(Message).where(
                Message.provider == inbound.provider, Message.provider_message_id == inbound.provider_message_id
            )
        )
        count_inbound(inbound.channel, inbound.provider, "duplicate")
        return Stored(existing.id, existing.contact_id or 0, True)
    count_inbound(inbound.channel, inbound.provider, "stored")
    return Stored(row.id, contact.id, False)


def replies_to(session: Session, message_id: int) -> list[Message]:
    return list(
        session.scalars(select(Message).where(Message.reply_to_id == message_id).order_by(Message.id))
    )


def console_deliver(session: Session, inbound: Message, reply: Reply) -> list[int]:
    """Render a reply for the inbound message's channel and store it as console outbound rows."""
    rendered = console.render(reply, inbound.channel)
    rows = store_outbound(
        session, rendered, channel=inbound.channel, provider=console.PROVIDER, phone=inbound.phone,
        contact_id=inbound.contact_id, student_id=inbound.student_id, reply_to_id=inbound.id,
        ussd_session_id=inbound.ussd_session_id,
    )
    return [r.id for r in rows]


def handle_console(runtime: Runtime, inbound: Inbound) -> list[str]:
    """The console channel end to end, in the caller's process: returns the rendered replies."""
    with runtime.session() as session:
        stored = store_inbound(session, inbound)
    if not stored.duplicate:
        ids = process_pending(runtime, stored.contact_id, console_deliver)
        enqueue_sends(runtime, ids)
    with runtime.session() as session:
        return [m.text for m in replies_to(session, stored.message_id)]
