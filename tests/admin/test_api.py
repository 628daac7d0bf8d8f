"""/api/v1: bearer tokens, upserts, exports, broadcasts, OpenAPI."""

from __future__ import annotations

from sqlalchemy import select

from admin import auth
from core.models import ApiToken, Enrolment, StaffUser, Student
from tests.admin.conftest import signed_in


def _headers(rt, email):
    with rt.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == email))
        token, _ = auth.new_api_token(s, user, "sis")
    return {"Authorization": f"Bearer {token}"}


def test_api_needs_a_valid_token(rt, world, client):
    assert client.get("/api/v1/classes").status_code == 401
    assert client.get("/api/v1/classes", headers={"Authorization": "Bearer nope"}).json()["detail"] == \
        "unknown or revoked API token"
    headers = _headers(rt, world.a.admin_email)
    assert client.get("/api/v1/classes", headers=headers).status_code == 200
    with rt.session() as s:
        for row in s.scalars(select(ApiToken)):
            row.revoked = True
    assert client.get("/api/v1/classes", headers=headers).status_code == 401


def test_upsert_students_and_bulk_enrolments(rt, world, client):
    headers = _headers(rt, world.a.admin_email)
    body = {"class_id": world.a.class_id, "name": "Neema", "phone": "0711 222 333", "language": "sw"}
    first = client.put("/api/v1/students", headers=headers, json=body)
    assert first.status_code == 200 and first.json()["created"] is True
    assert first.json()["phone"] == "+254711222333" and first.json()["class_ids"] == [world.a.class_id]
    again = client.put("/api/v1/students", headers=headers, json={**body, "channel": "whatsapp"})
    assert again.json()["created"] is False and again.json()["id"] == first.json()["id"]
    assert again.json()["channel"] == "whatsapp"
    bulk = client.post("/api/v1/enrolments", headers=headers, json={"rows": [
        {"class_id": world.a.class_id, "name": "Otieno", "phone": "+254711222444"},
        {"class_id": world.a.class_id, "name": "Bad", "phone": "12345"},
        {"class_id": world.a.class_id, "name": "Lang", "phone": "+254711222555", "language": "fr"},
        {"class_id": world.b.class_id, "name": "Other", "phone": "+254711222666"},
    ]})
    assert bulk.status_code == 200
    rows = bulk.json()
    assert rows[0]["created"] is True and rows[0]["error"] is None
    assert rows[1]["error"].startswith("rows[1]: phone:")
    assert rows[2]["error"].startswith("rows[2]: language: must be one of")
    assert rows[3]["error"] == f"rows[3]: class {world.b.class_id} not found"
    with rt.session() as s:
        names = set(s.scalars(select(Student.name).join(Enrolment, Enrolment.student_id == Student.id)
                              .where(Enrolment.class_id == world.a.class_id)))
    assert names == {"Student A", "Neema", "Otieno"}
    bad = client.put("/api/v1/students", headers=headers, json={"class_id": 0, "name": "", "phone": ""})
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("body", "class_id"), ("body", "name"), ("body", "phone")}


def test_teacher_token_cannot_upsert(rt, world, client):
    headers = _headers(rt, world.a.teacher_email)
    r = client.put("/api/v1/students", headers=headers,
                   json={"class_id": world.a.class_id, "name": "X", "phone": "+254711222777"})
    assert r.status_code == 403


def test_progress_exports(rt, world, client):
    headers = _headers(rt, world.a.teacher_email)
    mastery = client.get("/api/v1/progress/mastery", headers=headers).json()
    assert [(m["student_id"], m["skill"], m["p_known"]) for m in mastery] == [(world.a.student_id, "add", 0.7)]
    lessons = client.get(f"/api/v1/progress/lessons?class_id={world.a.class_id}", headers=headers).json()
    assert [(x["topic"], x["step"], x["steps_total"]) for x in lessons] == [("fractions", 6, 6)]


def test_broadcast_via_api(rt, world, client):
    headers = _headers(rt, world.a.admin_email)
    r = client.post("/api/v1/broadcasts", headers=headers, json={"class_id": world.a.class_id, "text": "Hello 6A"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["total"] == 1 and out["delivered"] == 1 and out["status"] == "settled"
    both = client.post("/api/v1/broadcasts", headers=headers,
                       json={"class_id": world.a.class_id, "school_id": world.a.school_id, "text": "x"})
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    listed = client.get("/api/v1/broadcasts", headers=headers).json()
    assert {b["text"] for b in listed} == {"Hello A", "Hello 6A"}


def test_openapi_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/students", "/api/v1/enrolments", "/api/v1/classes", "/api/v1/progress/mastery",
                 "/api/v1/broadcasts"):
        assert path in spec["paths"], path
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 200


def test_token_page_makes_and_revokes_tokens(rt, world, client):
    csrf = signed_in(client, world.a.admin_email)
    page = client.post("/admin/tokens", data={"csrf_token": csrf, "name": "SIS sync"})
    token = page.text.split('id="new-token">')[1].split("<")[0]
    assert token.startswith("somo_")
    assert client.get("/api/v1/classes", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with rt.session() as s:
        tid = s.scalar(select(ApiToken.id).where(ApiToken.name == "SIS sync"))
    client.post(f"/admin/tokens/{tid}/revoke", data={"csrf_token": csrf})
    assert client.get("/api/v1/classes", headers={"Authorization": f"Bearer {token}"}).status_code == 401
