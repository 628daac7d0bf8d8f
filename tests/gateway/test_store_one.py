"""The SMS/WhatsApp webhook's store on PostgreSQL: one autocommitted statement per message.

`accept_message` stores the contact and the message in one statement (see
gateway.pipeline._STORE_ONE_SQL): these tests hold it to what the session path promised,
against real PostgreSQL: the row is committed when it returns, a repeated provider id
changes nothing, the contact is written only when its channel or minute changes, and
concurrent first messages of one phone or one provider id end as one contact / one row.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select, text

from core import clock
from core.messages import Inbound
from core.models import Contact, ConversationState, Direction, Message, Student
from gateway.pipeline import accept_message
from tests.conftest import make_runtime

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.fixture
def pg_rt(pg_url, tmp_path):
    runtime = make_runtime(pg_url, tmp_path=tmp_path)
    runtime.queue = _Jobs()  # the jobs this store queues, without running them
    yield runtime
    clock.freeze(None)
    runtime.close()


class _Jobs:
    is_async = True

    def __init__(self) -> None:
        self.ids: list[str] = []

    def enqueue(self, func, *args, job_id=None, **_):
        self.ids.append(job_id)
        return job_id


def sms(pid: str, phone: str = "+254711000901", body: str = "Hi", channel: str = "sms") -> Inbound:
    return Inbound(channel=channel, provider="africastalking" if channel == "sms" else "meta",
                   provider_message_id=pid, sender=phone, recipient="40404", text=body, received_at=clock.now(),
                   raw={"id": pid, "text": body})


def contact_row(rt, phone="+254711000901"):
    with rt.engine.connect() as conn:
        return conn.execute(text("SELECT xmin::text AS version, channels_seen, last_inbound_sms_at, "
                                 "last_inbound_whatsapp_at, country FROM contacts WHERE phone = :p"), {"p": phone}).one()


def statements(rt):
    seen: list[str] = []

    def on_sql(_conn, _cursor, statement, *_):
        seen.append(statement)

    event.listen(rt.engine, "before_cursor_execute", on_sql)
    return seen, lambda: event.remove(rt.engine, "before_cursor_execute", on_sql)


def test_a_first_message_is_committed_with_its_new_contact_in_one_statement(pg_rt):
    clock.freeze(T0)
    seen, stop = statements(pg_rt)
    stored = accept_message(pg_rt, sms("m1"))
    stop()
    assert len(seen) == 1 and not stored.duplicate and stored.status == "received"
    c = contact_row(pg_rt)
    assert (c.channels_seen, c.country, c.last_inbound_sms_at) == (["sms"], "KE", T0.replace(tzinfo=None))
    with pg_rt.session() as s:  # a new session: the row was committed by the statement itself
        row = s.get(Message, stored.message_id)
        assert (row.direction, row.status, row.contact_id, row.text, row.payload) == (
            Direction.IN.value, "received", stored.contact_id, "Hi", {"id": "m1", "text": "Hi"})
    assert pg_rt.queue.ids == [f"process-{stored.message_id}"]


def test_a_returning_contact_is_written_once_a_minute_per_channel(pg_rt):
    clock.freeze(T0)
    first = accept_message(pg_rt, sms("m1"))
    version = contact_row(pg_rt).version
    clock.freeze(T0 + timedelta(seconds=40))
    again = accept_message(pg_rt, sms("m2"))
    assert again.contact_id == first.contact_id and contact_row(pg_rt).version == version  # untouched
    clock.freeze(T0 + timedelta(seconds=61))
    accept_message(pg_rt, sms("m3"))
    c = contact_row(pg_rt)
    assert c.version != version and c.last_inbound_sms_at == (T0 + timedelta(seconds=61)).replace(tzinfo=None)
    accept_message(pg_rt, sms("w1", channel="whatsapp"))
    c = contact_row(pg_rt)
    assert c.channels_seen == ["sms", "whatsapp"] and c.last_inbound_whatsapp_at is not None
    with pg_rt.session() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 1
        assert s.scalar(select(func.count()).select_from(Message)) == 4


def test_the_active_learner_is_recorded_on_the_row(pg_rt):
    first = accept_message(pg_rt, sms("m1"))
    with pg_rt.session() as s:
        student = Student(contact_id=first.contact_id, name="Amina")
        s.add(student)
        s.flush()
        s.get(Contact, first.contact_id).active_student_id = student.id
        student_id = student.id
    second = accept_message(pg_rt, sms("m2"))
    with pg_rt.session() as s:
        assert s.get(Message, second.message_id).student_id == student_id
        assert s.get(Message, first.message_id).student_id is None


def test_a_repeated_provider_id_changes_nothing_and_queues_nothing(pg_rt):
    clock.freeze(T0)
    first = accept_message(pg_rt, sms("m1"))
    with pg_rt.session() as s:
        s.get(Message, first.message_id).status = "handled"
    version = contact_row(pg_rt).version
    clock.freeze(T0 + timedelta(minutes=5))  # the contact would be written for a new message
    again = accept_message(pg_rt, sms("m1", body="changed"))
    assert (again.message_id, again.contact_id, again.duplicate, again.status) == (
        first.message_id, first.contact_id, True, "handled")
    assert contact_row(pg_rt).version == version
    with pg_rt.session() as s:
        assert [m.text for m in s.scalars(select(Message))] == ["Hi"]
    assert pg_rt.queue.ids == [f"process-{first.message_id}"]


def _together(n: int, work) -> list:
    start, results, errors = threading.Barrier(n), [None] * n, []

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results


def test_concurrent_first_messages_of_one_phone_make_one_contact(pg_rt):
    stored = _together(8, lambda i: accept_message(pg_rt, sms(f"m{i}", phone="+254711000977")))
    assert len({s.contact_id for s in stored}) == 1 and not any(s.duplicate for s in stored)
    with pg_rt.session() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 1
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.contact_id == stored[0].contact_id)) == 8


def test_concurrent_deliveries_of_one_message_store_it_once(pg_rt):
    stored = _together(8, lambda i: accept_message(pg_rt, sms("same", phone="+254711000988")))
    assert len({s.message_id for s in stored}) == 1
    assert sum(not s.duplicate for s in stored) == 1
    with pg_rt.session() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1
    # a delivery that finds the row still received queues it again: the job id keeps it one job
    assert set(pg_rt.queue.ids) == {f"process-{stored[0].message_id}"}


@contextmanager
def another_writer(rt, write):
    """`write(other, statement, params)` runs on a second (autocommitted) connection just
    before each of our statements: a concurrent writer that commits first."""
    other = rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def hook(_conn, _cursor, statement, params, *_):
        write(other, statement, params)

    event.listen(rt.engine, "before_cursor_execute", hook)
    try:
        yield
    finally:
        event.remove(rt.engine, "before_cursor_execute", hook)
        other.close()


def test_a_ussd_step_writes_its_state_stores_its_screen_and_marks_the_inbound_handled_in_one_statement(pg_rt):
    from channels.africastalking import parse_ussd
    from gateway.pipeline import handle_ussd
    from tests.conversation.helpers import load_pack

    load_pack(pg_rt)
    form = {"sessionId": "ATUid_one", "serviceCode": "*384*1#", "phoneNumber": "+254711000955",
            "networkCode": "63902", "text": ""}
    handle_ussd(pg_rt, parse_ussd(form, "KE"))  # the first dial: the learner is created
    with pg_rt.session() as s:
        before = s.execute(select(ConversationState.version, ConversationState.state)).one()
    seen, stop = statements(pg_rt)
    screen = handle_ussd(pg_rt, parse_ussd({**form, "text": "1"}, "KE"))
    stop()
    writes = [s for s in seen if ("INSERT INTO messages" in s or "UPDATE messages" in s
                                  or "conversation_states SET" in s)
              and not s.lstrip().startswith("WITH dup")]  # the inbound's own store aside
    assert len(writes) == 1 and writes[0].lstrip().startswith("WITH saved_state"), writes
    with pg_rt.session() as s:
        after = s.execute(select(ConversationState.version, ConversationState.state)).one()
    assert after.version > before.version and after.state != before.state  # the state moved on, fenced
    with pg_rt.session() as s:
        inbound, out = s.execute(select(Message).where(Message.ussd_session_id == "ATUid_one")
                                 .order_by(Message.id)).scalars().all()[-2:]
    assert inbound.direction == Direction.IN.value and inbound.status == "handled"
    assert out.direction == Direction.OUT.value and out.status == "sent" and out.reply_to_id == inbound.id
    assert out.text == screen and out.channel == "ussd" and out.ussd_session_id == "ATUid_one"
    assert out.student_id == inbound.student_id is not None and out.contact_id == inbound.contact_id
    assert out.sent_at is not None and out.payload is None and out.segments == 0


def test_a_ussd_step_that_a_newer_writer_overtook_writes_nothing(pg_rt):
    """The state write is fenced inside the step's one statement: when a newer lock holder
    has written the state (its version is at or past our token), the screen is not stored,
    the inbound row stays received, and the newer state stands."""
    from channels.africastalking import parse_ussd
    from gateway.pipeline import handle_ussd
    from tests.conversation.helpers import load_pack

    load_pack(pg_rt)
    form = {"sessionId": "ATUid_stale", "serviceCode": "*384*1#", "phoneNumber": "+254711000956",
            "networkCode": "63902", "text": ""}
    handle_ussd(pg_rt, parse_ussd(form, "KE"))

    def newer_writer(other, statement, _params):
        if statement.lstrip().startswith("WITH saved_state"):  # another holder commits first
            other.execute(text("UPDATE conversation_states SET version = version + 1000, state = 'newer'"))

    with another_writer(pg_rt, newer_writer):
        handle_ussd(pg_rt, parse_ussd({**form, "text": "1"}, "KE"))
    with pg_rt.session() as s:
        assert s.scalar(select(ConversationState.state)) == "newer"
        rows = s.execute(select(Message.direction, Message.status).where(Message.ussd_session_id == "ATUid_stale")
                         .order_by(Message.id)).all()
    assert rows[-1] == (Direction.IN.value, "received")  # not answered by this holder, not lost
    assert [r for r in rows if r.direction == Direction.OUT.value] == [(Direction.OUT.value, "sent")]  # the first dial's


def test_a_new_phones_first_ussd_dial_is_five_statements(pg_rt):
    """The first dial: the inbound store, the turn's look-up, the learner look-up, the new
    learner with the contact pointing at it (one statement), then the first state, the
    screen and the handled mark (one statement); no UPDATE of the learner, the contact or
    the state after them."""
    from channels.africastalking import parse_ussd
    from gateway.pipeline import handle_ussd
    from tests.conversation.helpers import load_pack

    load_pack(pg_rt)
    form = {"sessionId": "ATUid_new", "serviceCode": "*384*1#", "phoneNumber": "+254711000957",
            "networkCode": "63902", "text": ""}
    seen, stop = statements(pg_rt)
    screen = handle_ussd(pg_rt, parse_ussd(form, "KE"))
    stop()
    assert screen.startswith("CON ")
    heads = [" ".join(s.split()[:3]) for s in seen]
    assert len(seen) == 5, heads
    assert seen[3].lstrip().startswith("WITH new_learner") and "UPDATE contacts" in seen[3]
    assert seen[4].lstrip().startswith("WITH saved_state AS") and "INSERT INTO conversation_states" in seen[4]
    assert not [s for s in seen if s.lstrip().startswith(("UPDATE students", "UPDATE contacts", "UPDATE conversation"))]
    with pg_rt.session() as s:
        contact = s.scalar(select(Contact).where(Contact.phone == "+254711000957"))
        student = s.scalar(select(Student).where(Student.contact_id == contact.id))
        state = s.scalar(select(ConversationState).where(ConversationState.student_id == student.id))
        inbound, out = s.scalars(select(Message).where(Message.ussd_session_id == "ATUid_new").order_by(Message.id))
    assert contact.active_student_id == student.id and student.last_active_at is not None
    assert student.name == "" and student.onboarded is False and student.preferred_channel == "ussd"
    assert state.version >= 1 and state.state and "ussd" not in state.data.get("rest", {})  # one screen
    assert inbound.status == "handled" and inbound.student_id == student.id
    assert out.text == screen and out.reply_to_id == inbound.id


def test_a_learners_first_state_that_another_writer_made_first_is_not_overwritten(pg_rt):
    """A learner with no state row yet (new, or enrolled by the admin) has the first state's
    INSERT ride in the screen's statement (ON CONFLICT DO NOTHING): when a row is already
    there, that statement stores nothing and the ordinary fenced write decides (here: the
    other writer's newer version stands, the step is left received, not lost)."""
    from channels.africastalking import parse_ussd
    from gateway.pipeline import handle_ussd
    from tests.conversation.helpers import load_pack

    load_pack(pg_rt)
    form = {"sessionId": "ATUid_race", "serviceCode": "*384*1#", "phoneNumber": "+254711000958",
            "networkCode": "63902", "text": ""}
    handle_ussd(pg_rt, parse_ussd(form, "KE"))
    with pg_rt.engine.begin() as conn:  # as an admin-enrolled learner: no state row
        conn.execute(text("DELETE FROM conversation_states"))
    fired = []

    def first_writer(other, statement, params):
        if " ".join(statement.split()).startswith("WITH saved_state AS (INSERT"):
            fired.append(params["sid"])
            other.execute(text("INSERT INTO conversation_states (student_id, state, mode, step, data, version, "
                               "updated_at) VALUES (:sid, 'theirs', 'none', 0, '{}', :v, now())"),
                          {"sid": params["sid"], "v": 10**9})

    with another_writer(pg_rt, first_writer):
        handle_ussd(pg_rt, parse_ussd({**form, "sessionId": "ATUid_race2"}, "KE"))
    assert len(fired) == 1
    with pg_rt.session() as s:
        assert s.execute(select(ConversationState.state, ConversationState.version)).one() == ("theirs", 10**9)
        rows = s.execute(select(Message.direction, Message.status).where(Message.ussd_session_id == "ATUid_race2")
                         .order_by(Message.id)).all()
    assert rows == [(Direction.IN.value, "received")]


def _turn(rt, pid: str, body: str, phone: str, channel: str = "sms") -> tuple[int, list[int]]:
    """One SMS/WhatsApp message stored as the webhook stores it, then handled as the worker
    handles it: (the inbound row's id, the reply rows to send, in order)."""
    from conversation.service import process_pending
    from gateway.pipeline import make_deliver

    stored = accept_message(rt, sms(pid, phone=phone, body=body, channel=channel))
    return stored.message_id, process_pending(rt, stored.contact_id, make_deliver(rt))


def _writes(seen: list[str]) -> list[str]:
    return [s for s in seen if ("INSERT INTO messages" in s or "UPDATE messages" in s
                                or "conversation_states" in s and ("UPDATE" in s or "INSERT" in s))
            and not s.lstrip().startswith("WITH dup")]  # the inbound's own store aside


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_a_chat_turn_writes_its_state_its_reply_and_the_handled_mark_in_one_statement(pg_rt, channel):
    """SMS and WhatsApp as USSD: the reply's rows (every part, in order), the inbound row
    marked handled and the turn's fenced state write go in one statement, and the rows come
    back for the send (ids in the parts' order)."""
    from tests.conversation.helpers import load_pack

    load_pack(pg_rt)
    phone = "+254711000961" if channel == "sms" else "+254711000962"
    for n, body in enumerate(["Hi", "1", "Amina"]):  # a new learner's first state, then fenced updates
        with pg_rt.session() as s:
            before = s.scalar(select(func.coalesce(func.max(ConversationState.version), 0)))
        seen, stop = statements(pg_rt)
        inbound_id, ids = _turn(pg_rt, f"{channel}-w{n}", body, phone, channel)
        stop()
        writes = _writes(seen)
        assert len(writes) == 1 and writes[0].lstrip().startswith("WITH saved_state"), (body, writes)
        assert ("INSERT INTO conversation_states" in writes[0]) == (n == 0)  # only the first turn inserts
        with pg_rt.session() as s:
            inbound = s.get(Message, inbound_id)
            out = s.scalars(select(Message).where(Message.reply_to_id == inbound_id).order_by(Message.id)).all()
            version = s.scalar(select(ConversationState.version).where(
                ConversationState.student_id == inbound.student_id))
        assert inbound.status == "handled" and inbound.student_id is not None
        assert version > before  # the state moved on
        assert ids == [m.id for m in out] and ids == sorted(ids) and ids
        for m in out:
            assert (m.direction, m.channel, m.status, m.phone, m.contact_id, m.student_id) == (
                Direction.OUT.value, channel, "queued", phone, inbound.contact_id, inbound.student_id)
            assert m.text and m.created_at is not None and m.sent_at is None
        if channel == "sms":
            assert all(m.encoding == "gsm7" and m.segments == 1 for m in out)


def test_an_sms_reply_in_several_parts_is_stored_in_order_by_the_one_statement(pg_rt):
    """`deliver` with a turn's state write waiting and a reply of three SMS parts: one
    statement stores the parts in order (ids ascending with the text), marks the inbound
    handled and writes the state."""
    from channels.render import render_sms
    from conversation.store import DEFERRED, SAVED, ConvState
    from core.messages import Reply
    from gateway.pipeline import make_deliver
    from tests.conversation.helpers import load_pack

    load_pack(pg_rt)
    phone = "+254711000963"
    _turn(pg_rt, "parts-0", "Hi", phone)
    stored = accept_message(pg_rt, sms("parts-1", phone=phone, body="1"))
    reply = Reply(" ".join(f"Sentence {n} of a long lesson step about fractions." for n in range(1, 10)))
    expected = render_sms(reply, max_segments=pg_rt.settings.sms_max_segments).messages
    assert len(expected) == 3
    seen, stop = statements(pg_rt)
    with pg_rt.session() as s:
        inbound = s.get(Message, stored.message_id)
        sid = s.scalar(select(Student.id).where(Student.contact_id == inbound.contact_id))
        version = s.scalar(select(ConversationState.version).where(ConversationState.student_id == sid))
        inbound.student_id = sid
        s.flush()
        # as a turn leaves them: its saved state, and that state's write deferred to deliver
        s.info[SAVED] = {sid: ConvState(student_id=sid, state="menu", data={"mark": "parts"}, version=version + 7)}
        s.info[DEFERRED] = ({"sid": sid, "token": version + 7, "state": "menu", "mode": None, "pack": None,
                             "topic": None, "step": 0, "data": {"mark": "parts"}, "updated_at": clock.now()}, version)
        ids = make_deliver(pg_rt)(s, inbound, reply)
    stop()
    writes = _writes(seen)
    assert len(writes) == 1 and writes[0].lstrip().startswith("WITH saved_state"), writes
    with pg_rt.session() as s:
        out = s.scalars(select(Message).where(Message.reply_to_id == stored.message_id).order_by(Message.id)).all()
        state = s.get(ConversationState, sid)
        assert s.get(Message, stored.message_id).status == "handled"
    assert [m.text for m in out] == expected and ids == [m.id for m in out]
    assert (state.version, state.state, state.data) == (version + 7, "menu", {"mark": "parts"})


def test_an_sms_turn_that_a_newer_writer_overtook_stores_no_reply(pg_rt):
    """The chat turn's state write is fenced inside its one statement: when a newer lock
    holder has written the state, no reply row is stored, the inbound row stays received
    (for that holder), and the newer state stands."""
    from tests.conversation.helpers import load_pack

    load_pack(pg_rt)
    phone = "+254711000964"
    _turn(pg_rt, "stale-0", "Hi", phone)

    def newer_writer(other, statement, _params):
        if statement.lstrip().startswith("WITH saved_state"):  # another holder commits first
            other.execute(text("UPDATE conversation_states SET version = version + 1000, state = 'newer'"))

    with another_writer(pg_rt, newer_writer):
        inbound_id, ids = _turn(pg_rt, "stale-1", "1", phone)
    assert ids == []
    with pg_rt.session() as s:
        assert s.scalar(select(ConversationState.state)) == "newer"
        assert s.get(Message, inbound_id).status == "received"  # not answered by this holder, not lost
        assert s.scalars(select(Message).where(Message.reply_to_id == inbound_id)).all() == []


def test_a_stop_confirmation_keeps_its_flag_to_reach_an_opted_out_number(pg_rt):
    from tests.conversation.helpers import load_pack

    load_pack(pg_rt)
    phone = "+254711000965"
    _turn(pg_rt, "stop-0", "Hi", phone)
    inbound_id, ids = _turn(pg_rt, "stop-1", "STOP", phone)
    with pg_rt.session() as s:
        out = s.scalars(select(Message).where(Message.reply_to_id == inbound_id)).all()
        assert s.get(Message, inbound_id).status == "handled"
    assert ids == [m.id for m in out] and out
    assert all(m.payload == {"bypass_optout": True} for m in out)
