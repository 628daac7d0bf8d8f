"""The turn's first statement on PostgreSQL: the inbound row, the contact and its learner are
read as columns and made into ORM objects by hand (`conversation.service._attach`). They must
be what a query would have loaded: persistent and clean, the columns read in place, the
others loading on first use, and a change written by the unit of work like any other."""

from __future__ import annotations

from sqlalchemy import inspect, select

from core import clock
from core.messages import Inbound
from core.models import Contact, Message, Student
from gateway.pipeline import _store_one
from tests.conftest import make_runtime


def test_the_turns_objects_are_as_loaded_clean_and_write_like_any_other(pg_url, tmp_path):
    from conversation.service import LOADED, _pending_with_floor

    rt = make_runtime(pg_url, tmp_path=tmp_path)
    try:
        # stored as the webhook stores it, not queued: no job may handle it before the test reads it
        stored = _store_one(rt, Inbound(channel="sms", provider="africastalking", provider_message_id="pr-1",
                                            sender="+254711000971", recipient="40404", text="Hello there",
                                            received_at=clock.now(), raw={"id": "pr-1"}))
        with rt.session() as s:
            learner = Student(contact_id=stored.contact_id, name="Amina", language="sw")
            s.add(learner)
            s.flush()
            s.get(Contact, stored.contact_id).active_student_id = learner.id
            s.commit()
            learner_id = learner.id
        with rt.session() as s:
            row, floor, more = _pending_with_floor(s, stored.contact_id)
            contact, student = s.info[LOADED]
            assert (row.id, row.text, row.channel, row.status, floor, more) == (
                stored.message_id, "Hello there", "sms", "received", 0, False)
            assert (contact.phone, contact.active_student_id) == ("+254711000971", learner_id)
            assert (student.id, student.name, student.language) == (learner_id, "Amina", "sw")
            for obj in (row, contact, student):
                state = inspect(obj)
                assert state.persistent and not state.modified and obj not in s.dirty
                assert s.get(type(obj), state.identity[0]) is obj  # in the identity map: no second load
            assert "segments" not in inspect(row).dict  # not read by the statement ...
            assert row.segments == 0  # ... so it loads on first use
            student.name = "Amina W."
            assert inspect(student).modified and student in s.dirty
            s.commit()
        with rt.session() as s:
            assert s.scalar(select(Student.name).where(Student.id == learner_id)) == "Amina W."
            assert s.scalar(select(Message.status).where(Message.id == stored.message_id)) == "received"
    finally:
        rt.close()
