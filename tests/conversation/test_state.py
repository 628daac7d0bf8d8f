"""State lives in Redis (hot, one GET, with a TTL) and is written through to PostgreSQL:
a Redis flush mid-lesson loses nothing, and fencing keeps a stale writer out."""

from __future__ import annotations

import json
import threading
import time
import uuid
from contextlib import contextmanager

import pytest

from conversation.lock import ContactLock
from conversation.store import FENCE, ConvState, StaleState, StateStore, key
from core.models import ConversationState
from tests.conversation.helpers import Phone, load_pack


def into_lesson(rt, number: str, channel: str = "sms") -> Phone:
    phone = Phone(rt, number, channel)
    phone.send("hi")
    for text in ("1", "Amina", "skip", "1", "1", "1", "1"):
        phone.send(text)
    return phone


def test_redis_flush_mid_lesson_continues_from_postgresql(rt_redis):
    load_pack(rt_redis)
    phone = into_lesson(rt_redis, "+254788000001")
    assert "Step 4/6" in phone.screens[-1]  # over SMS the reading steps came with the practice question
    sid = phone.student().id
    hot = json.loads(rt_redis.redis.get(key(sid)))
    assert hot["version"] == phone.state().version and hot["state"] == "lesson"
    assert 0 < rt_redis.redis.ttl(key(sid)) <= rt_redis.settings.state_ttl_s

    rt_redis.redis.flushdb()  # Redis loses everything: hot state, lock, fencing counter

    assert "Step 5/6" in phone.send("3/4")  # the lesson goes on from the PostgreSQL copy
    assert json.loads(rt_redis.redis.get(key(sid)))["version"] == phone.state().version
    rt_redis.redis.flushdb()
    offer = Phone(rt_redis, "+254788000001", "ussd").dial()
    assert "Continue Adding fractions, step 5 of 6?" in offer


@contextmanager
def redis_commands(rt):
    """The commands this test's Redis database received meanwhile (MONITOR, filtered by db;
    not the commands a script ran)."""
    db = rt.redis.connection_pool.connection_kwargs.get("db", 0)
    seen: list[str] = []
    marker = f"end-{uuid.uuid4().hex}"
    ready = threading.Event()

    def listen():
        with rt.redis.monitor() as monitor:
            ready.set()
            for item in monitor.listen():
                if marker in item["command"]:
                    return
                if int(item["db"]) == db and item.get("client_type") != "lua" \
                        and not item["command"].startswith(("MONITOR", "PING", "SELECT", "CLIENT", "HELLO")):
                    seen.append(item["command"])

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(5)
    time.sleep(0.2)
    yield seen
    rt.redis.echo(marker)
    thread.join(5)


def test_the_hot_copy_is_one_getdel_and_is_what_the_machine_reads(rt_redis):
    load_pack(rt_redis)
    phone = into_lesson(rt_redis, "+254788000002")
    sid = phone.student().id
    hot = rt_redis.redis.get(key(sid))
    with redis_commands(rt_redis) as seen:
        with rt_redis.session() as s:
            st = StateStore(rt_redis, s).load(sid)
            # Taken out while the turn runs: a crash before the commit leaves no copy to go stale.
            assert rt_redis.redis.exists(key(sid)) == 0
    assert seen[0] == f"GETDEL {key(sid)}" and st.state == "lesson"
    blob = json.loads(hot)
    blob["data"]["last"]["label"] = "HOT COPY"
    rt_redis.redis.set(key(sid), json.dumps(blob))
    assert "Continue HOT COPY?" in Phone(rt_redis, "+254788000002", "ussd").dial()
    assert json.loads(rt_redis.redis.get(key(sid)))["version"] == phone.state().version  # put back after commit


def test_a_turn_that_fails_after_taking_the_hot_copy_leaves_the_database_copy_to_serve(rt_redis):
    load_pack(rt_redis)
    phone = into_lesson(rt_redis, "+254788000004")
    sid = phone.student().id
    with rt_redis.session() as s:
        store = StateStore(rt_redis, s)
        st = store.load(sid)
        st.state = "menu"
        store.save(st)
        s.rollback()  # the unit of work dies before its commit: nothing goes back to Redis
    assert rt_redis.redis.exists(key(sid)) == 0
    with rt_redis.session() as s:
        again = StateStore(rt_redis, s).load(sid)
    assert again.state == "lesson" and again.version == phone.state().version


def test_a_stale_fencing_token_cannot_overwrite_newer_state(rt_redis):
    load_pack(rt_redis)
    phone = into_lesson(rt_redis, "+254788000003")
    row = phone.state()
    with rt_redis.session() as s:
        s.info[FENCE] = row.version  # not newer than what is stored
        stale = ConvState(student_id=row.student_id, state="menu", version=row.version - 1)
        with pytest.raises(StaleState):
            StateStore(rt_redis, s).save(stale)
        s.rollback()
    assert phone.state().state == "lesson"
    # A late Redis write with an older version does not replace the newer hot copy either.
    with rt_redis.session() as s:
        store = StateStore(rt_redis, s)
        store._set_hot(ConvState(student_id=row.student_id, state="menu", version=row.version))  # same: wins
        store._set_hot(ConvState(student_id=row.student_id, state="new", version=row.version - 5))  # older: loses
    assert json.loads(rt_redis.redis.get(key(row.student_id)))["state"] == "menu"


def test_fencing_tokens_rise_and_jump_past_the_database_after_a_flush(rt_redis):
    lock = ContactLock(rt_redis, 42, floor=lambda: 1000)
    assert lock.acquire(0)
    first, second = lock.token(), lock.token()
    assert 1000 < first < second
    other = ContactLock(rt_redis, 42)
    assert not other.acquire(0.05)  # held
    rt_redis.redis.delete(lock.key)  # the lock expired under a paused holder...
    assert other.acquire(0)
    assert lock.token() is None  # ...which can no longer draw tokens
    assert other.token() > second
    other.release()
    lock.release()  # releasing a lost lock does not free someone else's
    assert rt_redis.redis.get(other.key) is None


def test_without_redis_the_database_copy_alone_serves(rt):
    load_pack(rt)
    phone = into_lesson(rt, "+254788000004")
    assert "Step 4/6" in phone.screens[-1] and "Step 5/6" in phone.send("3/4")
    with rt.session() as s:
        assert s.get(ConversationState, phone.student().id).state == "lesson"


def test_copy_and_json_carry_every_field_and_share_nothing_mutable():
    from dataclasses import fields
    from datetime import datetime

    data = {"modes": {"teach": {"pack": "ke", "data": {"step": 2, "seen": [1, [2, 3]], "pair": (4, 5)}}},
            "rest": {"sms": "more"}, "n": 1.5, "ok": True, "none": None}
    st = ConvState(student_id=7, state="lesson", mode="teach", pack="ke", topic="t1", step=3, data=data, version=9,
                   updated_at=datetime(2026, 11, 22, 8, 0))
    twin = st.copy()
    assert {f.name: getattr(twin, f.name) for f in fields(ConvState)} == {f.name: getattr(st, f.name)
                                                                           for f in fields(ConvState)}
    twin.data["modes"]["teach"]["data"]["seen"][1].append(99)
    twin.data["rest"]["sms"] = "changed"
    assert st.data["modes"]["teach"]["data"]["seen"] == [1, [2, 3]] and st.data["rest"]["sms"] == "more"
    assert twin.data["modes"]["teach"]["data"]["pair"] == (4, 5)  # not JSON-shaped: still deep-copied as it was
    back = ConvState.from_json(st.to_json())
    assert set(json.loads(st.to_json())) == {f.name for f in fields(ConvState)}
    assert (back.student_id, back.state, back.mode, back.pack, back.topic, back.step, back.version, back.updated_at) == (
        7, "lesson", "teach", "ke", "t1", 3, 9, datetime(2026, 11, 22, 8, 0))
    assert back.data["modes"]["teach"]["data"]["seen"] == [1, [2, 3]]


def test_the_first_state_of_a_new_student_is_written_on_sqlite_too(sqlite_url, tmp_path):
    """The embedded default (`make demo`): the first save's INSERT … ON CONFLICT works there."""
    from tests.conftest import installed_runtime

    with installed_runtime(sqlite_url, tmp_path) as rt:
        load_pack(rt)
        phone = into_lesson(rt, "+254788000009")
        first = phone.state()
        assert first.state == "lesson" and first.version > 0
        with rt.session() as s:
            s.info[FENCE] = first.version  # a writer whose token is not newer: refused, not a second row
            with pytest.raises(StaleState):
                StateStore(rt, s).save(ConvState(student_id=first.student_id, state="menu"))
            s.rollback()
        assert phone.state().state == "lesson"


def test_the_last_hot_write_goes_with_the_release_and_never_over_a_newer_copy(rt_redis):
    from conversation.store import HotCopy

    sent: list[str] = []
    original = rt_redis.redis.execute_command

    def counted(*args, **kwargs):
        sent.append(str(args[0]).upper())
        return original(*args, **kwargs)

    with rt_redis.session() as s:
        store = StateStore(rt_redis, s)
    mine = HotCopy(store, ConvState(student_id=501, state="lesson", version=7))
    lock = ContactLock(rt_redis, 77)
    assert lock.acquire(0)
    rt_redis.redis.execute_command = counted
    try:
        assert lock.release([mine]) is False  # nobody knocked
    finally:
        rt_redis.redis.execute_command = original
    assert sent == ["EVALSHA"]  # the hot write and the release: one round trip
    assert json.loads(rt_redis.redis.get(key(501)))["state"] == "lesson"
    assert rt_redis.redis.get(lock.key) is None

    # A holder that lost its lock still puts its committed state back (set-if-newer), and
    # leaves the new holder's lock alone; an older copy never replaces a newer one.
    store._set_hot(ConvState(student_id=502, state="menu", version=9))
    late = ContactLock(rt_redis, 78)
    assert late.acquire(0)
    rt_redis.redis.delete(late.key)
    other = ContactLock(rt_redis, 78)
    assert other.acquire(0)
    late.release([HotCopy(store, ConvState(student_id=502, state="new", version=8)),
                  HotCopy(store, ConvState(student_id=503, state="quiz", version=3))])
    assert json.loads(rt_redis.redis.get(key(502)))["state"] == "menu"
    assert json.loads(rt_redis.redis.get(key(503)))["state"] == "quiz"
    assert rt_redis.redis.get(other.key) == other.value.encode()
    assert other.release() is False


def test_a_first_save_over_a_row_left_at_version_0_updates_it(rt_redis):
    """A never-saved state (version 0) is inserted first; a row already there at version 0
    (written by something else) is updated instead of refusing the turn."""
    load_pack(rt_redis)
    phone = into_lesson(rt_redis, "+254788000010")
    sid = phone.state().student_id
    with rt_redis.session() as s:
        s.execute(ConversationState.__table__.update().where(ConversationState.student_id == sid)
                  .values(version=0, state="menu"))
    with rt_redis.session() as s:
        saved = StateStore(rt_redis, s).save(ConvState(student_id=sid, state="lesson", version=0))
    assert saved.version == 1 and phone.state().state == "lesson" and phone.state().version == 1


def test_a_ussd_step_takes_its_learners_hot_copy_out_with_the_lock(rt_redis):
    """The lock's acquire also takes out the hot state of the learner the stored row names
    (one Redis round trip fewer): a step is two Redis commands, the lock and its release
    with the new copy, and the state is read from that copy, not from PostgreSQL."""
    from sqlalchemy import event

    from channels.africastalking import parse_ussd
    from gateway.pipeline import handle_ussd

    load_pack(rt_redis)
    form = {"sessionId": "ATUid_hot", "serviceCode": "*384*1#", "phoneNumber": "+254788000009",
            "networkCode": "63902", "text": ""}
    assert "Welcome to Somo" in handle_ussd(rt_redis, parse_ussd(form, "KE"))  # the learner is created
    with rt_redis.session() as s:
        before = s.query(ConversationState).one()
    assert json.loads(rt_redis.redis.get(key(before.student_id)))["version"] == before.version
    sql: list[str] = []
    event.listen(rt_redis.engine, "before_cursor_execute", lambda _c, _cur, statement, *_: sql.append(statement))
    with redis_commands(rt_redis) as seen:
        screen = handle_ussd(rt_redis, parse_ussd({**form, "text": "1"}, "KE"))
    assert "first name" in screen
    assert [c.split()[0].strip('"') for c in seen] == ["EVALSHA", "EVALSHA"], seen  # lock (+ GETDEL), release (+ SET)
    assert not any(s.lstrip().startswith("SELECT conversation_states.") for s in sql)  # no database read
    with rt_redis.session() as s:
        after = s.query(ConversationState).one()
    assert after.version > before.version
    assert json.loads(rt_redis.redis.get(key(after.student_id)))["version"] == after.version  # put back


def test_a_change_of_data_while_the_turns_state_write_waits_rides_in_that_write(rt_redis):
    """USSD's screen statement carries the turn's state write (DEFER): the text kept for 98
    (update_data) is then folded into that write, no UPDATE of its own, and both copies (the
    row, and the saved state the hot copy is written from after commit) carry it. Without a waiting write it is its
    own fenced UPDATE, as before."""
    from sqlalchemy import event

    from conversation.store import DEFER, DEFERRED, SAVED, update_data, write_deferred

    load_pack(rt_redis)
    phone = into_lesson(rt_redis, "+254788000009")
    row = phone.state()
    seen: list[str] = []

    def on_sql(_conn, _cursor, statement, *_):
        seen.append(statement)

    def keep(data):
        data.setdefault("rest", {})["ussd"] = "the second page"

    event.listen(rt_redis.engine, "before_cursor_execute", on_sql)
    try:
        with rt_redis.session() as s:
            s.info[DEFER] = True
            store = StateStore(rt_redis, s)
            st = store.load(row.student_id)
            st.step += 1
            store.save(st)
            assert DEFERRED in s.info and seen == []  # nothing written yet
            update_data(s, row.student_id, keep)
            assert seen == []  # folded into the waiting write
            saved = s.info[SAVED][row.student_id]  # what the hot copy after commit writes
            assert saved.data["rest"]["ussd"] == "the second page"
            write_deferred(s)
            s.commit()
        assert len([q for q in seen if "conversation_states" in q]) == 1
        after = phone.state()
        assert after.data["rest"]["ussd"] == "the second page" and after.version > row.version

        seen.clear()  # no write waiting: its own UPDATE
        with rt_redis.session() as s:
            StateStore(rt_redis, s).load(row.student_id)
            update_data(s, row.student_id, lambda data: data["rest"].update(ussd="another"))
            s.commit()
        assert [q.split()[0] for q in seen if "conversation_states" in q][-1] == "UPDATE"
        assert phone.state().data["rest"]["ussd"] == "another"
    finally:
        event.remove(rt_redis.engine, "before_cursor_execute", on_sql)
