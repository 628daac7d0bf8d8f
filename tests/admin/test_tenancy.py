"""Every resource: staff of another school get 404, on pages, forms and the API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin import auth
from core.models import Broadcast, SchoolClass, StaffUser, Student
from tests.admin.conftest import signed_in


def _gets(w):
    return [
        f"/admin/schools/{w.school_id}",
        f"/admin/classes/{w.class_id}",
        f"/admin/students/{w.student_id}",
        f"/admin/students/{w.student_id}/export.json",
        f"/admin/teachers/{w.teacher_id}",
        f"/admin/broadcasts/{w.broadcast_id}",
        f"/admin/progress?class_id={w.class_id}",
        f"/admin/messages?class_id={w.class_id}",
        f"/admin/students?class_id={w.class_id}",
    ]


def _posts(w):
    return [
        (f"/admin/schools/{w.school_id}", {"name": "Taken over", "country": "KE"}),
        (f"/admin/classes/{w.class_id}", {"name": "Taken"}),
        (f"/admin/classes/{w.class_id}/teachers", {"staff_user_id": str(w.teacher_id)}),
        (f"/admin/students/{w.student_id}", {"name": "Hacked", "language": "en", "channel": "sms"}),
        (f"/admin/students/{w.student_id}/active", {"active": "0"}),
        (f"/admin/students/{w.student_id}/move", {"class_id": str(w.class_id)}),
        (f"/admin/students/{w.student_id}/erase", {"confirm": "ERASE"}),
        (f"/admin/teachers/{w.teacher_id}", {"name": "x", "email": "x@example.org", "role": "teacher"}),
        ("/admin/broadcasts", {"target": f"class:{w.class_id}", "text": "spam"}),
        ("/admin/broadcasts", {"target": f"school:{w.school_id}", "text": "spam"}),
        (f"/admin/broadcasts/{w.broadcast_id}/cancel", {}),
    ]


@pytest.mark.parametrize("who", ["admin", "teacher"])
def test_other_schools_objects_are_404_on_every_page(world, client, who):
    email = world.b.admin_email if who == "admin" else world.b.teacher_email
    signed_in(client, email)
    for path in _gets(world.a):
        response = client.get(path)
        assert response.status_code == 404, (who, path, response.status_code)
        assert "Not found" in response.text
    # The same pages for the user's own school work (so the 404s above mean something).
    own = [p for p in _gets(world.b) if not (who == "teacher" and "/teachers/" in p)]
    for path in own:
        assert client.get(path).status_code == 200, (who, path)


@pytest.mark.parametrize("who", ["admin", "teacher"])
def test_other_schools_objects_are_404_on_every_form(rt, world, client, who):
    email = world.b.admin_email if who == "admin" else world.b.teacher_email
    csrf = signed_in(client, email)
    for path, data in _posts(world.a):
        response = client.post(path, data={**data, "csrf_token": csrf}, follow_redirects=False)
        assert response.status_code == 404, (who, path, response.status_code, response.text[:300])
    with rt.session() as s:
        student = s.get(Student, world.a.student_id)
        assert student is not None and student.name == "Student A" and student.active
        assert s.get(SchoolClass, world.a.class_id).name == "6A"
        assert s.scalar(select(Broadcast).where(Broadcast.text == "spam")) is None
        assert s.get(StaffUser, world.a.teacher_id).name == ""


def test_lists_show_only_the_users_school(world, client):
    signed_in(client, world.b.admin_email)
    for path, theirs, ours in [
        ("/admin/students", "Student A", "Student B"),
        ("/admin/classes", "6A", "6B"),
        ("/admin/schools", "School A", "School B"),
        ("/admin/messages", "hi from A", "hi from B"),
        ("/admin/broadcasts", "Hello A", "Hello B"),
        ("/admin/teachers", "teachera@", "teacherb@"),
        ("/admin/progress", ">6A<", ">6B<"),
    ]:
        html = client.get(path).text
        assert ours in html, path
        assert theirs not in html, path


def test_platform_admin_sees_every_school(world, client):
    signed_in(client, world.platform_email)
    for w in (world.a, world.b):
        for path in _gets(w):
            assert client.get(path).status_code == 200, path


def test_teacher_sees_only_their_classes_in_their_own_school(rt, world, client):
    from tests import factories

    with rt.session() as s:
        from core.models import School

        other = factories.school_class(s, school=s.get(School, world.a.school_id), name="7A")
        factories.student(s, phone="+254700000199", name="Other Class Kid", klass=other)
        other_id = other.id
    signed_in(client, world.a.teacher_email)
    assert client.get(f"/admin/classes/{other_id}").status_code == 404
    assert "Other Class Kid" not in client.get("/admin/students").text
    assert client.get("/admin/teachers").status_code == 403  # managing staff is not a teacher's job
    assert client.get("/admin/enrol").status_code == 403


def _token(rt, email):
    with rt.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == email))
        token, _ = auth.new_api_token(s, user, "sis")
    return {"Authorization": f"Bearer {token}"}


def test_api_is_scoped_like_the_pages(rt, world, client):
    headers = _token(rt, world.b.admin_email)
    a = world.a
    for path in (f"/api/v1/students/{a.student_id}", f"/api/v1/broadcasts/{a.broadcast_id}",
                 f"/api/v1/progress/mastery?class_id={a.class_id}", f"/api/v1/progress/lessons?class_id={a.class_id}",
                 f"/api/v1/students?class_id={a.class_id}"):
        response = client.get(path, headers=headers)
        assert response.status_code == 404, path
        assert "not found" in response.json()["detail"]
    put = client.put("/api/v1/students", headers=headers,
                     json={"class_id": a.class_id, "name": "Intruder", "phone": "+254711000111"})
    assert put.status_code == 404
    post = client.post("/api/v1/broadcasts", headers=headers, json={"class_id": a.class_id, "text": "spam"})
    assert post.status_code == 404
    assert [s["name"] for s in client.get("/api/v1/students", headers=headers).json()] == ["Student B"]
    assert [c["name"] for c in client.get("/api/v1/classes", headers=headers).json()] == ["6B"]
