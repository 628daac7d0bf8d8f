"""Handling a contact's stored inbound messages, oldest first, one at a time.

The gateway stores each inbound row and commits, then calls `process_pending` (inline for
USSD and the console, from an rq job for SMS and WhatsApp). The caller passes `deliver`,
which renders a Reply for the channel and stores the outbound rows (this package never
knows about providers); the returned ids are sent after commit.

One student, one order: the contact's lock (with a fencing token under Redis) is held while
its RECEIVED rows are drained in id order, one unit of work per message. Whoever cannot get
the lock knocks, and may leave: a holder that was knocked on looks for new rows again after
releasing it, so a row committed while the lock was held is never stranded (and a holder
nobody knocked on skips that look-up: every row's committer tries the lock right after).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Interval, bindparam, func, literal, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, aliased, load_only, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, set_committed_value

from conversation import engine, enrolled, limits
from conversation.lessons import FAILED, REDO, ModeFailed
from conversation.lock import ContactLock
from conversation.store import DEFER, FENCE, TAKEN, StaleState, run_after_commit, update_data, write_deferred
from conversation.store import key as state_key
from conversation.text import gettext_for
from core import clock
from core.driver import DriverStatement
from core.messages import Inbound, Reply
from core.models import (
    Contact,
    ConversationState,
    Direction,
    Enrolment,
    Message,
    MessageStatus,
    Student,
    literal_value,
)
from core.runtime import Runtime

log = logging.getLogger("somo.conversation")

Deliver = Callable[[Session, Message, Reply], list[int]]
DEFAULT_WAIT_S = 5.0  # bounded: a USSD answer is due within seconds
LOADED = "somo.pending.loaded"


def inbound_from_row(row: Message) -> Inbound:
    payload = row.payload or {}
    return Inbound(
        channel=row.channel, provider=row.provider, provider_message_id=row.provider_message_id, sender=row.phone,
        recipient=row.service_number, text=row.text, received_at=row.created_at,
        ussd_session_id=row.ussd_session_id, network_code=payload.get("networkCode"), raw=payload,
        button_id=payload.get("_button_id"),
    )


def _pending(session: Session, contact_id: int) -> Message | None:
    return session.scalar(_PENDING, {"contact_id": contact_id})


# The inbox index's condition (core.models), as literals so that prepared statements use it.
_RECEIVED = (Message.direction == literal_value(Direction.IN.value),
             Message.status == literal_value(MessageStatus.RECEIVED.value))
# Built once: the oldest received rows (two, to know whether another waits), the
# contact's newest state version (the fencing floor), and the contact with its active
# learner (the engine's first two look-ups then come from the identity map), in one statement.
_PENDING = (
    select(Message)
    .where(Message.contact_id == bindparam("contact_id"), *_RECEIVED)
    .order_by(Message.id)
    .limit(1)
)
_Learner = aliased(Student)
# The inbound row's columns a turn and its reply read (half of them: the send-side columns
# are not needed to answer it, and each loaded column costs the driver and the ORM).
_INBOUND_FIELDS = (
    Message.id, Message.direction, Message.channel, Message.provider, Message.provider_message_id,
    Message.contact_id, Message.student_id, Message.phone, Message.service_number, Message.text, Message.status,
    Message.ussd_session_id, Message.payload, Message.created_at,
)
# ... and of the contact and its learner, what a turn reads (an attribute left out loads
# itself on first use: correct, one SELECT more; bench.ussd_profile --trace shows any).
_CONTACT_FIELDS = (Contact.id, Contact.phone, Contact.country, Contact.opted_out, Contact.active_student_id)
_LEARNER_FIELDS = (
    _Learner.id, _Learner.contact_id, _Learner.school_id, _Learner.name, _Learner.language, _Learner.pin_hash,
    _Learner.active, _Learner.onboarded, _Learner.streak_days, _Learner.streak_last_day, _Learner.last_active_at,
)
_INBOUND_COLUMNS = load_only(*_INBOUND_FIELDS)
_CONTACT_COLUMNS = load_only(*_CONTACT_FIELDS)
_LEARNER_COLUMNS = load_only(*_LEARNER_FIELDS)
_PENDING_WITH_FLOOR = (
    select(Message, select(func.coalesce(func.max(ConversationState.version), 0))
           .join(Student, Student.id == ConversationState.student_id)
           .where(Student.contact_id == bindparam("contact_id")).scalar_subquery(),
           Contact, _Learner)
    .join(Contact, Contact.id == Message.contact_id)
    .outerjoin(_Learner, _Learner.id == Contact.active_student_id)
    .options(_INBOUND_COLUMNS, _CONTACT_COLUMNS, _LEARNER_COLUMNS)
    .where(Message.contact_id == bindparam("contact_id"), *_RECEIVED)
    .order_by(Message.id)
    .limit(2)
)


# On PostgreSQL the same statement also counts the number's inbound rows in the minute up to
# the row (the rate limit's question, `conversation.limits`), saving a round trip per message.
_RECENT = aliased(Message)
_RATE_WINDOW = (
    (_RECENT.phone == Message.phone) & (_RECENT.direction == literal_value(Direction.IN.value))
    & (_RECENT.created_at > Message.created_at - literal(limits.WINDOW, Interval()))
    & (_RECENT.created_at <= Message.created_at)
)


def _pending_with_floor(session: Session, contact_id: int) -> tuple[Message | None, int, bool]:
    """(the oldest received row, the fencing floor, whether another row waits behind it)."""
    if session.get_bind().dialect.name == "postgresql":
        return _pending_on_postgres(session, contact_id)
    rows = session.execute(_PENDING_WITH_FLOOR, {"contact_id": contact_id}).all()
    if not rows:
        return None, 0, False
    # The identity map holds clean objects weakly: keep the contact and learner for the unit of work.
    session.info[LOADED] = rows[0][2:4]
    return rows[0][0], int(rows[0][1] or 0), len(rows) > 1


# PostgreSQL: the same question plus the rate window, its columns named one by one and sent
# through the driver. It is every turn's first statement; through the ORM it cost ~1.8 ms of
# CPU on this project's bench machine, ~0.6 ms of it psycopg and SQLAlchemy describing the 33
# result columns on every execute and the rest the ORM's loading (bench.db_overhead). The
# three objects are then made by hand, as the ORM's load would leave them: persistent and
# clean, the columns not read expired (a read loads them, as with load_only).
_FLOOR = (select(func.coalesce(func.max(ConversationState.version), 0))
          .join(Student, Student.id == ConversationState.student_id)
          .where(Student.contact_id == bindparam("contact_id")).scalar_subquery())
_PENDING_COLUMNS = (
    select(*_INBOUND_FIELDS, _FLOOR, *_CONTACT_FIELDS, *_LEARNER_FIELDS,
           select(func.count()).select_from(_RECENT).where(_RATE_WINDOW).scalar_subquery(),
           select(func.min(_RECENT.created_at)).where(_RATE_WINDOW).scalar_subquery(),
           # the learner's first active class (conversation.enrolled), asked by every turn
           select(Enrolment.class_id).where(Enrolment.student_id == Contact.active_student_id,
                                            Enrolment.active.is_(True))
           .order_by(Enrolment.id).limit(1).scalar_subquery())
    .join(Contact, Contact.id == Message.contact_id)
    .outerjoin(_Learner, _Learner.id == Contact.active_student_id)
    .where(Message.contact_id == bindparam("contact_id"), *_RECEIVED)
    .order_by(Message.id)
    .limit(2)
)
_N_IN, _N_CONTACT, _N_LEARNER = len(_INBOUND_FIELDS), len(_CONTACT_FIELDS), len(_LEARNER_FIELDS)
_PENDING_DRIVER = DriverStatement(_PENDING_COLUMNS)  # rows as tuples (several columns are called `id`)


def _pending_on_postgres(session: Session, contact_id: int) -> tuple[Message | None, int, bool]:
    rows = _PENDING_DRIVER.execute(session, {"contact_id": contact_id}).all()
    if not rows:
        return None, 0, False
    first = rows[0]
    at = _N_IN
    row = _attach(session, Message, _INBOUND_FIELDS, first[:at])
    floor = int(first[at] or 0)
    contact = _attach(session, Contact, _CONTACT_FIELDS, first[at + 1:at + 1 + _N_CONTACT])
    at += 1 + _N_CONTACT
    learner = None if first[at] is None else _attach(session, Student, _LEARNER_FIELDS, first[at:at + _N_LEARNER])
    at += _N_LEARNER
    # The identity map holds clean objects weakly: keep the contact and learner for the unit of work.
    session.info[LOADED] = (contact, learner)
    limits.prefetch(session, row.phone, row.created_at, int(first[at]), first[at + 1])
    if learner is not None:
        enrolled.prime(session, learner.id, first[at + 2])
    return row, floor, len(rows) > 1


def _attach(session: Session, model, fields, values):
    """A row read by hand, made the ORM object a query would have loaded (persistent, clean):
    made without its constructor and its values put in its dict, as the ORM's loading does
    (the instrumented constructor's per-attribute events cost more than the rest)."""
    obj = sa_inspect(model).class_manager.new_instance()
    instance_dict(obj).update(zip([field.key for field in fields], values, strict=True))
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


# Built once: the handled row's status and learner, a Core UPDATE (the ORM's flush of the
# dirty row cost more CPU than the statement on every message).
_HANDLED = DriverStatement(
    update(Message.__table__)
    .where(Message.__table__.c.id == bindparam("mid"))
    .values(status=MessageStatus.HANDLED.value, student_id=bindparam("sid"), updated_at=bindparam("now"))
)


HANDLED_WITH_REPLY = "conversation.handled_with_reply"  # session.info: inbound ids deliver already marked


def _mark_handled(session: Session, row: Message, student_id: int | None) -> None:
    if row.id not in session.info.get(HANDLED_WITH_REPLY, ()):  # else the reply's statement did it
        _HANDLED.execute(session, {"mid": row.id, "sid": student_id, "now": clock.now()})
    set_committed_value(row, "status", MessageStatus.HANDLED.value)  # as written, not dirty
    set_committed_value(row, "student_id", student_id)


def has_pending(runtime: Runtime, contact_id: int) -> bool:
    with runtime.session() as session:
        return _pending(session, contact_id) is not None


def process_pending(runtime: Runtime, contact_id: int, deliver: Deliver, *, wait_s: float = DEFAULT_WAIT_S,
                    student_id: int | None = None) -> list[int]:
    """Handle every received inbound message of the contact in arrival order; return outbound ids.

    Returns what it handled (possibly []) when another worker holds the contact past `wait_s`:
    that worker handles our rows too.
    """
    out: list[int] = []
    while True:
        # the floor is read with each row (see _drain); `student_id`, the learner the caller
        # expects to answer (the contact's active one when its row was stored): its hot state
        # comes out of Redis with the lock
        lock = ContactLock(runtime, contact_id, hot_key=state_key(student_id) if student_id else None)
        if not lock.acquire(wait_s):
            return out
        hot: list = []  # the last unit of work's hot state, written back with the release
        student_id = None  # a second round's hot copy is its own turns' business
        try:
            out.extend(_drain(runtime, contact_id, deliver, lock, hot))
        finally:
            knocked = lock.release(hot)
        # Only a caller that found the lock taken can have a row we did not see; it knocked.
        if not knocked or not has_pending(runtime, contact_id):
            return out
        wait_s = 0.0  # rows arrived as we let go: take them unless someone else already has


def _drain(runtime: Runtime, contact_id: int, deliver: Deliver, lock: ContactLock, hot: list) -> list[int]:
    """One unit of work per message, each with a fresh fencing token, while we hold the lock.

    The row, the fencing floor and whether another row waits come in one statement; when
    none waits, no further look-up is made (`process_pending` checks once more after release)
    and the unit's hot-state write is left in `hot` for the release to make (still under the
    lock: a newer holder's turn cannot come between).
    """
    out: list[int] = []
    more = True
    failed: tuple[int, tuple[str, str, str]] | None = None  # (row id, mode key) to redo without the mode
    while more:
        try:
            with runtime.session() as session:
                session.info[REDO] = contact_id
                if lock.taken is not None:  # the first unit of work's learner state, out of Redis already
                    session.info[TAKEN], lock.taken = lock.taken, None
                row, floor, more = _pending_with_floor(session, contact_id)
                if row is None:
                    return out
                row_id = row.id  # readable after a rollback expires the row
                token = lock.token(floor)
                if token is None:
                    log.warning("contact %s: the lock expired; leaving the rest to its new holder", contact_id)
                    session.rollback()
                    return out
                if token:
                    session.info[FENCE] = token
                if failed is not None and failed[0] == row_id:
                    session.info[FAILED] = failed[1]
                if getattr(deliver, "writes_state", False):  # its statement carries the turn's state write
                    session.info[DEFER] = True
                reply = engine.handle(runtime, session, inbound_from_row(row), contact_id=contact_id)
                contact = session.get(Contact, contact_id)
                student_id = contact.active_student_id if contact is not None and contact.active_student_id \
                    else row.student_id
                set_committed_value(row, "student_id", student_id)  # the reply rows take it (deliver)
                ids = deliver(session, row, reply) if reply is not None else []
                _mark_handled(session, row, student_id)
                write_deferred(session)  # when deliver did not (no reply)
        except ModeFailed as exc:
            # Rolled back whole (no savepoint): redo the message with the mode skipped, which
            # answers with the menu and an apology, as a savepoint's rollback would have.
            if failed is None or failed[0] != row_id:
                failed, more = (row_id, exc.key), True
                continue
            log.error("contact %s: message %s failed again in its redo", contact_id, row_id)
            apology = _give_up(runtime, contact_id, deliver, exc)
            if apology is None:
                return out
            out.extend(apology)
            more = True
            continue
        except StaleState:
            log.warning("contact %s: a newer worker wrote this state; leaving the rest to it", contact_id)
            return out
        except (OperationalError, InterfaceError):
            # The database went away (a restart, a failover): nothing was committed and the row is
            # still `received`. Answering it with an apology would lose the student's message;
            # the job's retry, the gateway's re-post or the sweep handles it once it is back.
            log.warning("contact %s: database unavailable; the message stays received", contact_id)
            raise
        except Exception as exc:  # noqa: BLE001 - one bad message must not block the student's queue
            log.exception("contact %s: message handling failed", contact_id)
            apology = _give_up(runtime, contact_id, deliver, exc)
            if apology is None:  # no row left to blame: the failure is not one message's, stop here
                return out
            out.extend(apology)
            more = True
            continue
        out.extend(ids)
        hot.extend(run_after_commit(session, keep_hot=not more))
    return out


def _give_up(runtime: Runtime, contact_id: int, deliver: Deliver, exc: Exception) -> list[int] | None:
    """Mark the oldest pending row handled with the error, and say sorry (in a fresh unit of work).
    None when no row is pending (so a failure outside any message cannot loop forever)."""
    with runtime.session() as session:
        row = _pending(session, contact_id)
        if row is None:
            return None
        row.status, row.error = MessageStatus.HANDLED.value, f"conversation: {type(exc).__name__}: {exc}"[:500]
        student = session.get(Student, row.student_id) if row.student_id else None
        _ = gettext_for(student.language if student else "en")
        return deliver(session, row, Reply(_("Sorry, something went wrong. Please try again."),
                                           end_session=row.channel == "ussd"))


def remember_rest(session: Session, contact_id: int, channel: str, rest: str | None) -> None:
    """Keep what did not fit in the last reply, for MORE/ZAIDI (SMS/WhatsApp) or 98 (USSD).

    Called by the gateway's deliver step after rendering, in the same unit of work.
    """
    contact = session.get(Contact, contact_id)
    if contact is None or not contact.active_student_id:
        return

    def keep(data: dict) -> None:
        if rest:
            data.setdefault("rest", {})[channel] = rest[:4000]
        elif channel in data.get("rest", {}):
            del data["rest"][channel]

    update_data(session, contact.active_student_id, keep)
