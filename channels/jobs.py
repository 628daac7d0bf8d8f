"""The send job: each stored outbound row goes to its provider at most once.

Rows are claimed atomically (queued/retrying -> sending) before the provider is called,
so a second job for the same row does nothing. The provider call runs outside any
transaction. Timeouts, 5xx and 429 are retried with exponential back-off (at least
`Retry-After`) by re-queueing with `at=`, until `send_max_attempts`; permanent errors
fail at once with the provider's reason. Parts of one reply go out in order.

A reply's parts are sent together (`send_messages`, from the job that stored them): each
part is one autocommitted statement that claims it and returns what the send needs (the
row, the contact's opt-out and WhatsApp window), then its provider call; one statement at
the end writes every accepted part with its own provider id and status, and returns
whether a receipt beat it. Statements are Core, built once: no ORM identity map on the
common path.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Connection,
    String,
    all_,
    any_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from channels.base import Outgoing, SendError, SendResult
from channels.receipts import early_marker, mark_opted_out, replay_early_receipts
from channels.registry import adapter_for
from channels.sms import segment_info
from core import clock
from core.driver import DriverStatement
from core.models import Contact, Message, MessageStatus
from core.observability import count_job_failure, count_job_retry, count_outbound, count_segments
from core.ratelimit import TokenBucket
from core.runtime import Runtime, get_runtime
from core.settings import Settings

log = logging.getLogger("somo.channels.send")

WHATSAPP_WINDOW = timedelta(hours=24)
MAX_BACKOFF_S = 900.0
SIBLING_WAIT_S = 1.0
CLAIMABLE = (MessageStatus.QUEUED.value, MessageStatus.RETRYING.value)
PENDING = (*CLAIMABLE, MessageStatus.SENDING.value)


@dataclass
class Plan:
    provider: str
    out: Outgoing
    changes: dict[str, Any] = field(default_factory=dict)  # columns the plan rewrote (template, SMS fallback)


class Refused(Exception):
    """The row must not be sent (opted out, no way through the WhatsApp window)."""


def send_message(message_id: int, paced: bool = False) -> None:
    """The rq job: send one stored outbound row. `paced`: this job already holds a send slot
    (it was queued for the moment its reserved token is due), so it does not ask the bucket again."""
    send_messages(get_runtime(), [message_id], paced=paced)


def send_messages(runtime: Runtime, message_ids: list[int], paced: bool = False) -> None:
    """Send stored outbound rows in id order (a reply's parts, from the job that stored them).

    Each row is claimed just before its provider call (a crash leaves at most the row in
    flight in `sending`; the others stay queued for the sweep), and every accepted send is
    written at the end in one statement. A part whose earlier part is still pending (not
    handed to the provider by this call) is not claimed: it comes again in SIBLING_WAIT_S.
    """
    accepted: list[tuple[Any, Plan, SendResult]] = []
    # One connection for the whole call (each checkout costs the pool's ping), in autocommit:
    # no transaction stays open across the provider calls.
    with _autocommit(runtime) as conn:
        try:
            for mid in sorted(set(message_ids)):
                done = _send_one(runtime, conn, mid, [row.id for row, _plan, _result in accepted], paced)
                if done is not None:
                    accepted.append(done)
        finally:  # what the provider accepted is written even if a later row's statement failed
            if accepted:
                _write_accepted(runtime, conn, accepted)


def _send_one(runtime: Runtime, conn: Connection, message_id: int, sent: list[int],
              paced: bool) -> tuple[Any, Plan, SendResult] | None:
    """Claim, plan, pace and send one row; `sent`: earlier rows of this call the provider took."""
    args = {"mid": message_id, "sent": sent, "now": clock.now()}
    row = (_CLAIM_PG.execute(conn, args) if conn.dialect.name == "postgresql" else conn.execute(_CLAIM, args)).first()
    if row is None:
        _look_at_missed(runtime, conn, message_id, sent)
        return None
    try:
        plan = plan_send(runtime.settings, row)
    except Refused as exc:
        conn.execute(_REFUSE, {"rid": row.id, "reason": str(exc)})
        count_outbound(row.channel, row.provider, "refused")
        log.info("send refused", extra={"message_id": row.id, "reason": str(exc)})
        return None
    wait = 0.0 if paced else throttle_wait(runtime, row)
    if wait > 0:  # the provider's rate for this sender is used up: come back when our slot is due
        conn.execute(_RELEASE, {"rid": row.id})
        _requeue(runtime, row.id, wait, paced=True)
        return None
    if plan.changes:  # a template or the SMS fallback: stored before the provider sees it
        conn.execute(update(_M).where(_M.c.id == row.id).values(**plan.changes))
    try:
        result = adapter_for(plan.provider, runtime).send(plan.out)
    except SendError as exc:
        _record_failure(runtime, row.id, exc)
        return None
    except Exception as exc:  # noqa: BLE001 - an adapter bug must not leave the row stuck in `sending`
        log.exception("send crashed", extra={"message_id": row.id})
        _record_failure(runtime, row.id, SendError(f"{type(exc).__name__}: {exc}"[:300], retryable=True))
        return None
    return row, plan, result


def _look_at_missed(runtime: Runtime, conn: Connection, message_id: int, sent: list[int]) -> None:
    """A row the claim passed over: already sent or being sent, or still in back-off (its
    retry job comes): nothing to do. Waiting for an earlier part: come back in SIBLING_WAIT_S."""
    found = conn.execute(_MISSED, {"mid": message_id, "sent": sent}).first()
    if found is not None and found.status in CLAIMABLE and found.earlier_pending:
        _requeue(runtime, message_id, SIBLING_WAIT_S, paced=False)


def _requeue(runtime: Runtime, message_id: int, seconds: float, paced: bool) -> None:
    at = clock.now() + timedelta(seconds=seconds)
    if paced:
        runtime.queue.enqueue("channels.jobs.send_message", message_id, True, at=at, queue="broadcast",
                              job_id=f"send-{message_id}-paced-{int(clock.now().timestamp() * 1000)}")
    else:
        runtime.queue.enqueue("channels.jobs.send_message", message_id, at=at,
                              job_id=f"send-{message_id}-after-{clock.now().timestamp():.0f}")


def throttle_wait(runtime: Runtime, row) -> float:
    """Seconds until this row's send slot for its provider and sender is due (0: send now).

    A token bucket shared through Redis by every worker (`send_rate_per_second`); the slot is
    reserved, so a backlog of N sends is spread over N / rate seconds. The console is not paced."""
    rate = runtime.settings.send_rate_per_second
    if row.provider == "console" or rate <= 0:
        return 0.0
    key = f"send:{row.provider}:{row.service_number or 'default'}"
    bucket = runtime.extra(f"channels.bucket.{key}", lambda rt: TokenBucket(rt.redis, key, rate))
    return bucket.reserve()


def plan_send(settings: Settings, row) -> Plan:
    """Which provider, and in what form: free text, interactive, template, or SMS fallback.
    `row` is a claimed row with its contact's `opted_out` and `last_inbound_whatsapp_at`."""
    payload = row.payload or {}
    if row.opted_out and not payload.get("bypass_optout"):
        raise Refused("opted out")
    out = Outgoing(channel=row.channel, to=row.phone, text=row.text, interactive=payload.get("interactive"),
                   sender=row.service_number)
    if row.provider == "twilio":
        out.status_callback = f"{settings.public_base_url}/webhooks/twilio/status"
    if row.channel != "whatsapp" or row.provider == "console":
        return Plan(row.provider, out)
    last = row.last_inbound_whatsapp_at
    if last is not None and clock.now() - last < WHATSAPP_WINDOW:
        return Plan(row.provider, out)
    template = {"twilio": settings.twilio_whatsapp_template_sid, "meta": settings.whatsapp_template_name}.get(row.provider)
    if template:
        out.template, out.interactive = template, None
        return Plan(row.provider, out, {"template": template})
    fallback = sms_fallback_provider(settings)
    if fallback is None:
        raise Refused("outside the WhatsApp 24-hour window, and no template or SMS provider is configured")
    segments, encoding = segment_info(row.text)
    return Plan(fallback, Outgoing(channel="sms", to=row.phone, text=row.text),
                {"channel": "sms", "provider": fallback, "service_number": None, "segments": segments,
                 "encoding": encoding})


def sms_fallback_provider(settings: Settings) -> str | None:
    if settings.at_api_key.get_secret_value():
        return "africastalking"
    if settings.twilio_auth_token.get_secret_value() and settings.twilio_sms_from:
        return "twilio"
    return None


def _write_accepted(runtime: Runtime, conn: Connection, accepted: list[tuple[Any, Plan, SendResult]]) -> None:
    """Every accepted send in one statement. A provider id already recorded on another row
    (the unique key refuses it) is written as an error instead, row by row, so no row stays
    in `sending`; that rare case costs more statements, not a look-up on every send."""
    try:
        _write_success(runtime, conn, [(row, result, result.provider_message_id) for row, _plan, result in accepted])
    except IntegrityError:
        for row, _plan, result in accepted:
            try:
                _write_success(runtime, conn, [(row, result, result.provider_message_id)])
            except IntegrityError:
                _write_success(runtime, conn, [(row, result, None)])
    for _row, plan, result in accepted:
        observe_sent(result.status, plan.out.channel, plan.provider, plan.out.text)  # after the commit


def _write_success(runtime: Runtime, conn: Connection, rows: list[tuple[Any, SendResult, str | None]]) -> None:
    now = clock.now()
    params: dict[str, Any] = {"now": now}
    for i, (row, result, provider_id) in enumerate(rows):
        error = None
        if result.provider_message_id and provider_id is None:
            error = f"the provider answered with a message id already recorded: {result.provider_message_id}"
        params |= {f"id_{i}": row.id, f"status_{i}": result.status, f"pid_{i}": provider_id, f"error_{i}": error,
                   f"delivered_{i}": now if result.status == MessageStatus.DELIVERED.value else None}
    marked = [r.id for r in _success_statement(len(rows)).execute(conn, params).all() if r.early]
    if marked:  # receipts that beat the send's answer (rare): applied through the ORM
        with runtime.session() as session:
            for message in session.scalars(select(Message).where(Message.id.in_(marked))):
                replay_early_receipts(session, message, marked=True)


@contextmanager
def _autocommit(runtime: Runtime) -> Iterator[Connection]:
    """A connection whose statements each commit by themselves: one round trip, no BEGIN or
    COMMIT (every statement of the common path is complete on its own)."""
    with runtime.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


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


# Statements, built once (constructing them per send cost more CPU than running them).
_M = Message.__table__
_EARLIER = _M.alias("earlier")
_C = Contact.__table__


def _earlier_part_pending(array: bool = False):
    """Whether an earlier part of the same reply (same channel) is still pending, as a column;
    parts this call already handed to the provider (`sent`, written at its end) do not count.
    `array`: `sent` is one array parameter (PostgreSQL: one statement text for any number,
    sent by the driver), else an expanding IN."""
    not_sent = (_EARLIER.c.id != all_(bindparam("sent", type_=ARRAY(BigInteger))) if array
                else _EARLIER.c.id.not_in(bindparam("sent", expanding=True)))
    return select(_EARLIER.c.id).where(
        _EARLIER.c.reply_to_id == _M.c.reply_to_id, _EARLIER.c.channel == _M.c.channel, _EARLIER.c.id < _M.c.id,
        _one_of(_EARLIER.c.status, PENDING, array), not_sent,
    ).exists()


def _one_of(column, values, array: bool):
    """`column IN (values)`; `array`: as `= ANY(array)`, one parameter (an IN list is expanded
    when executed, which sends a statement through SQLAlchemy rather than the driver)."""
    if array:
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    return column.in_(values)


def _contact_column(column):
    return select(column).where(_C.c.id == _M.c.contact_id).scalar_subquery()


def _claim(array: bool):
    """One statement: the claim, and what the send needs (the row, the contact's opt-out and window)."""
    return (
        update(_M)
        .where(
            _M.c.id == bindparam("mid"),
            _one_of(_M.c.status, CLAIMABLE, array),
            or_(_M.c.next_attempt_at.is_(None), _M.c.next_attempt_at <= bindparam("now")),
            ~_earlier_part_pending(array),
        )
        # updated_at is the claim's time: channels.reconcile reads a row left `sending` by it.
        .values(status=MessageStatus.SENDING.value, attempts=_M.c.attempts + 1, updated_at=bindparam("now"))
        .returning(
            _M.c.id, _M.c.channel, _M.c.provider, _M.c.phone, _M.c.service_number, _M.c.text, _M.c.payload,
            _contact_column(_C.c.opted_out).label("opted_out"),
            _contact_column(_C.c.last_inbound_whatsapp_at).label("last_inbound_whatsapp_at"),
        )
    )


# PostgreSQL: sent by the driver (core.driver), as every statement of a send's common path.
_CLAIM_PG, _CLAIM = DriverStatement(_claim(array=True)), _claim(array=False)
_MISSED = select(_M.c.status, _earlier_part_pending().label("earlier_pending")).where(_M.c.id == bindparam("mid"))
# Throttled after the claim: the status it had (a row with an error was retrying), the attempt not counted.
_RELEASE = (
    update(_M)
    .where(_M.c.id == bindparam("rid"), _M.c.status == MessageStatus.SENDING.value)
    .values(status=case((_M.c.error.is_(None), MessageStatus.QUEUED.value), else_=MessageStatus.RETRYING.value),
            attempts=_M.c.attempts - 1)
)
_REFUSE = (
    update(_M).where(_M.c.id == bindparam("rid"))
    .values(status=MessageStatus.FAILED.value, error=bindparam("reason"))
)


@functools.cache
def _success_statement(n: int) -> DriverStatement:
    """The success write for `n` rows: each its own status, provider id, error and delivery
    time (parameters `<name>_<i>`), and whether a receipt beat it (`early`)."""

    ids = [bindparam(f"id_{i}", type_=_M.c.id.type) for i in range(n)]

    def per_row(name: str, column):
        params = [bindparam(f"{name}_{i}", type_=column.type) for i in range(n)]
        if n == 1:
            return params[0]
        return case(*[(_M.c.id == ids[i], params[i]) for i in range(n)], else_=column)

    return DriverStatement(
        update(_M)
        .where(_M.c.id == ids[0] if n == 1 else _M.c.id.in_(ids))
        .values(status=per_row("status", _M.c.status), provider_message_id=per_row("pid", _M.c.provider_message_id),
                error=per_row("error", _M.c.error), sent_at=bindparam("now", type_=_M.c.sent_at.type),
                delivered_at=func.coalesce(per_row("delivered", _M.c.delivered_at), _M.c.delivered_at))
        .returning(_M.c.id, early_marker(_M.c.provider, _M.c.provider_message_id).label("early"))
    )
