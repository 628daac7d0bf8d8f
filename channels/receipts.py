"""Delivery receipts and opt-outs: provider events applied to our rows, each exactly once.

Every callback is recorded as a ProviderEvent under a unique (provider, kind, key), so
a repeated callback changes nothing. Receipts arrive out of order (a `sent` after a
`delivered`), so a status only moves forward. Their payloads carry the student's number,
so erasing a student forgets their events (`forget`); retention deletes old ones.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, cast, delete, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from channels.base import StatusUpdate
from core import clock
from core.models import Contact, Direction, Message, MessageStatus, ProviderEvent, literal_value
from core.phone import mask

log = logging.getLogger("somo.channels.receipts")

EARLY = "status_early"  # provider_events kind: a receipt came for a provider id we did not know yet

RANK = {
    MessageStatus.QUEUED.value: 0, MessageStatus.RETRYING.value: 1, MessageStatus.SENDING.value: 2,
    MessageStatus.SENT.value: 3, MessageStatus.FAILED.value: 4, MessageStatus.DELIVERED.value: 5,
    MessageStatus.READ.value: 6,
}


def record_event(session: Session, provider: str, kind: str, key: str, payload: dict[str, Any]) -> bool:
    """Insert the event; False when it was seen before (a provider retry)."""
    try:
        with session.begin_nested():
            session.add(ProviderEvent(provider=provider, kind=kind, dedupe_key=key[:200], payload=payload))
    except IntegrityError:
        return False
    return True


def apply_status(session: Session, provider: str, update: StatusUpdate, payload: dict[str, Any]) -> Message | None:
    """Apply a receipt to the outbound row it names (if we know it yet); returns the row."""
    key = f"{update.provider_message_id}:{update.status}:{update.error or ''}"
    payload = {**payload, "_update": asdict(update)}
    if not record_event(session, provider, "status", key, payload):
        return None
    row = session.scalar(
        select(Message).where(
            Message.provider == provider, Message.provider_message_id == update.provider_message_id,
            Message.direction == Direction.OUT.value,
        )
    )
    if row is None:
        # The receipt beat the send's own answer (or names a message we never sent): leave a
        # marker under the exact provider id, so the send's success write finds it with one
        # index look-up instead of scanning every status event (`replay_early_receipts`).
        log.info("receipt for an unknown message", extra={"provider": provider, "id": update.provider_message_id})
        if update.provider_message_id:
            record_event(session, provider, EARLY, update.provider_message_id, {})
        return None
    _advance(row, update)
    if update.opted_out:
        mark_opted_out(session, row.phone, reason=f"{provider}: {update.error}")
    return row


def _advance(row: Message, update: StatusUpdate) -> None:
    if update.status is None or RANK.get(update.status, -1) <= RANK.get(row.status, -1):
        return
    row.status = update.status
    if update.status == MessageStatus.FAILED.value:
        row.error = update.error or row.error or "failed"
    if update.status in (MessageStatus.DELIVERED.value, MessageStatus.READ.value) and row.delivered_at is None:
        row.delivered_at = clock.now()


def early_marker(provider, provider_message_id):
    """Whether a receipt beat the send for this provider id, as a column: the marker
    `apply_status` leaves, found through the unique index. The send's success write returns
    it (no statement of its own); only a marked row goes on to `replay_early_receipts`."""
    return exists().where(ProviderEvent.provider == provider, ProviderEvent.kind == EARLY,
                          ProviderEvent.dedupe_key == provider_message_id)


def replay_early_receipts(session: Session, row: Message, *, marked: bool | None = None) -> None:
    """A receipt can beat the send's own answer: apply any already recorded for this row.

    `marked`: the caller already knows whether `early_marker` is set (the send's success
    write returns it); None looks it up here. Only a marked id scans its status events by
    prefix, which no index serves, so the scan must not run for every send as
    provider_events grows.
    """
    if not row.provider_message_id:
        return
    if marked is None:
        marked = session.scalar(select(early_marker(row.provider, row.provider_message_id[:200])))
    if not marked:
        return
    events = session.scalars(
        select(ProviderEvent).where(
            ProviderEvent.provider == row.provider, ProviderEvent.kind == "status",
            ProviderEvent.dedupe_key.startswith(f"{row.provider_message_id}:", autoescape=True),
        )
    )
    for event in events:
        update = StatusUpdate(**(event.payload.get("_update") or {}))
        if update.provider_message_id == row.provider_message_id:
            _advance(row, update)


def mark_opted_out(session: Session, phone: str | None, *, reason: str) -> bool:
    """The provider says this number refuses our messages: stop sending until they opt in."""
    if not phone:
        return False
    contact = session.scalar(select(Contact).where(Contact.phone == phone))
    if contact is None:
        return False
    if not contact.opted_out:
        contact.opted_out = True
        contact.opted_out_at = clock.now()
        log.info("contact opted out", extra={"phone": mask(phone), "reason": reason})
    return True


def forget(session: Session, messages: ColumnElement[bool], phone: str | None) -> int:
    """Delete the provider events about a person being erased; returns how many went.

    `messages`: the condition naming the Message rows being erased (call this before they
    go). The status events and early markers of their provider ids go, and the USSD session
    ends of their sessions (the AT webhooks key `ussd_end` by session id and `optout` by
    "sender id:E.164 phone"). `phone` (E.164), when the number itself is being forgotten (no
    other profile uses it): every event that carries it goes too (a receipt for a message we
    never stored, an opt-out), matched as a whole JSON string value in any field, in the
    forms the providers send it (`+2547…`, Meta's `2547…`, Twilio's `whatsapp:+2547…`).

    A few DELETE statements, each a join the database plans (no event is loaded here); the
    phone match reads every row's payload, which erasure, being rare, can afford.
    """
    def of_erased(column) -> ColumnElement[bool]:
        return exists().where(messages, Message.provider == ProviderEvent.provider, column)

    def receipt_for(event) -> ColumnElement[bool]:
        # The id in `_update`, not the key's prefix: an equality the database can hash-join,
        # and no LIKE on ids that hold `_`.
        return event.payload[("_update", "provider_message_id")].as_string()

    conditions = [
        and_(ProviderEvent.kind == "status", of_erased(Message.provider_message_id == receipt_for(ProviderEvent))),
        and_(ProviderEvent.kind == EARLY, of_erased(Message.provider_message_id == ProviderEvent.dedupe_key)),
        and_(ProviderEvent.kind == "ussd_end", of_erased(  # a session's inbound rows (the index's condition)
            and_(Message.direction == literal_value(Direction.IN.value), Message.ussd_session_id == ProviderEvent.dedupe_key))),
    ]
    if phone:
        forms = (phone, phone.removeprefix("+"), f"whatsapp:{phone}")

        def carries(event) -> ColumnElement[bool]:
            text = cast(event.payload, Text)
            return or_(*(text.contains(f'"{form}"', autoescape=True) for form in forms),
                       and_(event.kind == "optout", event.dedupe_key.endswith(f":{phone}", autoescape=True)))

        receipt = aliased(ProviderEvent)
        conditions += [
            # the marker of a receipt for a message we never stored: before that receipt goes
            and_(ProviderEvent.kind == EARLY, exists().where(
                receipt.provider == ProviderEvent.provider, receipt.kind == "status",
                receipt_for(receipt) == ProviderEvent.dedupe_key, carries(receipt))),
            carries(ProviderEvent),
        ]
    return sum(session.execute(delete(ProviderEvent).where(cond).execution_options(synchronize_session=False))
               .rowcount for cond in conditions)
