"""A broadcast to 1,000 enrolled students (50 opted out) through real Redis and an rq worker:
each of the 950 gets exactly one message (provider calls counted through respx), none of
the 50 does, and the teacher's summary is right."""

from __future__ import annotations

import itertools
import json
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from rq import SimpleWorker
from sqlalchemy import func, select

from channels.base import StatusUpdate
from channels.receipts import apply_status
from conversation.broadcasts import check_broadcast
from core import clock
from core.messages import Inbound
from core.models import Broadcast, BroadcastRecipient, ClassTeacher, Contact, Enrolment, Message, Student
from core.runtime import set_runtime
from gateway.pipeline import store_inbound
from tests import factories
from tests.conftest import make_runtime
from tests.gateway.conftest import PROVIDER_SETTINGS, fixture

TWILIO = "https://twilio.test/2010-04-01/Accounts/AC" + "a" * 32 + "/Messages.json"
TEACHER = "+254722009999"


@pytest.fixture
def rq_rt(pg_url, redis_url, tmp_path):
    settings = dict(PROVIDER_SETTINGS, at_api_key="", send_rate_per_second=5000.0, broadcast_confirm_over=5000,
                    rate_limit_per_minute=0)
    runtime = make_runtime(pg_url, redis_url, tmp_path=tmp_path, **settings)
    previous = set_runtime(runtime)
    yield runtime
    set_runtime(previous)
    runtime.redis.flushdb()
    runtime.close()


def _enrol(rt, n: int, opted_out: int) -> None:
    with rt.session() as s:
        school = factories.school(s, name="Big School")
        klass = factories.school_class(s, school=school, name="6B")
        contacts = [Contact(phone=f"+2547110{i:05d}", country="KE", channels_seen=["sms"], opted_out=i < opted_out)
                    for i in range(n)]
        s.add_all(contacts)
        s.flush()
        students = [Student(contact_id=c.id, school_id=school.id, name=f"S{i}", language="en", onboarded=True)
                    for i, c in enumerate(contacts)]
        s.add_all(students)
        s.flush()
        s.add_all([Enrolment(student_id=st.id, class_id=klass.id) for st in students])
        teacher = factories.staff(s, school=school, phone=TEACHER)
        s.add(ClassTeacher(class_id=klass.id, staff_user_id=teacher.id))


def _drain(rt) -> None:
    queues = [rt.queue.rq_queue(name) for name in ("ussd", "default", "broadcast", "low")]
    SimpleWorker(queues, connection=rt.redis).work(burst=True, logging_level="WARNING")


def test_broadcast_to_1000_students_with_50_opted_out(rq_rt):
    rt = rq_rt
    _enrol(rt, 1000, opted_out=50)
    sids = (f"SM{i:032d}" for i in itertools.count())
    sent_to: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        sent_to.append(form["To"][0])
        body = dict(fixture("twilio:create_answer"), sid=next(sids), to=form["To"][0])
        return httpx.Response(201, json=body)

    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(TWILIO).mock(side_effect=answer)
        # The teacher's command arrives over SMS (Twilio) and is handled by the worker.

        with rt.session() as s:
            stored = store_inbound(s, Inbound(channel="sms", provider="twilio", provider_message_id="SMteacher1",
                                              sender=TEACHER, recipient="+15005550006",
                                              text="BROADCAST 6B Exams start on Monday", received_at=clock.now()))
        rt.queue.enqueue("gateway.jobs.process_contact", stored.contact_id)
        _drain(rt)
        with rt.session() as s:
            b = s.scalar(select(Broadcast))
            assert b is not None and b.total == 950, "recipients are resolved at send time, opted-out excluded"
        check_broadcast(b.id)  # the settle check is scheduled 30 s ahead; run it now
        _drain(rt)

    students = [p for p in sent_to if p != TEACHER]
    assert len(students) == 950 and len(set(students)) == 950  # each exactly once
    assert not any(p < "+254711000050" for p in students)  # the 50 opted out got nothing
    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(BroadcastRecipient)) == 950
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.broadcast_id == b.id, Message.status == "sent")) == 950
        b = s.get(Broadcast, b.id)
        # Accepted by Twilio but no receipts yet: not settled, so no summary yet.
        assert (b.status, b.delivered, b.failed, b.summary_sent_at) == ("sending", 0, 0, None)
    teacher_texts = [p for p in sent_to if p == TEACHER]
    # One acknowledgement of the command; the summary waits for receipts (see the next test).
    assert len(teacher_texts) == 1
    assert route.call_count == 951


def test_summary_after_delivery_receipts(rq_rt):
    rt = rq_rt
    _enrol(rt, 30, opted_out=3)

    with respx.mock(assert_all_called=False) as mock:
        sids = (f"SM{i:032d}" for i in itertools.count())
        mock.post(TWILIO).mock(side_effect=lambda req: httpx.Response(
            201, json=dict(fixture("twilio:create_answer"), sid=next(sids))))
        with rt.session() as s:
            teacher = s.scalar(select(ClassTeacher))
            b = Broadcast(school_id=1, class_id=teacher.class_id, created_by_id=teacher.staff_user_id,
                          text="Hello", status="queued")
            s.add(b)
        rt.queue.enqueue("conversation.broadcasts.run_broadcast", b.id)
        _drain(rt)
        with rt.session() as s:
            rows = s.scalars(select(Message).where(Message.broadcast_id == b.id).order_by(Message.id)).all()
            assert len(rows) == 27
            for i, m in enumerate(rows):
                status = "failed" if i < 2 else "delivered"
                apply_status(s, "twilio", StatusUpdate(provider_message_id=m.provider_message_id, status=status,
                                                       error="30003" if i < 2 else None), {})
        check_broadcast(b.id)
        _drain(rt)
        with rt.session() as s:
            b = s.get(Broadcast, b.id)
            assert (b.status, b.total, b.delivered, b.failed) == ("settled", 27, 25, 2)
            summary = s.scalar(select(Message.text).where(Message.phone == TEACHER, Message.direction == "out"))
    assert summary == "Broadcast to 6B: delivered 25 of 27; 2 failed."


META = "https://graph.test/v21.0/106540352242922/messages"


@pytest.fixture
def wa_rt(db_url, tmp_path):
    settings = dict(PROVIDER_SETTINGS, at_api_key="", whatsapp_template_name="class_news", rate_limit_per_minute=0,
                    send_rate_per_second=1000.0)
    runtime = make_runtime(db_url, tmp_path=tmp_path, **settings)
    previous = set_runtime(runtime)
    yield runtime
    set_runtime(previous)
    runtime.close()


@respx.mock
def test_whatsapp_students_get_free_text_inside_the_window_and_the_template_outside(wa_rt):
    """A broadcast follows each student's channel; WhatsApp's 24-hour rule picks the form."""
    from datetime import timedelta

    rt = wa_rt
    with rt.session() as s:
        school = factories.school(s, name="WA School")
        klass = factories.school_class(s, school=school, name="6B")
        fresh = factories.student(s, phone="+254711000401", name="Fresh", klass=klass, channel="whatsapp")
        fresh.contact.last_inbound_whatsapp_at = clock.now() - timedelta(hours=2)
        stale = factories.student(s, phone="+254711000402", name="Stale", klass=klass, channel="whatsapp")
        stale.contact.last_inbound_whatsapp_at = clock.now() - timedelta(days=3)
        teacher = factories.staff(s, school=school, phone=TEACHER, classes=[klass])
        b = Broadcast(school_id=school.id, class_id=klass.id, created_by_id=teacher.id, text="Trip on Friday",
                      status="queued")
        s.add(b)
    ids = itertools.count()
    route = respx.post(META).mock(side_effect=lambda req: httpx.Response(
        200, json={"messages": [{"id": f"wamid.{next(ids)}"}]}))
    from conversation.broadcasts import run_broadcast

    run_broadcast(b.id)
    bodies = {json.loads(c.request.content)["to"]: json.loads(c.request.content) for c in route.calls}
    assert set(bodies) == {"254711000401", "254711000402"}
    assert bodies["254711000401"]["type"] == "text" and "Trip on Friday" in bodies["254711000401"]["text"]["body"]
    assert bodies["254711000402"]["type"] == "template"
    assert bodies["254711000402"]["template"]["name"] == "class_news"
