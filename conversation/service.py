"""Handling a contact's stored inbound messages, oldest first, one at a time.

The gateway stores each inbound row and commits, then calls `process_pending` (inline for
USSD and the console, from an rq job for SMS and WhatsApp). The caller passes `deliver`,
which renders a Reply for the channel and stores the outbound rows (this package never
knows about providers); the returned ids are sent after commit.

(Minimal foundation version; the conversation issue adds the per-contact lock with a
fencing token, rate limits, and the real engine behind `engine.handle`.)
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from conversation import engine
from core.messages import Inbound, Reply
from core.models import Direction, Message, MessageStatus
from core.runtime import Runtime

Deliver = Callable[[Session, Message, Reply], list[int]]


def inbound_from_row(row: Message) -> Inbound:
    payload = row.payload or {}
    return Inbound(
        channel=row.channel, provider=row.provider, provider_message_id=row.provider_message_id, sender=row.phone,
        recipient=row.service_number, text=row.text, received_at=row.created_at,
        ussd_session_id=row.ussd_session_id, network_code=payload.get("networkCode"), raw=payload,
        button_id=payload.get("_button_id"),
    )


def process_pending(runtime: Runtime, contact_id: int, deliver: Deliver) -> list[int]:
    """Handle every received inbound message of the contact in arrival order; return outbound ids."""
    out: list[int] = []
    while True:
        with runtime.session() as session:
            row = session.scalar(
                select(Message)
                .where(
                    Message.contact_id == contact_id,
                    Message.direction == Direction.IN.value,
                    Message.status == MessageStatus.RECEIVED.value,
                )
                .order_by(Message.id)
                .limit(1)
            )
            if row is None:
                return out
            reply = engine.handle(runtime, session, inbound_from_row(row), contact_id=contact_id)
            out.extend(deliver(session, row, reply))
            row.status = MessageStatus.HANDLED.value


def remember_rest(session: Session, contact_id: int, channel: str, rest: str | None) -> None:
    """Keep what did not fit in the last reply, for MORE (SMS/WhatsApp) or 98 (USSD).

    Called by the gateway's deliver step after rendering. (Foundation: a no-op; the
    conversation issue stores it in the contact's state.)
    """
    return None
