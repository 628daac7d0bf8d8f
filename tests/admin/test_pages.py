"""The admin pages doing their jobs: escaping, students, enrolment import, curriculum, progress."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from core.models import (
    AuditLog,
    Contact,
    CurriculumPack,
    Enrolment,
    Message,
    PracticeAttempt,
    SchoolClass,
    SkillMastery,
    Student,
)
from tests import factories
from tests.admin.conftest import signed_in

PACK = Path(__file__).resolve().parents[1] / "fixtures" / "packs" / "mini-math.yaml"
XSS = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


def test_student_supplied_script_is_shown_as_text_everywhere(rt, world, client):
    with rt.session() as s:
        student = s.get(Student, world.a.student_id)
        student.name = XSS
        s.add(Message(direction="in", channel="sms", provider="console", phone=world.a.phone,
                      contact_id=student.contact_id, student_id=student.id, text=XSS, status="handled"))
        s.add(PracticeAttempt(student_id=student.id, pack="p", topic="t", skill="s", question_key="k", question="q",
                              qtype="short", answer_given=XSS, correct_answer="1", correct=False))
    signed_in(client, world.a.admin_email)
    escaped = "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    for path in ("/admin/messages", "/admin/students", f"/admin/students/{world.a.student_id}",
                 f"/admin/classes/{world.a.class_id}", f"/admin/progress?class_id={world.a.class_id}"):
        html = client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert escaped in html, path
    assert "<script" not in client.get("/admin/messages").text.replace('<script src="', "")


def test_add_edit_move_deactivate_a_student(rt, world, client):
    csrf = signed_in(client, world.a.admin_email)
    with rt.session() as s:
        from core.models import School

        other = factories.school_class(s, school=s.get(School, world.a.school_id), name="7A")
        other_id = other.id
    r = client.post("/admin/students", data={"csrf_token": csrf, "name": "Wanjiru", "phone": "0712 345 678",
                                             "class_id": str(world.a.class_id), "language": "sw", "channel": "ussd"},
                    follow_redirects=False)
    assert r.status_code == 303
    sid = int(r.headers["location"].rsplit("/", 1)[1])
    bad = client.post("/admin/students", data={"csrf_token": csrf, "name": "X", "phone": "+256 772 123456x",
                                               "class_id": str(world.a.class_id)})
    assert bad.status_code == 400 and "phone:" in bad.text
    ug = client.post("/admin/students", data={"csrf_token": csrf, "name": "X", "phone": "+256772123456",
                                              "class_id": str(world.a.class_id)})
    assert ug.status_code == 400 and "not a valid number for KE" in ug.text
    assert client.post(f"/admin/students/{sid}", data={"csrf_token": csrf, "name": "Wanjiru K", "language": "en",
                                                       "channel": "sms", "parent_phone": "0722000111"}).status_code == 200
    client.post(f"/admin/students/{sid}/move", data={"csrf_token": csrf, "class_id": str(other_id)})
    client.post(f"/admin/students/{sid}/active", data={"csrf_token": csrf, "active": "0"})
    with rt.session() as s:
        st = s.get(Student, sid)
        assert (st.name, st.language, st.preferred_channel, st.parent_phone, st.active) == (
            "Wanjiru K", "en", "sms", "+254722000111", False)
        assert s.get(Contact, st.contact_id).phone == "+254712345678"
        active = {e.class_id for e in s.scalars(select(Enrolment).where(Enrolment.student_id == sid, Enrolment.active))}
        assert active == {other_id}
        actions = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.object_id == str(sid)))]
    assert actions == ["student.create", "student.update", "student.move", "student.deactivate"]
    assert "Wanjiru K" not in client.get("/admin/students").text  # inactive are hidden by default
    assert "Wanjiru K" in client.get("/admin/students?inactive=true&q=wanj").text
    assert "Wanjiru K" in client.get("/admin/students?inactive=true&q=712345").text


def test_export_and_erase_a_student(rt, world, client):
    csrf = signed_in(client, world.a.admin_email)
    export = client.get(f"/admin/students/{world.a.student_id}/export.json")
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    data = json.loads(export.text)
    assert data["student"]["name"] == "Student A" and "pin_hash" not in data["student"]
    assert data["contact"]["phone"] == world.a.phone
    assert [m["text"] for m in data["messages"]] == ["hi from A"]
    assert len(data["attempts"]) == 1 and len(data["progress"]) == 1 and data["mastery"][0]["p_known"] == 0.7
    assert len(data["enrolments"]) == 1
    refused = client.post(f"/admin/students/{world.a.student_id}/erase", data={"csrf_token": csrf, "confirm": "no"})
    assert refused.status_code == 400 and "type ERASE" in refused.text
    done = client.post(f"/admin/students/{world.a.student_id}/erase", data={"csrf_token": csrf, "confirm": "ERASE"},
                       follow_redirects=False)
    assert done.status_code == 303
    with rt.session() as s:
        assert s.get(Student, world.a.student_id) is None
        assert s.scalar(select(Contact).where(Contact.phone == world.a.phone)) is None
        for model in (Message, PracticeAttempt, SkillMastery, Enrolment):
            assert s.scalar(select(func.count()).select_from(model).where(model.student_id == world.a.student_id)) == 0
        assert s.scalar(select(Student).where(Student.id == world.b.student_id)) is not None  # others untouched
        erase = s.scalar(select(AuditLog).where(AuditLog.action == "student.erase"))
        assert erase.object_id == str(world.a.student_id) and erase.after["messages"] == 1
    assert client.get(f"/admin/students/{world.a.student_id}").status_code == 404


def test_erase_keeps_a_shared_contact_for_the_sibling(rt, world, client):
    with rt.session() as s:
        first = s.get(Student, world.a.student_id)
        sibling = factories.student(s, name="Sibling", contact_row=first.contact,
                                    klass=s.get(SchoolClass, world.a.class_id))
        sibling_id = sibling.id
    csrf = signed_in(client, world.a.admin_email)
    client.post(f"/admin/students/{world.a.student_id}/erase", data={"csrf_token": csrf, "confirm": "ERASE"})
    with rt.session() as s:
        contact = s.scalar(select(Contact).where(Contact.phone == world.a.phone))
        assert contact is not None and contact.active_student_id == sibling_id


CSV = """school,class,grade,name,phone,role,language,channel
School A,6A,6,Baraka,0711 000 001,student,sw,sms
School A,6A,6,Chebet,+254711000002,student,en,whatsapp
School A,6A,6,Baraka,0711000001,student,sw,sms
School A,9Z,6,Nobody,0711000003,student,en,sms
School A,6A,6,Daudi,12345,student,en,sms
School B,6B,6,Eve,0711000004,student,en,sms
School A,6A,6,Fatuma,+256772123456,student,en,sms
School A,6A,6,Mwalimu Otieno,0722000005,teacher,en,sms
"""


def test_csv_import_preview_then_good_rows_and_error_report(rt, world, client):
    csrf = signed_in(client, world.a.admin_email)
    preview = client.post("/admin/enrol/preview", data={"csrf_token": csrf},
                          files={"csv_file": ("students.csv", CSV.encode(), "text/csv")})
    assert preview.status_code == 200
    assert "3 good row(s), 5 bad row(s)" in preview.text
    for expected in ("duplicate of line 2", "unknown class &#39;9Z&#39;", "not your school: &#39;School B&#39;",
                     "not a valid number for KE"):
        assert expected in preview.text, expected
    with rt.session() as s:  # the preview wrote nothing
        assert s.scalar(select(Student).where(Student.name == "Baraka")) is None
    report = client.post("/admin/enrol/errors.csv", data={"csrf_token": csrf, "csv_text": CSV})
    lines = report.text.strip().splitlines()
    assert lines[0] == "line,field,reason" and len(lines) == 6
    assert [ln.split(",")[0] for ln in lines[1:]] == ["4", "5", "6", "7", "8"]
    done = client.post("/admin/enrol/import", data={"csrf_token": csrf, "csv_text": CSV})
    assert "Imported 3 good row(s): 2 new student(s)" in done.text and "5 bad row(s) skipped" in done.text
    with rt.session() as s:
        names = set(s.scalars(select(Student.name).join(Enrolment, Enrolment.student_id == Student.id)
                              .where(Enrolment.class_id == world.a.class_id)))
        assert names == {"Student A", "Baraka", "Chebet"}
        assert s.scalar(select(AuditLog).where(AuditLog.action == "enrolment.import")).after["students"] == 2
    again = client.post("/admin/enrol/import", data={"csrf_token": csrf, "csv_text": CSV})
    assert "0 new student(s)" in again.text and "3 unchanged" in again.text


def test_csv_with_a_bad_header_says_which_columns_are_missing(world, client):
    csrf = signed_in(client, world.a.admin_email)
    r = client.post("/admin/enrol/preview", data={"csrf_token": csrf, "csv_text": "name,phone\nA,0711000001\n"})
    assert r.status_code == 400 and "missing column(s) school, class, grade" in r.text


def test_curriculum_upload_shows_errors_with_paths_then_imports(rt, world, client):
    csrf = signed_in(client, world.a.admin_email)
    text = PACK.read_text()
    broken = text.replace("grade: 6", "grade: six").replace("  - id: perimeter", "  - id: Perimeter!", 1)
    bad = client.post("/admin/curriculum", data={"csrf_token": csrf},
                      files={"pack_file": ("mini.yaml", broken.encode(), "application/yaml")})
    assert bad.status_code == 400
    assert "<code>grade:" in bad.text and "topics[1].id" in bad.text
    good = client.post("/admin/curriculum", data={"csrf_token": csrf},
                       files={"pack_file": ("mini.yaml", text.encode(), "application/yaml")})
    assert good.status_code == 200 and "Imported mini-math" in good.text and "indexed" in good.text
    with rt.session() as s:
        assert s.scalar(select(CurriculumPack.index_status).where(CurriculumPack.pack == "mini-math")) == "indexed"
    ask = client.post("/admin/curriculum/ask", data={"csrf_token": csrf, "pack": "mini-math", "lang": "en",
                                                     "question": "How do I add fractions with the same denominator?"})
    assert ask.status_code == 200 and 'id="answer"' in ask.text and "grounded" in ask.text


def test_teacher_cannot_upload_a_pack(world, client):
    csrf = signed_in(client, world.a.teacher_email)
    r = client.post("/admin/curriculum", data={"csrf_token": csrf},
                    files={"pack_file": ("mini.yaml", PACK.read_bytes(), "application/yaml")})
    assert r.status_code == 403


def test_progress_heatmap_and_dashboard_figures(rt, world, client):
    with rt.session() as s:
        klass = s.get(SchoolClass, world.a.class_id)
        kid = factories.student(s, phone="+254700000150", name="Zawadi", klass=klass)
        s.add(SkillMastery(student_id=kid.id, pack="mini-math", topic="fractions", skill="add", p_known=0.3))
        s.add(Message(direction="out", channel="sms", provider="console", phone=world.a.phone, segments=2,
                      student_id=world.a.student_id, text="reply", status="delivered"))
    signed_in(client, world.a.admin_email)
    classes = client.get("/admin/progress").text
    assert "50%" in classes and "heat-5" in classes  # mean of 0.7 and 0.3
    students = client.get(f"/admin/progress?class_id={world.a.class_id}").text
    assert "70%" in students and "30%" in students and "heat-7" in students and "heat-3" in students
    dash = client.get("/admin/").text
    assert "<dt>Students</dt><dd>2</dd>" in dash
    assert "<dt>Messages this week</dt><dd>2</dd>" in dash
    assert "<dt>SMS segments this week</dt><dd>2</dd>" in dash
    assert "<dt>Active this week</dt><dd>1</dd>" in dash


def test_message_log_filters(rt, world, client):
    with rt.session() as s:
        s.add(Message(direction="out", channel="whatsapp", provider="console", phone=world.a.phone,
                      student_id=world.a.student_id, text="wa reply", status="failed", error="boom"))
    signed_in(client, world.a.admin_email)
    assert "wa reply" in client.get("/admin/messages?channel=whatsapp").text
    assert "wa reply" not in client.get("/admin/messages?channel=sms").text
    assert "wa reply" in client.get("/admin/messages?status=failed").text
    assert "hi from A" not in client.get("/admin/messages?status=failed").text
    assert "hi from A" in client.get(f"/admin/messages?phone={world.a.phone[1:]}").text
    assert "hi from A" not in client.get("/admin/messages?phone=0711999999").text
    bad = client.get("/admin/messages?phone=abc")
    assert "phone: not a phone number" in bad.text


def test_bad_form_input_is_a_clear_400(world, client):
    csrf = signed_in(client, world.platform_email)
    r = client.post("/admin/schools", data={"csrf_token": csrf, "name": "X", "country": "US"})
    assert r.status_code == 400 and "country: must be one of KE, UG, ZM" in r.text
    r = client.post("/admin/classes", data={"csrf_token": csrf, "school_id": "abc", "name": "1"})
    assert r.status_code == 400 and "school_id: must be a whole number" in r.text
    r = client.post("/admin/teachers", data={"csrf_token": csrf, "school_id": str(world.a.school_id),
                                             "email": "new@example.org", "role": "teacher", "password": "short"})
    assert r.status_code == 400 and "password: at least 10 characters" in r.text
    assert client.get("/admin/students/not-a-number").status_code == 404


def test_empty_filters_mean_all_and_bad_ids_are_400(world, client):
    signed_in(client, world.a.admin_email)
    assert client.get("/admin/students?q=&class_id=").status_code == 200
    assert client.get("/admin/messages?phone=&class_id=&channel=&status=").status_code == 200
    r = client.get("/admin/progress?class_id=abc")
    assert r.status_code == 400 and "filter: expected an id" in r.text


def test_audit_log_is_scoped_to_the_school(rt, world, client):
    csrf = signed_in(client, world.a.admin_email)
    client.post(f"/admin/students/{world.a.student_id}/active", data={"csrf_token": csrf, "active": "0"})
    client.cookies.clear()
    signed_in(client, world.b.admin_email)
    html = client.get("/admin/audit").text
    assert "admina@example.org" not in html and "student.deactivate" not in html
    assert "adminb@example.org" in html  # their own login
    client.cookies.clear()
    signed_in(client, world.platform_email)
    assert "student.deactivate" in client.get("/admin/audit").text


def test_admin_root_and_static_files(client):
    r = client.get("/admin", follow_redirects=False)
    assert r.status_code in (307, 308) and r.headers["location"].endswith("/admin/")
    js = client.get("/admin/static/simulator.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and "textContent" in js.text
    assert "innerHTML" not in js.text  # replies are never parsed as HTML
    assert js.headers["cache-control"] == "public, max-age=86400"  # cached on slow connections
    assert client.get("/admin/login").headers["cache-control"] == "no-store"  # pages are not
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/admin/static/simulator.js" defer></script>' in page.text
    assert "<script>" not in page.text  # no inline script: the CSP would block it anyway
