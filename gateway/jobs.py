"""Jobs the gateway queues: handling a contact's stored inbound messages (SMS and WhatsApp),
and the sweep that re-queues work a crash left between a commit and its enqueue and
reconciles sends a crash left in flight."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import bindparam, select

from channels.jobs import send_messages
from channels.outbound import enqueue_sends
from channels.reconcile import reconcile_sending
from conversation.service import process_pending
from core import clock
from core.models import Direction, Message, MessageStatus, literal_value
from core.runtime import get_runtime
from gateway.pipeline import make_deliver, queue_or_leave

log = logging.getLogger("somo.gateway.jobs")

SWEEP_AFTER = timedelta(minutes=2)
SWEEP_BATCH = 500
SWEEP_EVERY = timedelta(minutes=1)


def process_contact(contact_id: int) -> None:
    """Run the engine over the contact's received messages, then send the replies (after commit)."""
    runtime = get_runtime()
    # No waiting for the contact's lock: its holder was knocked on and handles our row after its
    # own (conversation.service), so a worker never sleeps behind another worker's student.
    ids = process_pending(runtime, contact_id, make_deliver(runtime), wait_s=0.0)
    send_replies(runtime, ids)


def send_replies(runtime, ids: list[int]) -> None:
    """In an rq worker, send the replies from this job, in order, instead of one more rq job
    each: a send job costs ~20 Redis commands of rq bookkeeping, more than the send's own
    work on a fast provider, and the student waits for the queue twice. `send_messages` is
    what the send job runs (claim, throttle, retries re-queued with `at=`), for all the parts
    at once: one claim and one success write. A throttled or failing send still goes back to
    the queue. If it raises, every row is queued (a claimed row is not sent again; the rest
    are). Inline (no Redis), enqueueing runs them at once anyway."""
    if not runtime.queue.is_async:
        enqueue_sends(runtime, ids)
        return
    try:
        send_messages(runtime, ids)
    except Exception:  # noqa: BLE001 - the database went away mid-send: leave the rest to rq
        log.exception("inline send failed; queueing the rows", extra={"message_ids": ids})
        queue_or_leave(lambda: enqueue_sends(runtime, ids))


# The rows the sweep looks for: the partial indexes' conditions as literals (core.models).
SWEEP_INBOUND = select(Message.id, Message.contact_id).where(
    Message.direction == literal_value(Direction.IN.value), Message.status == literal_value(MessageStatus.RECEIVED.value),
    Message.created_at < bindparam("cutoff"), Message.contact_id.is_not(None), Message.channel != "ussd",
).order_by(Message.id).limit(SWEEP_BATCH)
SWEEP_OUTBOUND = select(Message.id).where(
    Message.direction == literal_value(Direction.OUT.value), Message.status == literal_value(MessageStatus.QUEUED.value),
    Message.created_at < bindparam("cutoff"),
).order_by(Message.id).limit(SWEEP_BATCH)


def sweep() -> dict[str, int]:
    """Re-queue inbound rows still `received` and outbound rows still `queued` after SWEEP_AFTER.

    Safe to run any time (e.g. every minute from the scheduler): both kinds were never
    claimed, so queueing them again cannot send anything twice, and the job ids keep
    one job per row. Rows in `sending` are not queued: the provider may have accepted them,
    and a second send would reach the student twice. Those left there longer than
    `SEND_RECONCILE_AFTER_S` (a worker died during the provider call) are reconciled
    (`channels.reconcile`): looked up in Twilio's log, or marked failed where the provider
    cannot be asked. Its counts are added as `reconciled_<outcome>` when not zero.
    """
    runtime = get_runtime()
    cutoff = clock.now() - SWEEP_AFTER
    with runtime.session() as session:
        inbound = session.execute(SWEEP_INBOUND, {"cutoff": cutoff}).all()
        outbound = session.scalars(SWEEP_OUTBOUND, {"cutoff": cutoff}).all()
    # A job id per sweep: the first job of the row may be long gone (or, inline, remembered as
    # seen); running twice is harmless (the contact lock, the send claim).
    slot = f"swept-{cutoff:%Y%m%d%H%M}"
    for message_id, contact_id in inbound:
        runtime.queue.enqueue("gateway.jobs.process_contact", contact_id, job_id=f"process-{message_id}-{slot}")
    for message_id in outbound:
        runtime.queue.enqueue("channels.jobs.send_message", message_id, job_id=f"send-{message_id}-{slot}")
    counts = {"inbound": len(inbound), "outbound": len(outbound)}
    # After the queueing above: a row the reconciliation puts back is queued by it, once.
    counts.update({f"reconciled_{outcome}": n for outcome, n in reconcile_sending(runtime).items() if n})
    return counts


def sweep_and_reschedule() -> dict[str, int]:
    """Sweep now, then again in SWEEP_EVERY on the rq scheduler (one job per minute slot, so
    several workers seeding it at start-up still make one chain). `somo worker` seeds it."""
    runtime = get_runtime()
    try:
        return sweep()
    finally:  # a sweep that failed (the database away) must not end the chain
        if runtime.queue.is_async:
            at = clock.now() + SWEEP_EVERY
            runtime.queue.enqueue("gateway.jobs.sweep_and_reschedule", queue="low", at=at,
                                  job_id=f"sweep-{at:%Y%m%d%H%M}")
