"""Sends a dead worker left `sending`: the sweep reconciles them after SEND_RECONCILE_AFTER_S.
Twilio's message log is asked (respx); Africa's Talking and Meta cannot be asked, so their rows
fail with the reason and are never sent again. Providers are mocked at the HTTP layer only."""

from __future__ import annotations

import threading
from datetime import timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs

import httpx
import pytest
import responses
import respx
from sqlalchemy import select, update

from channels.base import Rendered, StatusUpdate
from channels.jobs import send_message
from channels.outbound import store_outbound
from channels.receipts import apply_status
from channels.reconcile import INTERRUPTED, reconcile_sending
from core import clock
from core.models import Contact, Message
from core.runtime import set_runtime
from gateway.jobs import sweep
from tests.channels.conftest import PROVIDER_SETTINGS, fixture
from tests.channels.test_jobs import TWILIO, row
from tests.conftest import make_runtime

PHONE = "+254711000555"
SID = "SM" + "1" * 32
OTHER_SID = "SM" + "2" * 32
LATER = timedelta(minutes=16)  # past the default SEND_RECONCILE_AFTER_S (15 minutes)


class WorkerDied(BaseException):
    """The process ends during the provider call (nothing in the send job catches it)."""


def logged(*, sid=SID, body="Hello", to="+254711000555", from_="+15005550006", status="sent", created=None,
           direction="outbound-api", error_code=None) -> dict:
    """One message as Twilio's Messages list returns it."""
    created = created or clock.now()
    return {**fixture("twilio:create_answer"), "sid": sid, "body": body, "to": to, "from": from_, "status": status,
            "direction": direction, "error_code": error_code, "date_created": format_datetime(created),
            "date_sent": format_datetime(created) if status != "queued" else None}


def log_page(*messages) -> httpx.Response:
    return httpx.Response(200, json={"messages": list(messages), "next_page_uri": None, "previous_page_uri": None,
                                     "first_page_uri": "/x", "uri": "/x", "page": 0, "page_size": 100, "start": 0,
                                     "end": len(messages)})


def outbound(rt, *, provider="africastalking", channel="sms", text="Hello") -> int:
    """A queued row to the one test student (inside the WhatsApp window)."""
    with rt.session() as s:
        contact = s.scalar(select(Contact).where(Contact.phone == PHONE))
        if contact is None:
            contact = Contact(phone=PHONE, channels_seen=[channel], last_inbound_whatsapp_at=clock.now())
            s.add(contact)
            s.flush()
        (m,) = store_outbound(s, Rendered(messages=[text]), channel=channel, provider=provider, phone=PHONE,
                              contact_id=contact.id)
        return m.id


def claimed_then_died(rt, route, **kwargs) -> int:
    """A stored row, claimed by the real send job, whose worker dies while Twilio holds the request."""
    seen = {}

    def die(request):
        with rt.session() as s:  # what the claim wrote, seen from outside during the call
            m = s.get(Message, mid)
            seen.update(status=m.status, attempts=m.attempts, updated_at=m.updated_at)
        raise WorkerDied

    mid = outbound(rt, provider="twilio", **kwargs)
    route.mock(side_effect=die)
    claimed_at = clock.now()
    with pytest.raises(WorkerDied):
        send_message(mid)
    assert seen == {"status": "sending", "attempts": 1, "updated_at": claimed_at}  # the claim records its time
    return mid


def stuck(rt, *, provider="africastalking", channel="sms", text="Hello", age=LATER, attempts=1, **columns) -> int:
    """A row left `sending` `age` ago (a worker died after claiming it)."""
    mid = outbound(rt, provider=provider, channel=channel, text=text)
    with rt.session() as s:
        s.execute(update(Message).where(Message.id == mid)
                  .values(status="sending", attempts=attempts, updated_at=clock.now() - age, **columns))
    return mid


@pytest.fixture
def frozen():
    clock.freeze(clock.now().replace(microsecond=0))
    yield
    clock.freeze(None)


def later(delta=LATER) -> None:
    clock.freeze(clock.now() + delta)


@respx.mock
def test_twilio_has_it_so_the_row_is_recorded_sent_with_its_sid(gw_rt, frozen):
    create = respx.post(TWILIO)
    mid = claimed_then_died(gw_rt, create, text="Fractions: 1/2 + 1/4 = 3/4")
    claimed_at = clock.now()
    listing = respx.get(TWILIO).mock(return_value=log_page(
        logged(sid=OTHER_SID, body="an older reply", created=claimed_at - timedelta(hours=1)),
        logged(sid="SM" + "3" * 32, body="Fractions: 1/2 + 1/4 = 3/4", created=claimed_at - timedelta(hours=2)),
        logged(sid=SID, body="Fractions: 1/2 + 1/4 = 3/4", created=claimed_at + timedelta(seconds=1)),
        logged(sid="SM" + "4" * 32, body="Fractions: 1/2 + 1/4 = 3/4", direction="inbound",
               created=claimed_at + timedelta(seconds=2)),
    ))
    later(timedelta(minutes=3))
    assert sweep() == {"inbound": 0, "outbound": 0}  # before the setting: left alone, Twilio not asked
    assert listing.call_count == 0 and row(gw_rt, mid).status == "sending"
    later()
    assert sweep() == {"inbound": 0, "outbound": 0, "reconciled_sent": 1}
    m = row(gw_rt, mid)
    assert (m.status, m.provider_message_id, m.attempts, m.error) == ("sent", SID, 1, None)
    assert create.call_count == 0  # never sent again (respx does not record the interrupted call)
    query = parse_qs(listing.calls.last.request.url.query.decode())
    assert query["To"] == ["+254711000555"] and query["From"] == ["+15005550006"]
    assert query["DateSent>"] == [f"{claimed_at - timedelta(minutes=2):%Y-%m-%d}"]
    with gw_rt.session() as s:  # a later status callback finds the row by its Sid
        apply_status(s, "twilio", StatusUpdate(SID, "delivered"), {"MessageSid": SID})
    assert row(gw_rt, mid).status == "delivered"
    assert sweep() == {"inbound": 0, "outbound": 0} and listing.call_count == 1


@respx.mock
def test_a_status_callback_that_came_while_the_row_had_no_sid_is_applied(gw_rt, frozen):
    mid = claimed_then_died(gw_rt, respx.post(TWILIO))
    with gw_rt.session() as s:  # Twilio took it and reported it delivered; we could not match it then
        assert apply_status(s, "twilio", StatusUpdate(SID, "delivered"), {"MessageSid": SID}) is None
    respx.get(TWILIO).mock(return_value=log_page(logged(status="delivered")))
    later()
    assert reconcile_sending(gw_rt)["sent"] == 1
    m = row(gw_rt, mid)
    assert (m.status, m.provider_message_id) == ("delivered", SID) and m.delivered_at is not None


@respx.mock
def test_twilio_has_no_copy_so_the_row_is_sent_again_exactly_once(gw_rt, frozen):
    create = respx.post(TWILIO)
    mid = claimed_then_died(gw_rt, create)
    listing = respx.get(TWILIO).mock(return_value=log_page(
        logged(sid=OTHER_SID, body="Hello", created=clock.now() - timedelta(hours=3))))  # an older "Hello"
    create.mock(return_value=httpx.Response(201, json={**fixture("twilio:create_answer"), "sid": SID}))
    later()
    assert sweep() == {"inbound": 0, "outbound": 0, "reconciled_requeued": 1}
    m = row(gw_rt, mid)
    assert (m.status, m.provider_message_id, m.attempts, m.error) == ("sent", SID, 2, None)
    assert create.call_count == 1  # one more after the interrupted call (which respx does not record)
    later()
    assert sweep() == {"inbound": 0, "outbound": 0}
    assert create.call_count == 1 and listing.call_count == 1


@pytest.mark.parametrize("gw_rt", [{"send_max_attempts": 1}], indirect=True)
@respx.mock
def test_twilio_has_no_copy_and_no_attempt_is_left_so_the_row_fails(gw_rt, frozen):
    create = respx.post(TWILIO)
    mid = claimed_then_died(gw_rt, create)
    respx.get(TWILIO).mock(return_value=log_page())
    later()
    assert reconcile_sending(gw_rt)["failed"] == 1
    m = row(gw_rt, mid)
    assert m.status == "failed" and m.error.startswith("gave up after 1 attempts: interrupted during the provider call")
    assert create.call_count == 0


@pytest.mark.parametrize("failure", [httpx.Response(503, text="unavailable"), httpx.ConnectTimeout("timed out"),
                                     httpx.Response(401, json={"code": 20003, "message": "Authenticate"})])
@respx.mock
def test_twilio_cannot_be_asked_so_the_rows_wait_for_the_next_pass(gw_rt, frozen, failure):
    first = stuck(gw_rt, provider="twilio")
    second = stuck(gw_rt, provider="twilio", text="Second")
    before = [(row(gw_rt, mid).status, row(gw_rt, mid).attempts, row(gw_rt, mid).updated_at) for mid in (first, second)]
    create = respx.post(TWILIO)
    listing = respx.get(TWILIO).mock(side_effect=[failure])
    assert sweep() == {"inbound": 0, "outbound": 0, "reconciled_unreachable": 2}
    after = [(row(gw_rt, mid).status, row(gw_rt, mid).attempts, row(gw_rt, mid).updated_at) for mid in (first, second)]
    assert after == before and listing.call_count == 1  # asked once in the pass, then left alone
    listing.mock(side_effect=[log_page(logged(created=clock.now() - timedelta(minutes=15))), log_page()])
    create.mock(return_value=httpx.Response(201, json={**fixture("twilio:create_answer"), "sid": OTHER_SID}))
    assert sweep() == {"inbound": 0, "outbound": 0, "reconciled_sent": 1, "reconciled_requeued": 1}
    assert (row(gw_rt, first).status, row(gw_rt, first).provider_message_id) == ("sent", SID)
    assert (row(gw_rt, second).status, row(gw_rt, second).provider_message_id) == ("sent", OTHER_SID)
    assert create.call_count == 1


@responses.activate
@respx.mock
def test_africastalking_and_meta_rows_fail_with_the_reason_and_the_provider_is_never_called(gw_rt, frozen):
    at = stuck(gw_rt)
    meta = stuck(gw_rt, provider="meta", channel="whatsapp")
    assert sweep() == {"inbound": 0, "outbound": 0, "reconciled_failed": 2}
    for mid in (at, meta):
        m = row(gw_rt, mid)
        assert (m.status, m.error, m.attempts, m.provider_message_id) == ("failed", INTERRUPTED, 1, None)
    assert len(responses.calls) == 0 and len(respx.calls) == 0
    later()
    assert sweep() == {"inbound": 0, "outbound": 0}
    assert len(responses.calls) == 0 and len(respx.calls) == 0


@respx.mock
def test_rows_younger_than_the_setting_and_answered_rows_are_untouched(gw_rt, frozen):
    young = stuck(gw_rt, provider="twilio", age=timedelta(minutes=14))
    young_at = stuck(gw_rt, age=timedelta(minutes=14))
    # the send's answer was written (its provider id): nothing to reconcile
    answered = stuck(gw_rt, provider="twilio", provider_message_id=SID)
    assert sweep() == {"inbound": 0, "outbound": 0}
    assert [row(gw_rt, mid).status for mid in (young, young_at, answered)] == ["sending"] * 3
    assert len(respx.calls) == 0


@pytest.mark.parametrize("gw_rt", [{"send_reconcile_after_s": 0}], indirect=True)
@respx.mock
def test_zero_switches_the_reconciliation_off(gw_rt, frozen):
    mid = stuck(gw_rt, age=timedelta(days=2))
    assert sweep() == {"inbound": 0, "outbound": 0}
    assert row(gw_rt, mid).status == "sending"


@respx.mock
def test_a_template_send_is_matched_on_its_addresses_and_time(gw_rt, frozen):
    mid = stuck(gw_rt, provider="twilio", channel="whatsapp", template="HX" + "b" * 32)
    claimed_at = row(gw_rt, mid).updated_at
    listing = respx.get(TWILIO).mock(return_value=log_page(
        logged(sid=OTHER_SID, body="Your lesson is ready: Fractions", to="whatsapp:+254711000555",
               from_="whatsapp:+14155238886", created=claimed_at + timedelta(seconds=1), status="queued")))
    assert reconcile_sending(gw_rt)["sent"] == 1
    assert (row(gw_rt, mid).status, row(gw_rt, mid).provider_message_id) == ("sent", OTHER_SID)
    query = parse_qs(listing.calls.last.request.url.query.decode())
    assert query["To"] == ["whatsapp:+254711000555"] and query["From"] == ["whatsapp:+14155238886"]


@respx.mock
def test_a_sid_already_recorded_on_another_row_is_not_this_one(gw_rt, frozen):
    mid = stuck(gw_rt, provider="twilio")
    with gw_rt.session() as s:  # an earlier "Hello" of ours, sent and recorded
        contact_id = s.get(Message, mid).contact_id
        s.add(Message(direction="out", channel="sms", provider="twilio", provider_message_id=OTHER_SID,
                      phone="+254711000555", contact_id=contact_id, text="Hello", status="delivered"))
    respx.post(TWILIO).mock(return_value=httpx.Response(201, json={**fixture("twilio:create_answer"), "sid": SID}))
    respx.get(TWILIO).mock(return_value=log_page(logged(sid=OTHER_SID, created=clock.now() - timedelta(minutes=15))))
    assert reconcile_sending(gw_rt)["requeued"] == 1
    assert (row(gw_rt, mid).status, row(gw_rt, mid).provider_message_id) == ("sent", SID)


@responses.activate
@respx.mock
def test_two_passes_at_once_settle_each_row_once(pg_url, tmp_path, frozen):
    rt = make_runtime(pg_url, tmp_path=tmp_path, **PROVIDER_SETTINGS)
    previous = set_runtime(rt)
    try:
        found = stuck(rt, provider="twilio", text="Found")
        missing = stuck(rt, provider="twilio", text="Missing")
        at = stuck(rt)
        meta = stuck(rt, provider="meta", channel="whatsapp")
        both_asked = threading.Barrier(2, timeout=10)

        def twilio_log(request):
            both_asked.wait()  # each pass has read every row before either writes one
            return log_page(logged(body="Found", created=clock.now() - timedelta(minutes=15)))

        respx.get(TWILIO).mock(side_effect=twilio_log)
        create = respx.post(TWILIO).mock(
            return_value=httpx.Response(201, json={**fixture("twilio:create_answer"), "sid": OTHER_SID}))
        results: list[dict[str, int]] = []
        errors: list[BaseException] = []

        def one_pass():
            try:
                results.append(reconcile_sending(rt))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=one_pass) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors and len(results) == 2
        total = {k: results[0][k] + results[1][k] for k in results[0]}
        assert total == {"sent": 1, "requeued": 1, "failed": 2, "unreachable": 0}
        assert create.call_count == 1  # the missing one, sent once
        with rt.session() as s:
            got = {mid: (s.get(Message, mid).status, s.get(Message, mid).provider_message_id)
                   for mid in (found, missing, at, meta)}
        assert got == {found: ("sent", SID), missing: ("sent", OTHER_SID), at: ("failed", None),
                       meta: ("failed", None)}
        assert len(responses.calls) == 0
    finally:
        set_runtime(previous)
        rt.close()



@respx.mock
def test_on_rq_a_send_twilio_has_no_copy_of_is_queued_and_a_worker_sends_it_once(pg_url, redis_url, tmp_path, frozen):
    """Production shape: the reconciled send is an rq job (PostgreSQL, Redis, a real worker)."""
    from rq.worker import SimpleWorker

    rt = make_runtime(pg_url, redis_url, tmp_path=tmp_path, **PROVIDER_SETTINGS)
    previous = set_runtime(rt)
    try:
        mid = stuck(rt, provider="twilio", created_at=clock.now() - LATER)
        respx.get(TWILIO).mock(return_value=log_page())
        create = respx.post(TWILIO).mock(
            return_value=httpx.Response(201, json={**fixture("twilio:create_answer"), "sid": SID}))
        assert sweep() == {"inbound": 0, "outbound": 0, "reconciled_requeued": 1}
        assert row(rt, mid).status == "queued" and create.call_count == 0
        # Before a worker runs it, the next sweep sees an old `queued` row and queues it too
        # (the safety net should that enqueue have been lost): the claim still sends it once.
        later(timedelta(minutes=1))
        assert sweep() == {"inbound": 0, "outbound": 1}
        SimpleWorker([rt.queue.rq_queue("default")], connection=rt.redis).work(burst=True)
        assert (row(rt, mid).status, row(rt, mid).provider_message_id, row(rt, mid).attempts) == ("sent", SID, 2)
        assert create.call_count == 1
    finally:
        set_runtime(previous)
        rt.redis.flushdb()
        rt.close()
