"""Sign-in, sessions, CSRF and lock-out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from admin import auth
from core import clock
from core.models import AdminSession, AuditLog, StaffUser
from tests.admin.conftest import PASSWORD, csrf_of, login, signed_in


def test_login_sets_a_secure_session_and_logout_ends_it(rt, world, client):
    response = login(client, world.a.admin_email)
    assert response.status_code == 303 and response.headers["location"] == "/admin/"
    cookie = response.headers["set-cookie"]
    assert "somo_admin=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain http public URL in tests
    page = client.get("/admin/")
    assert page.status_code == 200 and "Dashboard" in page.text
    token = client.cookies.get("somo_admin")
    with rt.session() as s:
        row = s.get(AdminSession, auth.token_hash(token))
        assert row is not None and row.id != token  # only the hash is stored
    out = client.post("/admin/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    with rt.session() as s:
        assert s.get(AdminSession, auth.token_hash(token)) is None
    client.cookies.set("somo_admin", token, path="/admin")  # replaying the old cookie does not work
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_unauthenticated_pages_redirect_to_login(world, client):
    response = client.get("/admin/students", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=/admin/students"


def test_login_makes_a_new_session_id_no_fixation(rt, world, client):
    signed_in(client, world.a.admin_email)
    first = client.cookies.get("somo_admin")
    login(client, world.a.admin_email)
    second = client.cookies.get("somo_admin")
    assert first != second
    with rt.session() as s:
        assert s.get(AdminSession, auth.token_hash(first)) is None  # the old session is dropped


def test_cookie_is_secure_behind_https(db_url, tmp_path):
    from fastapi.testclient import TestClient

    from gateway.app import create_app
    from tests import factories
    from tests.conftest import make_runtime

    rt = make_runtime(db_url, tmp_path=tmp_path, public_base_url="https://somo.example.org")
    with rt.session() as s:
        factories.staff(s, email="tls@example.org", password_hash=auth.hash_password(PASSWORD))
    with TestClient(create_app(rt), base_url="https://testserver") as c:
        page = c.get("/admin/login")
        assert "strict-transport-security" in page.headers
        response = c.post("/admin/login", data={"email": "tls@example.org", "password": PASSWORD,
                                                "csrf_token": csrf_of(page.text)}, follow_redirects=False)
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]
    rt.close()


def test_login_form_without_csrf_is_refused(world, client):
    client.get("/admin/login")
    response = client.post("/admin/login", data={"email": world.a.admin_email, "password": PASSWORD},
                           follow_redirects=False)
    assert response.status_code == 403 and "CSRF" in response.text
    assert "somo_admin" not in client.cookies


def test_forms_without_or_with_a_wrong_csrf_token_are_refused(rt, world, client):
    signed_in(client, world.a.admin_email)
    posts = [
        ("/admin/logout", {}),
        (f"/admin/students/{world.a.student_id}", {"name": "X", "language": "en", "channel": "sms"}),
        ("/admin/broadcasts", {"target": f"class:{world.a.class_id}", "text": "hi"}),
        (f"/admin/classes/{world.a.class_id}", {"name": "7A"}),
        ("/admin/tokens", {"name": "sis"}),
        (f"/admin/students/{world.a.student_id}/erase", {"confirm": "ERASE"}),
    ]
    for path, data in posts:
        for token in (None, "forged-token"):
            body = dict(data, **({"csrf_token": token} if token else {}))
            response = client.post(path, data=body, follow_redirects=False)
            assert response.status_code == 403, (path, token, response.status_code)
            assert "CSRF token is missing or wrong" in response.text
    with rt.session() as s:
        from core.models import Broadcast, Student

        assert s.get(Student, world.a.student_id).name == "Student A"  # nothing changed
        assert len(s.scalars(select(Broadcast)).all()) == 2


def test_sixth_wrong_password_locks_the_account_for_15_minutes(rt, world, client):
    t0 = clock.now()
    clock.freeze(t0)
    for attempt in range(1, 6):
        response = login(client, world.a.teacher_email, "wrong-password!")
        assert response.status_code == 401, attempt
    sixth = login(client, world.a.teacher_email, "still-wrong-password")
    assert sixth.status_code == 401 and "locked" in sixth.text
    # Locked: even the right password is refused now.
    right = login(client, world.a.teacher_email)
    assert right.status_code == 401 and "locked" in right.text
    with rt.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == world.a.teacher_email))
        assert user.locked_until is not None and user.locked_until > t0 + timedelta(minutes=14)
    clock.freeze(t0 + timedelta(minutes=16))
    assert login(client, world.a.teacher_email).status_code == 303


def test_four_failures_then_success_resets_the_count(rt, world, client):
    for _ in range(4):
        assert login(client, world.a.teacher_email, "nope-nope-nope").status_code == 401
    assert login(client, world.a.teacher_email).status_code == 303
    with rt.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == world.a.teacher_email))
        assert user.failed_logins == 0 and user.locked_until is None


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(world, client):
    unknown = login(client, "nobody@example.org", "whatever-password")
    wrong = login(client, world.a.admin_email, "whatever-password")
    assert unknown.status_code == wrong.status_code == 401
    assert "Wrong email or password." in unknown.text and "Wrong email or password." in wrong.text


def test_open_redirect_after_login_is_refused(world, client):
    page = client.get("/admin/login?next=https://evil.example/")
    response = client.post("/admin/login", data={"email": world.a.admin_email, "password": PASSWORD,
                                                 "next": "https://evil.example/", "csrf_token": csrf_of(page.text)},
                           follow_redirects=False)
    assert response.headers["location"] == "/admin/"


def test_security_headers_on_admin_and_simulator(world, client):
    for path in ("/admin/login", "/", "/admin/static/admin.css"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert "'unsafe-inline'" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "strict-transport-security" not in headers  # plain http


def test_login_and_logout_are_audited(rt, world, client):
    csrf = signed_in(client, world.a.admin_email)
    client.post("/admin/logout", data={"csrf_token": csrf})
    with rt.session() as s:
        actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["login", "logout"]


def test_a_write_is_committed_before_its_answer_leaves(rt, world):
    """A POST that answers with a redirect has committed by the time the browser has the
    redirect: FastAPI runs a yield dependency's exit (our commit) after the response unless the
    dependency is function-scoped, and the sign-in's redirect then reached the browser before
    its session row existed (the dashboard it loaded sent it back to sign in: a flaky browser
    test). Here a slow commit must still come before the answer, on a real server."""
    import threading
    import time

    import httpx
    from sqlalchemy import event

    from gateway.app import create_app
    from tests.admin.browser import serve

    committed: list[float] = []

    def slow_commit(_conn):
        if threading.current_thread() is not threading.main_thread():  # the server's, not the fixture's
            time.sleep(0.3)
            committed.append(time.perf_counter())

    with serve(create_app(rt)) as base, httpx.Client(base_url=base) as http:
        page = http.get("/admin/login")
        event.listen(rt.engine, "commit", slow_commit)
        try:
            response = http.post("/admin/login", data={"email": world.a.admin_email, "password": PASSWORD,
                                                       "csrf_token": csrf_of(page.text)})
            answered = time.perf_counter()
        finally:
            event.remove(rt.engine, "commit", slow_commit)
        assert response.status_code == 303 and response.headers["location"] == "/admin/"
        assert committed and committed[0] < answered  # the session row was there before the redirect
        assert http.get("/admin/").status_code == 200  # and the page it points to is signed in
