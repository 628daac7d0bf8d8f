"""Inbound pipeline: store before ack (idempotently), hand to the engine, store and queue replies.

SMS and WhatsApp: the inbound row is committed, a `gateway.jobs.process_contact` job is
queued (one job id per inbound row) and the webhook is answered at once. USSD is
synchronous: the engine runs in the request and the stored screen is the answer; a
retried step (same session and text) finds the stored screen and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from redis.exceptions import RedisError
from sqlalchemy import bindparam, exists, literal, null, select, text, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from channels.outbound import (
    MAX_VALUES,
    REPLY_COLUMNS,
    enqueue_sends,
    insert_reply_rows,
    render_chat,
    reply_language,
    reply_meta,
    reply_rows,
    row_binds,
    store_reply,
)
from channels.render import render_for
from conversation.service import HANDLED_WITH_REPLY, process_pending, remember_rest
from conversation.store import (
    state_insert,
    state_update,
    take_deferred,
    write_deferred,
    write_state,
)
from core import clock
from core.db import dialect_insert
from core.driver import DriverStatement
from core.i18n import translator
from core.messages import Inbound, Reply
from core.models import Contact, Direction, Message, MessageStatus, literal_value
from core.observability import count_inbound
from core.phone import country_of
from core.runtime import Runtime, get_runtime

LAST_INBOUND_PRECISION = timedelta(minutes=1)
log = logging.getLogger("somo.gateway")


@dataclass
class Stored:
    message_id: int
    contact_id: int
    duplicate: bool
    status: str = MessageStatus.RECEIVED.value
    student_id: int | None = None  # the contact's active learner when the row was stored (when known)


@dataclass
class ContactRef:
    id: int
    active_student_id: int | None


# Built once per process (Core, not ORM: a webhook needs three columns of the contact, not
# an identity-mapped object, and statement construction was a third of the route's CPU).
_CONTACTS = Contact.__table__
_FIND_CONTACT = select(
    _CONTACTS.c.id, _CONTACTS.c.active_student_id, _CONTACTS.c.channels_seen, _CONTACTS.c.last_inbound_sms_at,
    _CONTACTS.c.last_inbound_ussd_at, _CONTACTS.c.last_inbound_whatsapp_at,
).where(_CONTACTS.c.phone == bindparam("phone"))


def upsert_contact(session: Session, phone: str, channel: str) -> ContactRef:
    """The contact of this phone, created on a first message; records the channel and the
    last-inbound time. A returning contact costs one SELECT, plus an UPDATE at most once a
    minute per channel (or on a new channel)."""
    row = session.execute(_FIND_CONTACT, {"phone": phone}).first()
    if row is None:
        created = _insert_contact(session, phone, channel)
        if created is not None:
            return created
        row = session.execute(_FIND_CONTACT, {"phone": phone}).one()  # a concurrent first message won
    changes: dict = {}
    if channel not in (row.channels_seen or []):
        changes["channels_seen"] = [*(row.channels_seen or []), channel]
    if channel in ("sms", "ussd", "whatsapp"):
        # Kept to the minute: a USSD session's steps then cost no UPDATE each, and a
        # 24-hour WhatsApp window does not need more precision.
        field, now = f"last_inbound_{channel}_at", clock.now()
        last = getattr(row, field)
        if last is None or now - last >= LAST_INBOUND_PRECISION:
            changes[field] = now
    if changes:
        session.execute(update(_CONTACTS).where(_CONTACTS.c.id == row.id).values(**changes))
    return ContactRef(row.id, row.active_student_id)


def _insert_contact(session: Session, phone: str, channel: str) -> ContactRef | None:
    """A first message from this phone: one INSERT … ON CONFLICT DO NOTHING RETURNING, no
    savepoint (two round trips fewer); None when a concurrent first message won."""
    dialect = session.get_bind().dialect.name
    stmt = _INSERT_CONTACT.get((dialect, channel))
    if stmt is None:
        stmt = (dialect_insert(dialect)(_CONTACTS).on_conflict_do_nothing(index_elements=["phone"])
                .returning(_CONTACTS.c.id, _CONTACTS.c.active_student_id))
        _INSERT_CONTACT[(dialect, channel)] = stmt
    values = dict(phone=phone, country=country_of(phone), channels_seen=[channel])
    if channel in ("sms", "ussd", "whatsapp"):
        values[f"last_inbound_{channel}_at"] = clock.now()
    row = session.execute(stmt, values).first()
    return ContactRef(row.id, row.active_student_id) if row is not None else None


_INSERT_CONTACT: dict[tuple[str, str], object] = {}


def _existing(session: Session, inbound: Inbound) -> Stored | None:
    row = session.scalar(
        select(Message).where(
            Message.provider == inbound.provider, Message.provider_message_id == inbound.provider_message_id
        )
    )
    if row is None:
        return None
    return Stored(row.id, row.contact_id or 0, True, row.status)


def store_inbound(session: Session, inbound: Inbound) -> Stored:
    """Insert the inbound row; a repeated provider id returns the existing row, changing nothing.

    No look-up first: the insert itself finds a repeat (ON CONFLICT DO NOTHING), so a new
    message, the common case, costs one contact read and one insert.
    """
    contact = upsert_contact(session, inbound.sender, inbound.channel)
    payload = dict(inbound.raw or {})
    if inbound.button_id:
        payload["_button_id"] = inbound.button_id
    values = dict(
        direction=Direction.IN.value, channel=inbound.channel, provider=inbound.provider,
        provider_message_id=inbound.provider_message_id, contact_id=contact.id,
        student_id=contact.active_student_id, phone=inbound.sender, service_number=inbound.recipient,
        text=inbound.text, status=MessageStatus.RECEIVED.value, ussd_session_id=inbound.ussd_session_id,
        payload=payload or None, created_at=inbound.received_at,
    )
    message_id = _insert_once(session, values)
    if message_id is None:  # a concurrent delivery of the same message won the insert
        count_inbound(inbound.channel, inbound.provider, "duplicate")
        return _existing(session, inbound)
    count_inbound(inbound.channel, inbound.provider, "stored")
    return Stored(message_id, contact.id, False)


def _insert_once(session: Session, values: dict) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING on the (provider, provider_message_id) key: one round trip,
    no savepoint; None when the row already exists. The statement is built once per dialect
    and takes the row as parameters."""
    stmt = _INSERT_MESSAGE.get(session.get_bind().dialect.name)
    if stmt is None:
        stmt = (dialect_insert(session.get_bind().dialect.name)(Message.__table__).on_conflict_do_nothing(index_elements=["provider", "provider_message_id"])
                .returning(Message.__table__.c.id))
        _INSERT_MESSAGE[session.get_bind().dialect.name] = stmt
    return session.execute(stmt, {**values, "updated_at": values["created_at"]}).scalar()


_INSERT_MESSAGE: dict[str, object] = {}


def replies_to(session: Session, message_id: int, channel: str | None = None) -> list[Message]:
    query = select(Message).where(Message.reply_to_id == message_id)
    if channel is not None:
        query = query.where(Message.channel == channel)
    return list(session.scalars(query.order_by(Message.id)))


# PostgreSQL, a USSD step: the screen row (the HTTP answer, stored as sent) and the inbound
# row marked handled, in one statement built once (a data-modifying CTE).
_MESSAGES = Message.__table__
_SCREEN_COLUMNS = {
    "direction": literal_value(Direction.OUT.value), "channel": literal_value("ussd"),
    "provider": bindparam("b_provider", type_=_MESSAGES.c.provider.type),
    "text": bindparam("b_text", type_=_MESSAGES.c.text.type), "segments": literal(0), "encoding": null(),
    "status": literal_value(MessageStatus.SENT.value), "attempts": literal(0), "cost_tokens": literal(0),
    "phone": bindparam("b_phone", type_=_MESSAGES.c.phone.type),
    "service_number": bindparam("b_service", type_=_MESSAGES.c.service_number.type),
    "contact_id": bindparam("b_contact", type_=_MESSAGES.c.contact_id.type),
    "student_id": bindparam("b_student", type_=_MESSAGES.c.student_id.type),
    "reply_to_id": bindparam("b_inbound", type_=_MESSAGES.c.reply_to_id.type),
    "ussd_session_id": bindparam("b_session", type_=_MESSAGES.c.ussd_session_id.type),
    "payload": bindparam("b_payload", type_=_MESSAGES.c.payload.type),
    **{column: bindparam("b_now", type_=_MESSAGES.c.created_at.type) for column in ("sent_at", "created_at", "updated_at")},
}
_HANDLED_VALUES = {"status": MessageStatus.HANDLED.value, "student_id": bindparam("b_student"),
                   "updated_at": bindparam("b_now")}
_SCREEN_AND_HANDLED = DriverStatement(pg_insert(_MESSAGES).values(_SCREEN_COLUMNS).add_cte(
    update(_MESSAGES).where(_MESSAGES.c.id == bindparam("b_inbound")).values(_HANDLED_VALUES).cte("handled")))

# ... and with the turn's state write too (conversation.store's DEFER), the step's last three
# writes in one statement: the state write first (the fenced UPDATE, or a new learner's
# first INSERT), the other two only where it wrote.
def _state_write_ctes(write):
    """The state write `write` (a fresh statement: one already compiled keeps its memoized
    columns, and a RETURNING added to it then gives a CTE with none) as a CTE, the condition
    that it wrote, and the inbound row's handled mark made only then."""
    state = write.returning(write.table.c.student_id).cte("saved_state")
    wrote = exists(select(state.c.student_id))
    handled = update(_MESSAGES).where(_MESSAGES.c.id == bindparam("b_inbound"), wrote).values(_HANDLED_VALUES)
    return state, wrote, handled.cte("handled")


def _with_state_write(write) -> DriverStatement:
    state, wrote, handled = _state_write_ctes(write)
    return DriverStatement(
        pg_insert(_MESSAGES)
        .from_select(list(_SCREEN_COLUMNS), select(*_SCREEN_COLUMNS.values()).where(wrote))
        .add_cte(state, handled)
        .returning(_MESSAGES.c.id)
    )


_STATE_SCREEN_AND_HANDLED = _with_state_write(state_update())
_FIRST_STATE_SCREEN_AND_HANDLED = _with_state_write(state_insert(pg_insert))


def _screen_and_handled(session: Session, settings, inbound: Message, reply: Reply):
    """The USSD screen, rendered and stored with the inbound row marked handled, and the
    turn's deferred state write made, in one statement; None when the step needs the general
    path (an SMS follow-up, a screen in several parts)."""
    if reply.sms_followup:
        return None
    lang = reply_language(session, inbound, reply, settings.default_language)
    network = (inbound.payload or {}).get("networkCode")
    rendered = render_for("ussd", reply, limit=settings.screen_limit(network), lang=lang)
    if len(rendered.messages) != 1:
        return None
    if inbound.contact_id is not None:  # before the statement, which then carries it in the state
        remember_rest(session, inbound.contact_id, "ussd", rendered.rest)
    params = {
        "b_inbound": inbound.id, "b_student": inbound.student_id, "b_now": clock.now(),
        "b_provider": inbound.provider, "b_text": rendered.messages[0], "b_phone": inbound.phone,
        "b_service": inbound.service_number, "b_contact": inbound.contact_id, "b_session": inbound.ussd_session_id,
        "b_payload": {"bypass_optout": True} if reply.meta.get("bypass_optout") else None}
    deferred = take_deferred(session)
    if deferred is not None:
        state, version = deferred
        statement = _STATE_SCREEN_AND_HANDLED if version else _FIRST_STATE_SCREEN_AND_HANDLED
        if statement.execute(session, {**params, **state}).first() is None:
            write_state(session, state, version)  # no row to update: insert it, or StaleState (as save would)
            deferred = None
    if deferred is None:
        _SCREEN_AND_HANDLED.execute(session, params)
    session.info.setdefault(HANDLED_WITH_REPLY, set()).add(inbound.id)
    return rendered


# PostgreSQL, an SMS or WhatsApp turn: the same three writes in one statement, the reply's
# rows (one per part, up to MAX_VALUES) in place of the screen, given back for their sends.
_CHAT_WRITES: dict[tuple[int, tuple[str, ...], bool], DriverStatement] = {}


def _chat_write(count: int, keys: tuple[str, ...], first: bool) -> DriverStatement:
    stmt = _CHAT_WRITES.get((count, keys, first))
    if stmt is None:
        state, wrote, handled = _state_write_ctes(state_insert(pg_insert) if first else state_update())
        parts = [select(*(bindparam(f"b_{key}_{i}", type_=_MESSAGES.c[key].type) for key in keys)).where(wrote)
                 for i in range(count)]
        stmt = DriverStatement(
            pg_insert(_MESSAGES)
            .from_select(list(keys), parts[0] if count == 1 else union_all(*parts))
            .add_cte(state, handled)
            .returning(*REPLY_COLUMNS)
        )
        stmt = _CHAT_WRITES.setdefault((count, keys, first), stmt)
    return stmt


def _replies_and_handled(session: Session, settings, inbound: Message, reply: Reply):
    """An SMS or WhatsApp reply rendered and its rows stored, with the inbound row marked
    handled and the turn's deferred state write made, in one statement when a state write
    waits (the rows to send and the rendering). Without one, or with a reply too long for
    it, or when the fenced state write finds nothing to update, the writes go one by one as
    before (`write_state` then raises StaleState or inserts the missing row)."""
    lang = reply_language(session, inbound, reply, settings.default_language)
    rendered = render_chat(inbound, reply, settings, lang)
    if inbound.contact_id is not None:  # before the statement, which then carries it in the state
        remember_rest(session, inbound.contact_id, inbound.channel, rendered.rest)
    rows = reply_rows(rendered, channel=inbound.channel, provider=inbound.provider, meta=reply_meta(reply),
                      phone=inbound.phone, service_number=inbound.service_number, contact_id=inbound.contact_id,
                      student_id=inbound.student_id, reply_to_id=inbound.id)
    deferred = take_deferred(session)
    if deferred is not None and 0 < len(rows) <= MAX_VALUES:
        state, version = deferred
        params = {**row_binds(rows), **state, "b_inbound": inbound.id, "b_student": inbound.student_id,
                  "b_now": rows[0]["created_at"]}
        stored = _chat_write(len(rows), tuple(rows[0]), not version).execute(session, params).all()
        if stored:
            session.info.setdefault(HANDLED_WITH_REPLY, set()).add(inbound.id)
            return sorted(stored, key=lambda row: row.id), rendered  # ids follow the rows' order
    if deferred is not None:
        write_state(session, *deferred)
    return insert_reply_rows(session, rows), rendered


def make_deliver(runtime: Runtime, screens: dict[int, str] | None = None):
    """The `deliver` step `process_pending` calls: render, store, remember what waits for MORE.

    `screens` collects each USSD screen by inbound id, so the request answers without
    reading back what it just wrote.
    """

    def deliver(session: Session, inbound: Message, reply: Reply) -> list[int]:
        rendered = None
        on_postgres = session.get_bind().dialect.name == "postgresql"
        if inbound.channel == "ussd" and on_postgres:
            rendered = _screen_and_handled(session, runtime.settings, inbound, reply)
        if rendered is not None:  # its statement made the state write, with the rest kept
            rows: list = []
        elif inbound.channel in ("sms", "whatsapp") and on_postgres:
            rows, rendered = _replies_and_handled(session, runtime.settings, inbound, reply)
        else:
            rows, rendered = store_reply(session, runtime.settings, inbound, reply)
            if inbound.contact_id is not None:  # folded into the deferred state write, if one waits
                remember_rest(session, inbound.contact_id, inbound.channel, rendered.rest)
            write_deferred(session)
        if screens is not None and inbound.channel == "ussd":
            screens[inbound.id] = rendered.messages[0]
        return [r.id for r in rows]

    deliver.writes_state = True  # conversation.service defers the turn's state write to it
    return deliver


def console_deliver(session: Session, inbound: Message, reply: Reply) -> list[int]:
    """Render a reply for the inbound message's channel exactly as a phone would; console rows."""
    return make_deliver(get_runtime())(session, inbound, reply)


def accept_message(runtime: Runtime, inbound: Inbound) -> Stored:
    """SMS/WhatsApp: commit the row, then queue its handling."""
    if runtime.engine.dialect.name != "postgresql" or inbound.channel not in _LAST_INBOUND:
        return accept_messages(runtime, [inbound])[0]
    stored = _store_one(runtime, inbound)
    _queue_handling(runtime, [stored])
    return stored


# One statement, one round trip, committed by itself (autocommit: no BEGIN, no COMMIT): the
# duplicate check, the contact upsert (its channel and last-inbound time, written only when
# they change: at most once a minute per channel) and the message insert. A repeated
# provider id touches nothing and returns the stored row. `{last}` is a fixed column name.
_STORE_ONE_SQL = """
WITH dup AS (
    SELECT id, contact_id, status, student_id FROM messages
    WHERE provider = :provider AND provider_message_id = :provider_message_id
), upserted AS (
    INSERT INTO contacts (phone, country, channels_seen, opted_out, {last}, created_at)
    SELECT :phone, :country, jsonb_build_array(CAST(:channel AS text)), false, :now, :now
    WHERE NOT EXISTS (SELECT 1 FROM dup)
    ON CONFLICT (phone) DO UPDATE SET
        channels_seen = CASE WHEN contacts.channels_seen @> jsonb_build_array(CAST(:channel AS text))
                             THEN contacts.channels_seen
                             ELSE contacts.channels_seen || jsonb_build_array(CAST(:channel AS text)) END,
        {last} = CASE WHEN contacts.{last} IS NULL OR contacts.{last} <= :stale THEN :now
                      ELSE contacts.{last} END
    WHERE NOT contacts.channels_seen @> jsonb_build_array(CAST(:channel AS text))
       OR contacts.{last} IS NULL OR contacts.{last} <= :stale
    RETURNING id, active_student_id
), contact AS (
    SELECT id, active_student_id FROM upserted
    UNION ALL
    SELECT id, active_student_id FROM contacts
    WHERE phone = :phone AND NOT EXISTS (SELECT 1 FROM upserted) AND NOT EXISTS (SELECT 1 FROM dup)
), inserted AS (
    INSERT INTO messages (direction, channel, provider, provider_message_id, contact_id, student_id, phone,
                          service_number, text, segments, status, attempts, ussd_session_id, payload, cost_tokens,
                          created_at, updated_at)
    SELECT 'in', :channel, :provider, :provider_message_id, contact.id, contact.active_student_id, :phone,
           :service_number, :text, 0, 'received', 0, :ussd_session_id, :payload, 0, :created_at, :created_at
    FROM contact
    ON CONFLICT (provider, provider_message_id) DO NOTHING
    RETURNING id, contact_id, student_id
)
SELECT id, contact_id, false AS duplicate, 'received' AS status, student_id FROM inserted
UNION ALL
SELECT id, contact_id, true, status, student_id FROM dup
"""
_LAST_INBOUND = {"sms": "last_inbound_sms_at", "ussd": "last_inbound_ussd_at",
                 "whatsapp": "last_inbound_whatsapp_at"}
_STORE_ONE: dict[str, DriverStatement] = {}


def _store_one_statement(channel: str) -> DriverStatement:
    stmt = _STORE_ONE.get(channel)
    if stmt is None:
        when, payload = Message.__table__.c.created_at.type, Message.__table__.c.payload.type
        stmt = DriverStatement(text(_STORE_ONE_SQL.format(last=_LAST_INBOUND[channel])).bindparams(
            bindparam("now", type_=when), bindparam("stale", type_=when), bindparam("created_at", type_=when),
            bindparam("payload", type_=payload)))
        _STORE_ONE[channel] = stmt
    return stmt


def _store_one(runtime: Runtime, inbound: Inbound) -> Stored:
    """PostgreSQL: store one inbound message in one autocommitted statement (see _STORE_ONE_SQL).

    The row is committed when this returns. An empty answer means a concurrent transaction
    won a race the statement's snapshot could not see (the same phone's first message, or
    the same provider id): the second attempt, with a fresh snapshot, sees its row.
    """
    now = clock.now()
    payload = dict(inbound.raw or {})
    if inbound.button_id:
        payload["_button_id"] = inbound.button_id
    params = dict(
        provider=inbound.provider, provider_message_id=inbound.provider_message_id, phone=inbound.sender,
        country=country_of(inbound.sender), channel=inbound.channel, now=now, stale=now - LAST_INBOUND_PRECISION,
        service_number=inbound.recipient, text=inbound.text, ussd_session_id=inbound.ussd_session_id,
        payload=payload or None, created_at=inbound.received_at,
    )
    stmt = _store_one_statement(inbound.channel)
    with runtime.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        for _attempt in range(3):
            row = stmt.execute(conn, params).first()  # (id, contact_id, duplicate, status, student_id)
            if row is not None:
                break
        else:  # pragma: no cover - three lost races in a row
            raise RuntimeError(f"inbound {inbound.provider_message_id!r}: could not be stored")
    message_id, contact_id, duplicate, status, student_id = row
    count_inbound(inbound.channel, inbound.provider, "duplicate" if duplicate else "stored")
    return Stored(message_id, contact_id or 0, duplicate, status, student_id)


def accept_messages(runtime: Runtime, inbounds: list[Inbound], on_session=None) -> list[Stored]:
    """Commit every row of one webhook together (all or nothing), then queue their handling.

    A retry of a row that was stored but never handled (a crash before the enqueue) is
    queued again; the job id keeps it to one job. `on_session(session)` writes anything
    else the webhook carries (status receipts) in the same transaction.
    """
    with runtime.session() as session:
        stored = [store_inbound(session, inbound) for inbound in inbounds]
        if on_session is not None:
            on_session(session)
    _queue_handling(runtime, stored)
    return stored


def _queue_handling(runtime: Runtime, stored: list[Stored]) -> None:
    for item in stored:
        if item.status == MessageStatus.RECEIVED.value:
            queue_or_leave(lambda item=item: runtime.queue.enqueue(
                "gateway.jobs.process_contact", item.contact_id, job_id=f"process-{item.message_id}"))


def queue_or_leave(enqueue) -> None:
    """Queue a job for rows already committed; with Redis down, leave them for the sweep.

    The webhook is still answered 200: the rows are safe in PostgreSQL, `gateway.jobs.sweep`
    queues them once Redis is back, and a gateway retry queues them again (one job id per
    row). Answering 503 instead would make the gateway re-post into the same outage.
    """
    try:
        enqueue()
    except RedisError as exc:
        log.warning("queue unavailable (%s): stored rows wait for the sweep", type(exc).__name__)


def handle_ussd(runtime: Runtime, inbound: Inbound) -> str:
    """One USSD step, answered in the request with the stored screen."""
    if runtime.engine.dialect.name == "postgresql":
        stored = _store_one(runtime, inbound)  # one autocommitted statement, as accept_message
    else:
        with runtime.session() as session:
            stored = store_inbound(session, inbound)
    screen = _screen(runtime, stored.message_id) if stored.duplicate else None
    if screen is None:
        screens: dict[int, str] = {}
        ids = process_pending(runtime, stored.contact_id, make_deliver(runtime, screens), student_id=stored.student_id)
        queue_or_leave(lambda: enqueue_sends(runtime, ids))
        # Our step may have been handled by another worker holding the contact: read it back then.
        screen = screens.get(stored.message_id) or _screen(runtime, stored.message_id)
    if screen is None:  # the engine gave nothing for this step: close the session politely
        _ = translator(runtime.settings.default_language, "channels").gettext
        return "END " + _("Sorry, something went wrong. Please dial again.")
    return screen


def _screen(runtime: Runtime, message_id: int) -> str | None:
    with runtime.session() as session:
        rows = replies_to(session, message_id, "ussd")
        return rows[0].text if rows else None


def handle_console(runtime: Runtime, inbound: Inbound) -> list[str]:
    """The console channel end to end, in the caller's process: returns the rendered replies."""
    with runtime.session() as session:
        stored = store_inbound(session, inbound)
    if stored.status == MessageStatus.RECEIVED.value:
        ids = process_pending(runtime, stored.contact_id, make_deliver(runtime))
        queue_or_leave(lambda: enqueue_sends(runtime, ids))
    with runtime.session() as session:
        return [m.text for m in replies_to(session, stored.message_id)]
