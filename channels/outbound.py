"""Storing outbound messages before they are sent, and queueing their sends after commit."""

from __future__ import annotations

from sqlalchemy.orm import Session

from channels.base import Rendered
from core.models import Direction, Message, MessageStatus
from core.runtime import Runtime


def store_outbound(
    session: Session,
    rendered: Rendered,
    *,
    channel: str,
    provider: str,
    phone: str,
    service_number: str | None = None,
    contact_id: int | None = None,
    student_id: int | None = None,
    reply_to_id: int | None = None,
    broadcast_id: int | None = None,
    status: str = MessageStatus.QUEUED.value,
    ussd_session_id: str | None = None,
) -> list[Message]:
    """One Message row per rendered message, flushed (the caller's transaction commits)."""
    rows = []
    for text in rendered.messages:
        row = Message(
            direction=Direction.OUT.value, channel=channel, provider=provider, phone=phone,
            service_number=service_number, contact_id=contact_id, student_id=student_id, text=text,
            segments=rendered.segments if len(rendered.messages) == 1 else 0, encoding=rendered.encoding,
            status=status, reply_to_id=reply_to_id, broadcast_id=broadcast_id, ussd_session_id=ussd_session_id,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def enqueue_sends(runtime: Runtime, message_ids: list[int]) -> None:
    """Push one send job per stored outbound row. Call only after the commit that made them."""
    for mid in message_ids:
        runtime.queue.enqueue("channels.jobs.send_message", mid, job_id=f"send-{mid}")
