"""`somo admin create-user` / `create-token` and the demo logins."""

from __future__ import annotations

import io
import sys

from sqlalchemy import select

from admin import auth
from admin.demo import DEMO_PASSWORD, seed_demo_admin
from core.demo import seed_demo
from core.models import ApiToken, AuditLog, ClassTeacher, Role, StaffUser
from gateway.cli import main
from tests import factories


def _run(monkeypatch, capsys, argv, stdin=""):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_create_first_platform_admin(rt, monkeypatch, capsys):
    code, out, _ = _run(monkeypatch, capsys, ["admin", "create-user", "--email", "Root@Example.org",
                                              "--password-stdin"], "a-long-password\n")
    assert code == 0 and "created platform admin root@example.org" in out
    with rt.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == "root@example.org"))
        assert user.role == Role.PLATFORM_ADMIN.value and user.school_id is None
        assert auth.authenticate(s, "root@example.org", "a-long-password").id == user.id
        assert s.scalar(select(AuditLog.action)) == "staff.create"


def test_create_user_refuses_bad_input_in_one_line(rt, monkeypatch, capsys):
    with rt.session() as s:
        factories.school(s, name="Kibera Primary")
    cases = [
        (["--email", "x@example.org", "--password-stdin"], "short\n", "password: at least 10 characters"),
        (["--email", "not-an-email", "--password-stdin"], "a-long-password\n", "email: not an email address"),
        (["--email", "t@example.org", "--role", "teacher", "--password-stdin"], "a-long-password\n",
         "school: a teacher needs a school"),
        (["--email", "t@example.org", "--role", "teacher", "--school", "Nowhere", "--password-stdin"],
         "a-long-password\n", "school: no school 'Nowhere'"),
    ]
    for args, stdin, message in cases:
        code, _, err = _run(monkeypatch, capsys, ["admin", "create-user", *args], stdin)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    code, out, _ = _run(monkeypatch, capsys, ["admin", "create-user", "--email", "t@example.org", "--role", "teacher",
                                              "--school", "kibera primary", "--password-stdin"], "a-long-password\n")
    assert code == 0
    code, _, err = _run(monkeypatch, capsys, ["admin", "create-user", "--email", "t@example.org",
                                              "--password-stdin"], "a-long-password\n")
    assert code == 2 and "already has an account" in err


def test_create_token_prints_it_once(rt, monkeypatch, capsys):
    with rt.session() as s:
        factories.staff(s, email="sis@example.org")
    code, out, _ = _run(monkeypatch, capsys, ["admin", "create-token", "--email", "sis@example.org", "--name", "SIS"])
    assert code == 0 and out.strip().startswith("somo_")
    with rt.session() as s:
        assert s.scalar(select(ApiToken.token_hash)) == auth.token_hash(out.strip())
    code, _, err = _run(monkeypatch, capsys, ["admin", "create-token", "--email", "nobody@example.org", "--name", "x"])
    assert code == 2 and "no active staff account" in err


def test_demo_logins_work_and_the_teacher_teaches_6b(rt):
    with rt.session() as s:
        seed_demo(s)
    notes = seed_demo_admin(rt)
    notes_again = seed_demo_admin(rt)  # idempotent
    assert notes == notes_again and len(notes) == 3
    assert any("admin@somo.demo / " + DEMO_PASSWORD in n for n in notes)
    with rt.session() as s:
        teacher = auth.authenticate(s, "achieng@somo.demo", DEMO_PASSWORD)
        assert teacher.phone == "+254700000100" and teacher.role == "teacher"
        assert s.scalar(select(ClassTeacher).where(ClassTeacher.staff_user_id == teacher.id)) is not None
        assert auth.authenticate(s, "head@somo.demo", DEMO_PASSWORD).role == "school_admin"
        assert auth.authenticate(s, "admin@somo.demo", DEMO_PASSWORD).school_id is None
