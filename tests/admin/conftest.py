"""Fixtures for the admin: an app client, and two schools whose staff must never meet."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from admin import auth
from core.models import (
    Broadcast,
    LessonProgress,
    Message,
    PracticeAttempt,
    Role,
    SkillMastery,
)
from gateway.app import create_app
from tests import factories

PASSWORD = "correct-horse-battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD):
    page = client.get("/admin/login")
    return client.post("/admin/login", data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
                       follow_redirects=False)


def signed_in(client: TestClient, email: str) -> str:
    """Sign in and return the session's CSRF token (from the dashboard's logout form)."""
    response = login(client, email)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/admin/").text)


@dataclass
class SchoolWorld:
    school_id: int
    class_id: int
    student_id: int
    admin_email: str
    teacher_email: str
    teacher_id: int
    broadcast_id: int
    message_id: int
    phone: str


def _school(session, tag: str, n: int) -> SchoolWorld:
    pw = auth.hash_password(PASSWORD)
    school = factories.school(session, name=f"School {tag}")
    klass = factories.school_class(session, school=school, name=f"6{tag}")
    student = factories.student(session, phone=f"+2547000001{n:02d}", name=f"Student {tag}", klass=klass)
    admin = factories.staff(session, role=Role.SCHOOL_ADMIN, school=school, email=f"admin{tag.lower()}@example.org",
                            password_hash=pw)
    teacher = factories.staff(session, role=Role.TEACHER, school=school, email=f"teacher{tag.lower()}@example.org",
                              classes=[klass], password_hash=pw)
    b = Broadcast(school_id=school.id, class_id=klass.id, text=f"Hello {tag}", status="settled")
    msg = Message(direction="in", channel="sms", provider="console", phone=student.contact.phone,
                  contact_id=student.contact_id, student_id=student.id, text=f"hi from {tag}", status="handled")
    session.add_all([b, msg])
    session.add(SkillMastery(student_id=student.id, pack="mini-math", topic="fractions", skill="add", p_known=0.7))
    session.add(LessonProgress(student_id=student.id, pack="mini-math", topic="fractions", mode="teach", step=6,
                               steps_total=6))
    session.add(PracticeAttempt(student_id=student.id, pack="mini-math", topic="fractions", skill="add",
                                question_key="q1", question="1/2 + 1/4?", qtype="short", answer_given="3/4",
                                correct_answer="3/4", correct=True))
    session.flush()
    return SchoolWorld(school.id, klass.id, student.id, admin.email, teacher.email, teacher.id, b.id, msg.id,
                       student.contact.phone)


@dataclass
class World:
    a: SchoolWorld
    b: SchoolWorld
    platform_email: str


@pytest.fixture
def world(rt) -> World:
    with rt.session() as session:
        a, b = _school(session, "A", 1), _school(session, "B", 2)
        factories.staff(session, role=Role.PLATFORM_ADMIN, email="root@example.org",
                        password_hash=auth.hash_password(PASSWORD))
    return World(a, b, "root@example.org")


@pytest.fixture
def client(rt):
    with TestClient(create_app(rt), base_url="http://testserver") as c:
        yield c
