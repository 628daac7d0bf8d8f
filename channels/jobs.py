"""Send jobs: each outbound row is sent at most once (minimal foundation version: console)."""

from __future__ import annotations

from sqlalchemy import update

from channels import console
from core import clock
from core.models import Message, MessageStatus
from core.runtime import get_runtime


def send_message(message_id: int) -> None:
    runtime = get_runtime()
    with runtime.session() as session:
        # Claim the row: only a queued/retrying row moves to sending, so a second job does nothing.
        claimed = session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status.in_([MessageStatus.QUEUED.value, MessageStatus.RETRYING.value]))
            .values(status=MessageStatus.SENDING.value, attempts=Message.attempts + 1)
        ).rowcount
        if not claimed:
            return
        msg = session.get(Message, message_id)
        result = console.send(msg.text, msg.phone)
        msg.provider_message_id = result.provider_message_id
        msg.status = result.status
        msg.sent_at = clock.now()
        if result.status == MessageStatus.DELIVERED.value:
            msg.delivered_at = clock.now()
