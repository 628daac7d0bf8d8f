"""Students join a class by writing to its own number or sending its keyword on a shared code."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import clock
from core.messages import Inbound
from core.models import Contact, Enrolment, SchoolClass, Student
from gateway.pipeline import handle_console
from tests import factories
from tests.conftest import installed_runtime
from tests.conversation.helpers import Phone, load_pack

CLASS_NUMBER = "+254700555666"


@pytest.fixture
def rt(db_url, tmp_path):
    with installed_runtime(db_url, tmp_path, rate_limit_per_minute=0) as runtime:
        yield runtime


@pytest.fixture
def klass(rt):
    load_pack(rt)
    with rt.session() as s:
        school = factories.school(s, name="Lakeside")
        k = factories.school_class(s, school=school, name="6B", keyword="SITAB", pack="mini-math")
        k.number = CLASS_NUMBER
        factories.staff(s, school=school, phone="+254722000777", classes=[k])
        return k.id


def _send_to(rt, phone: str, text: str, recipient: str) -> str:
    inbound = Inbound(channel="sms", provider="console", provider_message_id=f"j-{phone}-{text}-{clock.now()}",
                      sender=phone, recipient=recipient, text=text, received_at=clock.now())
    return "\n".join(handle_console(rt, inbound))


def _enrolled(rt, phone: str) -> list[int]:
    with rt.session() as s:
        contact = s.scalar(select(Contact).where(Contact.phone == phone))
        return list(s.scalars(select(Enrolment.class_id).join(Student, Student.id == Enrolment.student_id)
                              .where(Student.contact_id == contact.id)))


def test_a_new_student_on_the_class_number_joins_and_skips_the_class_code(rt, klass):
    first = _send_to(rt, "+254711000901", "hi", CLASS_NUMBER)
    assert "Choose your language" in first
    assert _enrolled(rt, "+254711000901") == [klass]
    assert "first name" in _send_to(rt, "+254711000901", "1", CLASS_NUMBER)
    after_name = _send_to(rt, "+254711000901", "Neema", CLASS_NUMBER)
    assert "class code" not in after_name  # already in 6B
    assert "6B" in after_name or "STOP" in after_name


def test_an_onboarded_student_joins_by_keyword_on_a_shared_code(rt, klass):
    phone = Phone(rt, "+254711000902")
    with rt.session() as s:
        factories.student(s, phone="+254711000902", name="Baraka")
    assert "You joined 6B at Lakeside. Reply MENU to start." in phone.send("JOIN sitab")
    assert _enrolled(rt, "+254711000902") == [klass]
    assert "You joined" not in phone.send("SITAB")  # already in: the keyword just carries on


def test_the_teacher_on_the_class_number_is_still_a_teacher(rt, klass):
    answer = _send_to(rt, "+254722000777", "RESULTS", CLASS_NUMBER)
    assert answer.startswith("6B: ")  # the class comes from the number it was sent to
    with rt.session() as s:
        assert s.scalar(select(Student).join(Contact).where(Contact.phone == "+254722000777")) is None
        assert s.get(SchoolClass, klass).name == "6B"
