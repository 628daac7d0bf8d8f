"""Storing outbound messages before they are sent, and queueing their sends after commit."""

from __future__ import annotations

from sqlalchemy import bindparam, insert
from sqlalchemy.orm import Session

from channels.base import Rendered
from channels.render import render_for, render_sms
from core import clock
from core.driver import DriverStatement
from core.messages import Reply
from core.models import Direction, Message, MessageStatus, Student
from core.runtime import Runtime
from core.settings import Settings


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
    meta: dict | None = None,
) -> list[Message]:
    """One Message row per rendered message, flushed (the caller's transaction commits).

    `payload` keeps what the send needs beyond the text: the Meta interactive object and
    flags such as `bypass_optout` (the STOP confirmation goes out to an opted-out contact).
    """
    rows = []
    payloads = rendered.payloads or [None] * len(rendered.messages)
    for text, interactive in zip(rendered.messages, payloads, strict=False):
        payload = dict(meta or {})
        if interactive:
            payload["interactive"] = interactive
        row = Message(
            direction=Direction.OUT.value, channel=channel, provider=provider, phone=phone,
            service_number=service_number, contact_id=contact_id, student_id=student_id, text=text,
            segments=_segments(rendered, text), encoding=rendered.encoding,
            status=status, reply_to_id=reply_to_id, broadcast_id=broadcast_id, ussd_session_id=ussd_session_id,
            payload=payload or None,
        )
        if status == MessageStatus.SENT.value:
            row.sent_at = clock.now()
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


_OUT = Message.__table__
# What a reply's rows give back: the send job needs the id; callers and tests read the rest.
REPLY_COLUMNS = (_OUT.c.id, _OUT.c.channel, _OUT.c.provider, _OUT.c.phone, _OUT.c.service_number, _OUT.c.text,
                 _OUT.c.status, _OUT.c.segments, _OUT.c.encoding, _OUT.c.payload, _OUT.c.reply_to_id,
                 _OUT.c.contact_id, _OUT.c.student_id)
_INSERT_REPLY = insert(_OUT).returning(*REPLY_COLUMNS, sort_by_parameter_order=True)
MAX_VALUES = 8  # rows in one multi-row statement; a longer reply takes the executemany path


def reply_rows(rendered: Rendered, *, channel: str, provider: str, meta: dict | None, **fields) -> list[dict]:
    """The column values of a reply's queued outbound rows, one dict per rendered message
    (every dict has the same keys, in the same order)."""
    now = clock.now()
    payloads = rendered.payloads or [None] * len(rendered.messages)
    rows = []
    for text, interactive in zip(rendered.messages, payloads, strict=False):
        payload = dict(meta or {})
        if interactive:
            payload["interactive"] = interactive
        rows.append({
            "direction": Direction.OUT.value, "channel": channel, "provider": provider, "text": text,
            "segments": _segments(rendered, text), "encoding": rendered.encoding,
            "status": MessageStatus.QUEUED.value, "payload": payload or None, "attempts": 0, "cost_tokens": 0,
            "broadcast_id": None, "ussd_session_id": None, "created_at": now, "updated_at": now, **fields,
        })
    return rows


def row_binds(rows: list[dict]) -> dict:
    """`rows` as the bind parameters of a statement built for them (`b_<column>_<row>`)."""
    return {f"b_{key}_{i}": value for i, row in enumerate(rows) for key, value in row.items()}


def insert_reply_rows(session: Session, rows: list[dict]) -> list:
    """Insert `reply_rows` by one Core INSERT ... RETURNING (read-only rows with
    REPLY_COLUMNS, not ORM objects: the ORM's flush of each new Message cost more CPU than
    the statement on every SMS and WhatsApp turn). `store_outbound` keeps the ORM for the rest."""
    if not rows:
        return []
    stmt = _reply_insert(len(rows), tuple(rows[0]))
    if stmt is None:
        return list(session.execute(_INSERT_REPLY, rows).all())
    return sorted(stmt.execute(session, row_binds(rows)).all(), key=lambda row: row.id)  # ids follow the VALUES order


def _insert_reply_rows(session: Session, rendered: Rendered, *, channel: str, provider: str, meta: dict | None,
                       **fields) -> list:
    return insert_reply_rows(session, reply_rows(rendered, channel=channel, provider=provider, meta=meta, **fields))


_REPLY_INSERTS: dict[tuple[int, tuple[str, ...]], DriverStatement] = {}


def _reply_insert(count: int, keys: tuple[str, ...]) -> DriverStatement | None:
    """One INSERT ... VALUES (...), (...) RETURNING for `count` rows of these columns, built
    once and sent by the driver (core.driver): a reply's rows in one statement without
    SQLAlchemy's executemany machinery, which cost more than the statement on every turn."""
    if count > MAX_VALUES:
        return None
    stmt = _REPLY_INSERTS.get((count, keys))
    if stmt is None:
        rows = [{key: bindparam(f"b_{key}_{i}", type_=_OUT.c[key].type) for key in keys} for i in range(count)]
        stmt = _REPLY_INSERTS.setdefault((count, keys), DriverStatement(insert(_OUT).values(rows).returning(*REPLY_COLUMNS)))
    return stmt


def _store_screen(session: Session, rendered: Rendered, *, provider: str, meta: dict | None, **fields) -> None:
    """The USSD screen row: the HTTP answer itself, stored as sent by one Core INSERT (no ORM
    object: nothing reads it back in this unit of work, and this runs on every USSD step)."""
    now = clock.now()
    extra = {"payload": dict(meta)} if meta else {}
    for text in rendered.messages:
        session.execute(insert(Message.__table__).values(
            direction=Direction.OUT.value, channel="ussd", provider=provider, text=text,
            segments=_segments(rendered, text), encoding=rendered.encoding, status=MessageStatus.SENT.value,
            sent_at=now, **extra, **fields))


def _segments(rendered: Rendered, text: str) -> int:
    if rendered.encoding is None:
        return 0
    if len(rendered.messages) == 1:
        return rendered.segments
    from channels.sms import count_segments

    return count_segments(text)


def enqueue_sends(runtime: Runtime, message_ids: list[int]) -> None:
    """Push one send job per stored outbound row. Call only after the commit that made them."""
    for mid in message_ids:
        runtime.queue.enqueue("channels.jobs.send_message", mid, job_id=f"send-{mid}")


def reply_language(session: Session, inbound: Message, reply: Reply, default: str) -> str:
    if reply.meta.get("lang"):
        return str(reply.meta["lang"])
    if inbound.student_id is not None:
        student = session.get(Student, inbound.student_id)
        if student is not None and student.language:
            return student.language
    return default


def store_reply(session: Session, settings: Settings, inbound: Message, reply: Reply) -> tuple[list, Rendered]:
    """Render `reply` for the inbound message's channel and provider, and store the rows.

    Returns the rows that still need a send job, and the main rendering (whose `rest`
    waits for MORE / 98). A USSD screen is the HTTP answer itself: it is stored as sent.
    Its `sms_followup` (a long answer) goes out by SMS through the same provider.
    """
    lang = reply_language(session, inbound, reply, settings.default_language)
    common = dict(
        phone=inbound.phone, service_number=inbound.service_number, contact_id=inbound.contact_id,
        student_id=inbound.student_id, reply_to_id=inbound.id,
    )
    meta = reply_meta(reply)
    if inbound.channel == "ussd":
        network = (inbound.payload or {}).get("networkCode")
        rendered = render_for("ussd", reply, limit=settings.screen_limit(network), lang=lang)
        _store_screen(session, rendered, provider=inbound.provider, ussd_session_id=inbound.ussd_session_id,
                      meta=meta, **common)
        to_send: list = []
        if reply.sms_followup:
            sms = render_sms(Reply(reply.sms_followup), max_segments=settings.sms_max_segments, lang=lang)
            common["service_number"] = settings.at_sender_id or None
            to_send = _insert_reply_rows(session, sms, channel="sms", provider=inbound.provider, meta=meta, **common)
        return to_send, rendered
    rendered = render_chat(inbound, reply, settings, lang)
    rows = _insert_reply_rows(session, rendered, channel=inbound.channel, provider=inbound.provider, meta=meta,
                              **common)
    return rows, rendered


def render_chat(inbound: Message, reply: Reply, settings: Settings, lang: str) -> Rendered:
    """An SMS or WhatsApp reply rendered for the inbound message's channel and provider."""
    return render_for(inbound.channel, reply, provider=inbound.provider, lang=lang,
                      max_segments=settings.sms_max_segments)


def reply_meta(reply: Reply) -> dict | None:
    """What a reply's rows carry in their payload beyond the text (the STOP confirmation's flag)."""
    return {"bypass_optout": True} if reply.meta.get("bypass_optout") else None
