"""A holder skips the after-release look-up unless someone knocked, and a row whose committer
gave up on the lock is still handled by the holder (no row stranded), with and without Redis."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from conversation.lock import ContactLock
from conversation.service import process_pending
from core.models import Direction, Message, MessageStatus
from gateway.pipeline import make_deliver
from tests.conversation.helpers import load_pack
from tests.conversation.test_ordering import store


@pytest.fixture(params=["local", "redis"])
def any_rt(request):
    return request.getfixturevalue("rt" if request.param == "local" else "rt_redis")


def test_release_says_whether_someone_knocked(any_rt):
    holder = ContactLock(any_rt, 901)
    assert holder.acquire(1.0)
    assert holder.release() is False  # nobody tried: no look-up needed
    assert holder.acquire(1.0)
    other = ContactLock(any_rt, 901)
    assert other.acquire(0.0) is False  # taken: the caller knocks and leaves
    assert holder.release() is True
    assert holder.acquire(1.0)
    assert holder.release() is False  # the knock was consumed


def test_a_row_whose_committer_gave_up_is_handled_by_the_holder(any_rt):
    load_pack(any_rt)
    contact_id = store(any_rt, "+254799100001", ["hi"])
    inner = make_deliver(any_rt)
    late: dict = {}

    def deliver(session, row, reply):
        if not late:  # a second message lands while we hold the lock; its committer cannot wait
            late["contact"] = store(any_rt, "+254799100001", ["hi", "1"])
            worker = threading.Thread(target=lambda: late.update(
                got=process_pending(any_rt, contact_id, make_deliver(any_rt), wait_s=0.0)))
            worker.start()
            worker.join(10)
        return inner(session, row, reply)

    process_pending(any_rt, contact_id, deliver)
    assert late["got"] == []  # the committer left at once
    with any_rt.session() as s:
        statuses = list(s.scalars(select(Message.status).where(
            Message.contact_id == contact_id, Message.direction == Direction.IN.value).order_by(Message.id)))
    assert statuses == [MessageStatus.HANDLED.value] * 2


def test_the_knock_is_taken_with_the_failed_attempt_in_one_round_trip(rt_redis):
    """Redis: the failed SET NX and the knock are one script, so there is no moment when the
    holder can let go between them and leave the caller's row to nobody."""
    holder = ContactLock(rt_redis, 902)
    assert holder.acquire(1.0)
    first = holder.token()
    caller = ContactLock(rt_redis, 902)
    sent: list[str] = []
    original = rt_redis.redis.execute_command

    def counted(*args, **kwargs):
        sent.append(str(args[0]).upper())
        return original(*args, **kwargs)

    rt_redis.redis.execute_command = counted
    try:
        assert caller.acquire(0.0) is False
    finally:
        rt_redis.redis.execute_command = original
    assert sent == ["EVALSHA"]  # the attempt and the knock together
    assert rt_redis.redis.get(caller.knock_key) == b"1"
    assert holder.release() is True  # the holder sees the knock and looks again
    assert caller.acquire(0.0) is True
    assert caller.token() > first  # the token drawn with the lock still rises past the holder's
    assert caller.release() is False
