"""Jobs the gateway queues: handling a contact's stored inbound messages (SMS and WhatsApp)."""

from __future__ import annotations

from channels.outbound import enqueue_sends
from conversation.service import process_pending
from core.runtime import get_runtime
from gateway.pipeline import make_deliver


def process_contact(contact_id: int) -> None:
    """Run the engine over the contact's received messages, then queue the sends (after commit)."""
    runtime = get_runtime()
    ids = process_pending(runtime, contact_id, make_deliver(runtime))
    enqueue_sends(runtime, ids)
