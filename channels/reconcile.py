"""Reconciling outbound rows a dead worker left `sending`.

The send job claims a row (`sending`, attempts+1, `updated_at` = the claim's time) before it
calls the provider. A worker that dies during the call leaves the row there: the provider may
or may not have the message, and a second send could reach the student twice. The periodic
sweep (`gateway.jobs.sweep`) runs `reconcile_sending` over rows claimed more than
`SEND_RECONCILE_AFTER_S` ago:

- **Twilio** keeps a log we can ask (`TwilioAdapter.logged_since`). A message with the row's
  addresses and body, created since the claim, and not already another row's: the row is
  recorded as sent with its Sid and Twilio's status (later status callbacks match it; one that
  came meanwhile is applied now). None: Twilio never accepted it, so the row is queued again
  and sent (or failed, when its attempts are used up). Twilio cannot be asked: the row is left
  for the next pass.
- **Africa's Talking and Meta** have no look-up for a message we hold no id for: the row is
  marked failed with the reason, visible in the admin and the metrics, and never sent again.
- **console** keeps no copy outside our database: queued again.

A delivery receipt cannot reach a `sending` row (it names a provider id the row does not have
yet); it is kept as an early marker (`channels.receipts`) and applied when a Sid is recorded
here. A row the send job answered meanwhile is no longer `sending` and is not touched.

Every write is one conditional UPDATE on the claim the pass read (status `sending`, the same
attempts and claim time), so two passes at once, or a pass racing a new claim of a row it put
back, change each row once.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from channels.base import Outgoing, SendError
from channels.jobs import _autocommit, observe_sent
from channels.receipts import early_marker, replay_early_receipts
from channels.registry import adapter_for
from core import clock
from core.models import Direction, Message, MessageStatus, literal_value
from core.observability import SEND_RECONCILED, count_outbound
from core.runtime import Runtime

log = logging.getLogger("somo.channels.reconcile")

OUTCOMES = ("sent", "requeued", "failed", "unreachable")

INTERRUPTED = "interrupted during the provider call; not re-sent because the provider may have it"
NOT_IN_TWILIO = "interrupted during the provider call; Twilio's message log has no copy"
BATCH = 200  # rows per pass; the rest wait for the next pass
BUDGET_S = 60.0  # a pass stops asking providers after this long (the sweep is an rq job with a timeout)
CLOCK_SLACK = timedelta(minutes=2)  # our clock against Twilio's, when comparing its date_created with the claim
ASKABLE = frozenset({"twilio"})  # providers whose log we can ask about a message we hold no id for
REQUEUE_SAFE = frozenset({"console"})  # providers that keep no copy of their own

_M = Message.__table__


def reconcile_sending(runtime: Runtime) -> dict[str, int]:
    """One pass over rows left `sending` past the setting; returns how many rows ended how
    (`OUTCOMES`; rows another pass changed first are not counted)."""
    counts: Tally[str] = Tally({outcome: 0 for outcome in OUTCOMES})
    after = runtime.settings.send_reconcile_after_s
    if after <= 0:
        return dict(counts)
    cutoff = clock.now() - timedelta(seconds=after)
    started = time.monotonic()
    asked_down: set[str] = set()  # providers that failed to answer in this pass: not asked again until the next
    with _autocommit(runtime) as conn:
        for row in conn.execute(_STUCK, {"cutoff": cutoff}).all():
            if row.provider in ASKABLE and (row.provider in asked_down or time.monotonic() - started > BUDGET_S):
                outcome = "unreachable"
            else:
                try:
                    outcome = _reconcile_one(runtime, conn, row)
                except SendError as exc:
                    log.warning("could not ask the provider about a send left in flight; next pass",
                                extra={"message_id": row.id, "provider": row.provider, "error": str(exc)[:200]})
                    asked_down.add(row.provider)
                    outcome = "unreachable"
                except Exception:  # noqa: BLE001 - one odd row must not stop the pass (or the sweep)
                    log.exception("reconciling a send left in flight failed; next pass", extra={"message_id": row.id})
                    outcome = "unreachable"
            if outcome is not None:
                counts[outcome] += 1
                SEND_RECONCILED.labels(provider=row.provider, outcome=outcome).inc()
    if any(counts.values()):
        log.info("sends left in flight reconciled", extra={"counts": dict(counts)})
    return dict(counts)


def _reconcile_one(runtime: Runtime, conn: Connection, row) -> str | None:
    """Settle one row; the outcome, or None when another pass (or a new claim) got there first."""
    claim = {"rid": row.id, "claimed_attempts": row.attempts, "claimed": row.updated_at, "now": clock.now()}
    if row.provider in ASKABLE:
        return _ask_twilio(runtime, conn, row, claim)
    if row.provider in REQUEUE_SAFE:
        return _requeue(runtime, conn, row, claim, "interrupted during the send; queued again")
    if conn.execute(_FAIL, {**claim, "why": INTERRUPTED}).rowcount != 1:
        return None
    count_outbound(row.channel, row.provider, MessageStatus.FAILED.value)
    log.warning("send left in flight marked failed", extra={"message_id": row.id, "provider": row.provider})
    return "failed"


def _ask_twilio(runtime: Runtime, conn: Connection, row, claim: dict[str, Any]) -> str | None:
    out = Outgoing(channel=row.channel, to=row.phone, text=row.text, sender=row.service_number, template=row.template)
    logged = adapter_for("twilio", runtime).logged_since(out, row.updated_at - CLOCK_SLACK)
    known = set(conn.scalars(_KNOWN_SIDS, {"sids": [m.sid for m in logged]})) if logged else set()
    match = next((m for m in logged if m.sid not in known), None)
    if match is None:
        if row.attempts >= runtime.settings.send_max_attempts:
            why = f"gave up after {row.attempts} attempts: {NOT_IN_TWILIO}"
            if conn.execute(_FAIL, {**claim, "why": why}).rowcount != 1:
                return None
            count_outbound(row.channel, row.provider, MessageStatus.FAILED.value)
            return "failed"
        return _requeue(runtime, conn, row, claim, f"{NOT_IN_TWILIO}: queued again")
    delivered = claim["now"] if match.status in (MessageStatus.DELIVERED.value, MessageStatus.READ.value) else None
    try:
        result = conn.execute(_FOUND, {**claim, "new_status": match.status, "sid": match.sid, "why": match.error,
                                       "delivered": delivered}).first()
    except IntegrityError:  # the Sid was recorded on another row since we looked: next pass
        return None
    if result is None:
        return None
    if result.early:  # a status callback came while the row had no Sid: apply it now
        with runtime.session() as session:
            replay_early_receipts(session, session.get(Message, row.id), marked=True)
    observe_sent(match.status, row.channel, row.provider, row.text)
    log.info("send left in flight found in Twilio's log", extra={"message_id": row.id, "sid": match.sid})
    return "sent"


def _requeue(runtime: Runtime, conn: Connection, row, claim: dict[str, Any], why: str) -> str | None:
    """Back to `queued` (the sweep's own pass queues it again should this enqueue be lost)."""
    if conn.execute(_REQUEUE, {**claim, "why": why}).rowcount != 1:
        return None
    try:
        runtime.queue.enqueue("channels.jobs.send_message", row.id, job_id=f"send-{row.id}-reconciled-{row.attempts}")
    except Exception:  # noqa: BLE001 - Redis away: the row is `queued`, the sweep queues it later
        log.exception("could not queue a reconciled send", extra={"message_id": row.id})
    log.info("send left in flight queued again", extra={"message_id": row.id, "provider": row.provider})
    return "requeued"


# Statements, built once.
_STUCK = (
    select(_M.c.id, _M.c.channel, _M.c.provider, _M.c.phone, _M.c.service_number, _M.c.text, _M.c.template,
           _M.c.attempts, _M.c.updated_at)
    .where(_M.c.direction == literal_value(Direction.OUT.value), _M.c.status == literal_value(MessageStatus.SENDING.value),
           _M.c.provider_message_id.is_(None), _M.c.updated_at < bindparam("cutoff"))
    .order_by(_M.c.id)
    .limit(BATCH)
)
_KNOWN_SIDS = select(_M.c.provider_message_id).where(
    _M.c.provider == "twilio", _M.c.provider_message_id.in_(bindparam("sids", expanding=True)))
# The claim the pass read, and only it: a row another pass settled, or one a send job claimed
# again after a pass put it back, no longer matches.
_SAME_CLAIM = and_(_M.c.id == bindparam("rid"), _M.c.status == MessageStatus.SENDING.value,
                   _M.c.attempts == bindparam("claimed_attempts"), _M.c.updated_at == bindparam("claimed"))
_FAIL = update(_M).where(_SAME_CLAIM).values(status=MessageStatus.FAILED.value, error=bindparam("why"),
                                             updated_at=bindparam("now"))
_REQUEUE = update(_M).where(_SAME_CLAIM).values(status=MessageStatus.QUEUED.value, error=bindparam("why"),
                                                next_attempt_at=None, updated_at=bindparam("now"))
_FOUND = (
    update(_M).where(_SAME_CLAIM)
    .values(status=bindparam("new_status"), provider_message_id=bindparam("sid"), error=bindparam("why"),
            sent_at=bindparam("now"), delivered_at=bindparam("delivered", type_=_M.c.delivered_at.type),
            updated_at=bindparam("now"))
    .returning(_M.c.id, early_marker(_M.c.provider, _M.c.provider_message_id).label("early"))
)
