"""The send job: each stored outbound row goes to its provider at most once.

The row is claimed atomically (queued/retrying -> sending) before the provider is
called, so a second job for the same row does nothing. The provider call runs outside
any transaction. Timeouts, 5xx and 429 are retried with exponential back-off (at least
`Retry-After`) by re-queueing with `at=`, until `send_max_attempts`; permanent errors
fail at once with the provider's reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from channels.base import Outgoing, SendError, SendResult
from channels.receipts import mark_opted_out, replay_early_receipts
from channels.registry import adapter_for
from channels.sms import segment_info
from core import clock
from core.models import Contact, Message, MessageStatus
from core.observability import count_job_failure, count_job_retry, count_outbound, count_segments
from core.ratelimit import TokenBucket
from core.runtime import Runtime, get_runtime
from core.settings import Settings

log = logging.getLogger("somo.channels.send")

WHATSAPP_WINDOW = timedelta(hours=24)
MAX_BACKOFF_S = 900.0
SIBLING_WAIT_S = 1.0
PENDING = (MessageStatus.QUEUED.value, MessageStatus.RETRYING.value, MessageStatus.SENDING.value)


@dataclass
class Plan:
    provider: str
    out: Outgoing
    row: Message | None = None  # the claimed row as committed (detached), for the success write


class Refused(Exception):
    """The row must not be sent (opted out, no way through the WhatsApp window)."""


def send_message(message_id: int, paced: bool = False) -> None:
    """Send one stored outbound row. `paced`: this job already holds a send slot (it was
    queued for the moment its reserved token is due), so it does not ask the bucket again."""
    runtime = get_runtime()
    plan = _claim_and_plan(runtime, message_id, paced)
    if plan is None:
        return
    try:
        result = adapter_for(plan.provider, runtime).send(plan.out)
    except SendError as exc:
        _record_failure(runtime, message_id, exc)
        return
    except Exception as exc:  # noqa: BLE001 - an adapter bug must not leave the row stuck in `sending`
        log.exception("send crashed", extra={"message_id": message_id})
        _record_failure(runtime, message_id, SendError(f"{type(exc).__name__}: {exc}"[:300], retryable=True))
        return
    _record_success(runtime, plan.row, result)


def _claim_and_plan(runtime: Runtime, message_id: int, paced: bool = False) -> Plan | None:
    """Claim the row (queued/retrying -> sending) and decide how it goes out.

    Two statements in the common case: one SELECT reads the row, its contact and whether an
    earlier part of the same reply is still pending; one UPDATE … RETURNING claims it.
    """
    with runtime.session() as session:
        found = session.execute(_CLAIM_READ, {"message_id": message_id}).first()
        if found is None:
            return None
        row, _contact, earlier_pending = found
        if row.status not in (MessageStatus.QUEUED.value, MessageStatus.RETRYING.value):
            return None
        if earlier_pending:  # parts of one reply go out in order
            runtime.queue.enqueue("channels.jobs.send_message", message_id,
                                  at=clock.now() + timedelta(seconds=SIBLING_WAIT_S),
                                  job_id=f"send-{message_id}-after-{clock.now().timestamp():.0f}")
            return None
        wait = 0.0 if paced else throttle_wait(runtime, row)
        if wait > 0:  # the provider's rate for this sender is used up: come back when our slot is due
            runtime.queue.enqueue("channels.jobs.send_message", message_id, True,
                                  at=clock.now() + timedelta(seconds=wait), queue="broadcast",
                                  job_id=f"send-{message_id}-paced-{int(clock.now().timestamp() * 1000)}")
            return None
        claimed = session.execute(_CLAIM, {"message_id": message_id, "now": clock.now()}).first()
        if claimed is None:
            return None
        # What the UPDATE wrote, without a second SELECT (and without marking the row dirty).
        for name, value in (("status", MessageStatus.SENDING.value), ("attempts", claimed.attempts),
                            ("updated_at", claimed.updated_at)):
            set_committed_value(row, name, value)
        try:
            plan = plan_send(session, runtime.settings, row)
        except Refused as exc:
            row.status, row.error = MessageStatus.FAILED.value, str(exc)
            count_outbound(row.channel, row.provider, "refused")
            log.info("send refused", extra={"message_id": message_id, "reason": str(exc)})
            return None
        plan.row = row
        return plan


def throttle_wait(runtime: Runtime, row: Message) -> float:
    """Seconds until this row's send slot for its provider and sender is due (0: send now).

    A token bucket shared through Redis by every worker (`send_rate_per_second`); the slot is
    reserved, so a backlog of N sends is spread over N / rate seconds. The console is not paced."""
    rate = runtime.settings.send_rate_per_second
    if row.provider == "console" or rate <= 0:
        return 0.0
    key = f"send:{row.provider}:{row.service_number or 'default'}"
    bucket = runtime.extra(f"channels.bucket.{key}", lambda rt: TokenBucket(rt.redis, key, rate))
    return bucket.reserve()


def _earlier_part_pending():
    """Whether an earlier part of the same reply (same channel) is still pending, as a column."""
    earlier = aliased(Message)
    return (
        select(earlier.id).where(
            earlier.reply_to_id == Message.reply_to_id, earlier.channel == Message.channel,
            earlier.id < Message.id, earlier.status.in_(PENDING),
        ).exists().label("earlier_pending")
    )


# Built once (constructing them per send cost more CPU than running them).
_CLAIM_READ = (
    select(Message, Contact, _earlier_part_pending())
    .outerjoin(Contact, Contact.id == Message.contact_id).where(Message.id == bindparam("message_id"))
)
_CLAIM = (
    update(Message)
    .where(
        Message.id == bindparam("message_id"),
        Message.status.in_([MessageStatus.QUEUED.value, MessageStatus.RETRYING.value]),
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= bindparam("now")),
    )
    .values(status=MessageStatus.SENDING.value, attempts=Message.attempts + 1)
    .returning(Message.attempts, Message.updated_at)
    .execution_options(synchronize_session=False)
)


def plan_send(session: Session, settings: Settings, row: Message) -> Plan:
    """Which provider, and in what form: free text, interactive, template, or SMS fallback."""
    contact = session.get(Contact, row.contact_id) if row.contact_id else None
    payload = row.payload or {}
    if contact is not None and contact.opted_out and not payload.get("bypass_optout"):
        raise Refused("opted out")
    out = Outgoing(channel=row.channel, to=row.phone, text=row.text, interactive=payload.get("interactive"),
                   sender=row.service_number)
    if row.provider == "twilio":
        out.status_callback = f"{settings.public_base_url}/webhooks/twilio/status"
    if row.channel != "whatsapp" or row.provider == "console":
        return Plan(row.provider, out)
    last = contact.last_inbound_whatsapp_at if contact is not None else None
    if last is not None and clock.now() - last < WHATSAPP_WINDOW:
        return Plan(row.provider, out)
    template = {"twilio": settings.twilio_whatsapp_template_sid, "meta": settings.whatsapp_template_name}.get(row.provider)
    if template:
        row.template = template
        out.template, out.interactive = template, None
        return Plan(row.provider, out)
    fallback = sms_fallback_provider(settings)
    if fallback is None:
        raise Refused("outside the WhatsApp 24-hour window, and no template or SMS provider is configured")
    row.channel, row.provider, row.service_number = "sms", fallback, None
    row.segments, row.encoding = segment_info(row.text)
    return Plan(fallback, Outgoing(channel="sms", to=row.phone, text=row.text))


def sms_fallback_provider(settings: Settings) -> str | None:
    if settings.at_api_key.get_secret_value():
        return "africastalking"
    if settings.twilio_auth_token.get_secret_value() and settings.twilio_sms_from:
        return "twilio"
    return None


def _record_success(runtime: Runtime, claimed: Message, result: SendResult) -> None:
    """Write the provider's answer: one UPDATE (the claimed row is merged without a SELECT)
    and the look-up of receipts that beat it. A provider id already recorded on another row
    (the unique key refuses it) is written as an error instead, so the row never stays in
    `sending`; that rare case costs a second transaction, not a look-up on every send."""
    try:
        _write_success(runtime, claimed, result, result.provider_message_id)
    except IntegrityError:
        _write_success(runtime, claimed, result, None)


def _write_success(runtime: Runtime, claimed: Message, result: SendResult, provider_id: str | None) -> None:
    with runtime.session() as session:
        row = session.merge(claimed, load=False)
        row.status = result.status
        row.error = None
        if result.provider_message_id and provider_id is None:
            row.error = f"the provider answered with a message id already recorded: {result.provider_message_id}"
        row.provider_message_id = provider_id
        row.sent_at = clock.now()
        if result.status == MessageStatus.DELIVERED.value:
            row.delivered_at = clock.now()
        session.flush()
        replay_early_receipts(session, row)
        status, channel, provider, text = row.status, row.channel, row.provider, row.text
    observe_sent(status, channel, provider, text)  # after the commit: a refused write counts nothing


def observe_sent(status: str, channel: str, provider: str, text: str) -> None:
    """Metrics for a send the provider accepted: the status, and the SMS segments it costs."""
    count_outbound(channel, provider, status)
    if channel == "sms":
        segments, encoding = segment_info(text)
        count_segments(encoding, provider, segments)


def backoff_seconds(settings: Settings, attempts: int, retry_after: float | None) -> float:
    delay = min(MAX_BACKOFF_S, settings.send_backoff_base_s * (2 ** max(0, attempts - 1)))
    return max(delay, retry_after or 0.0)


def _record_failure(runtime: Runtime, message_id: int, exc: SendError) -> None:
    retry_at = None
    with runtime.session() as session:
        row = session.get(Message, message_id)
        row.error = str(exc)[:1000]
        if exc.opted_out:
            mark_opted_out(session, row.phone, reason=str(exc))
        if exc.retryable and row.attempts < runtime.settings.send_max_attempts:
            delay = backoff_seconds(runtime.settings, row.attempts, exc.retry_after)
            retry_at = clock.now() + timedelta(seconds=delay)
            row.status, row.next_attempt_at = MessageStatus.RETRYING.value, retry_at
        else:
            row.status = MessageStatus.FAILED.value
            if exc.retryable:
                row.error = f"gave up after {row.attempts} attempts: {row.error}"
        attempts = row.attempts
        count_outbound(row.channel, row.provider, row.status)
        (count_job_retry if retry_at is not None else count_job_failure)("channels.jobs.send_message")
    log.info("send failed", extra={"message_id": message_id, "retryable": exc.retryable, "error": str(exc)[:200]})
    if retry_at is not None:
        runtime.queue.enqueue("channels.jobs.send_message", message_id, at=retry_at,
                              job_id=f"send-{message_id}-retry-{attempts}")
