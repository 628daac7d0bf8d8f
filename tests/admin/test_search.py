"""The student search matches what was typed: `%` and `_` are letters, not LIKE wildcards,
on both backends (PostgreSQL's ILIKE and SQLite's lower() LIKE)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from core.models import SchoolClass
from core.runtime import Runtime
from tests import factories
from tests.admin.conftest import signed_in
from tests.conftest import installed_runtime

NAMES = ("Neema 50%", "Neema 500", "Neema a_b", "Neema axb", "Neema ab")


@pytest.fixture
def rt(any_db_url, tmp_path) -> Iterator[Runtime]:
    """The admin world (tests/admin/conftest.py) on SQLite and on PostgreSQL."""
    with installed_runtime(any_db_url, tmp_path) as runtime:
        yield runtime


@pytest.fixture
def named(rt, world):
    with rt.session() as s:
        klass = s.get(SchoolClass, world.a.class_id)
        for n, name in enumerate(NAMES):
            factories.student(s, phone=f"+2547110002{n:02d}", name=name, klass=klass)
    return world


def found(client, q: str) -> list[str]:
    page = client.get("/admin/students", params={"q": q})
    assert page.status_code == 200
    return sorted(re.findall(r'<a href="/admin/students/\d+">([^<]*)</a>', page.text))


def test_percent_and_underscore_match_themselves(named, client):
    signed_in(client, named.a.admin_email)
    assert found(client, "50%") == ["Neema 50%"]  # not "Neema 500"
    assert found(client, "a_b") == ["Neema a_b"]  # not "Neema axb"
    assert found(client, "A_B") == ["Neema a_b"]  # still case-insensitive
    assert found(client, "%") == ["Neema 50%"]  # a bare % does not list everyone
    assert found(client, "_") == ["Neema a_b"]
    assert found(client, "neema") == sorted(NAMES)  # an ordinary search is unchanged
    assert found(client, "0002") == sorted(NAMES)  # and so is the phone search


def test_the_audit_filter_matches_underscore_literally(rt, world, client):
    csrf = signed_in(client, world.a.admin_email)
    client.post(f"/admin/students/{world.a.student_id}/active", data={"csrf_token": csrf, "active": "0"})

    def actions(prefix: str) -> str:
        page = client.get("/admin/audit", params={"action": prefix})
        assert page.status_code == 200
        return page.text

    assert "student.deactivate" in actions("student.")
    assert "student.deactivate" not in actions("student_")  # as LIKE 'student_%' it would match
    assert "student.deactivate" not in actions("%deactivate")
