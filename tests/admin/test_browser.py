"""Browser tests in Debian's chromium (headless): the admin's main jobs and a lesson in the simulator.

Screenshots land in test-artifacts/; with SOMO_README_SHOTS=1 the README's two are copied to docs/img/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.app import create_app
from tests.admin.browser import CHROMIUM, PASSWORD, seed, serve, shot
from tests.conftest import installed_runtime

pytestmark = pytest.mark.browser

CSV = """school,class,grade,name,phone,role,language,channel
Kilimani Primary,6A,6,Jabari,0712 000 401,student,sw,sms
Kilimani Primary,6A,6,Kamau,+254712000402,student,en,whatsapp
Kilimani Primary,6B,6,Lulu,0712000403,student,en,ussd
Kilimani Primary,6A,6,Bad Phone,07120,student,en,sms
Kilimani Primary,9Z,9,No Class,0712000405,student,en,sms
"""


@pytest.fixture
def rt(db_url, tmp_path):
    """No inbound rate limit: a lesson sends many messages a minute from one phone."""
    with installed_runtime(db_url, tmp_path, rate_limit_per_minute=0) as runtime:
        yield runtime


@pytest.fixture
def site(rt):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    data = seed(rt)
    with serve(create_app(rt)) as base:
        data["base"] = base
        yield data


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1100, "height": 800}, accept_downloads=True)
        context.set_default_timeout(90_000)  # a shared 2-core machine under load can be slow to navigate
        context.set_default_navigation_timeout(90_000)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.console_errors = errors
        yield pg
        browser.close()


def test_admin_signs_in_imports_a_csv_and_broadcasts(site, page, tmp_path):
    base = site["base"]
    page.goto(f"{base}/admin/")
    assert page.url.startswith(f"{base}/admin/login")
    page.get_by_label("Email").fill("head@kilimani.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin/")
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    shot(page, "admin-dashboard")

    csv_path = tmp_path / "students.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(str(csv_path))
    page.get_by_role("button", name="Preview").click()
    assert page.locator("#preview-summary").inner_text() == "3 good row(s), 2 bad row(s)."
    errors = page.locator("#errors tbody").inner_text()
    assert "not a possible phone number" in errors or "not a phone number" in errors
    assert "unknown class '9Z'" in errors
    shot(page, "admin-import-preview")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the error report (CSV)").click()
    report = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert report[0] == "line,field,reason" and [r.split(",")[0] for r in report[1:]] == ["5", "6"]
    page.get_by_role("button", name="Import 3 good row(s)").click()
    summary = page.locator("#import-summary").inner_text()
    assert "Imported 3 good row(s): 3 new student(s)" in summary and "2 bad row(s) skipped" in summary
    shot(page, "admin-import-done")

    page.get_by_role("link", name="Students").click()
    page.get_by_label("Search name or phone").fill("Jabari")
    page.get_by_role("button", name="Search").click()
    assert page.get_by_role("link", name="Jabari").is_visible()

    page.get_by_role("link", name="Broadcasts").click()
    page.get_by_label("Send to").select_option(label="Class 6A")
    page.get_by_label("Message (at most 640 characters)").fill("Reminder: maths quiz on Friday. Revise fractions!")
    page.get_by_role("button", name="Send broadcast").click()
    page.wait_for_url(re.compile(r".*/admin/broadcasts/\d+$"))
    # 6A: three seeded students, Wanjiku, and Jabari and Kamau from the CSV.
    assert page.locator("#total").inner_text() == "6"
    assert page.locator("#delivered").inner_text() == "6"
    assert page.locator("#failed").inner_text() == "0"
    shot(page, "admin-broadcast")

    page.get_by_role("link", name="Progress").click()
    assert page.locator("#heatmap tbody tr").count() == 3
    shot(page, "progress", readme=True)
    page.get_by_role("link", name="Audit log").click()
    audit = page.locator("#audit").inner_text()
    for action in ("login", "enrolment.import", "broadcast.create"):
        assert action in audit
    assert page.console_errors == []  # no CSP violations or script errors


def _send(page, text: str) -> str:
    """Type into the simulated phone; return Somo's replies to this message."""
    before = page.locator(".bubble.somo").count()
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    page.wait_for_function(
        "n => document.querySelectorAll('.bubble.somo').length > n && !document.getElementById('sim-status').textContent",
        arg=before, timeout=20_000)
    bubbles = page.locator(".bubble.somo").all_inner_texts()
    return "\n".join(bubbles[before:])


def _choose(screen: str, label: str) -> str:
    match = re.search(rf"(\d+)\. {re.escape(label)}", screen)
    assert match, f"no option {label!r} in:\n{screen}"
    return match.group(1)


def test_a_lesson_to_its_end_in_the_simulator(rt, site, page):
    page.goto(site["base"] + "/")
    assert page.get_by_role("heading", name="Talk to Somo").is_visible()
    page.get_by_label("Student's phone").fill("+254700000301")
    page.get_by_label("Student's phone").dispatch_event("change")
    screen = _send(page, "hi")
    screen = _send(page, _choose(screen, "English"))
    screen = _send(page, "1")  # consent
    screen = _send(page, _choose(screen, "Mathematics"))
    screen = _send(page, _choose(screen, "Adding fractions"))
    screen = " ".join(_send(page, "1").split())  # learn step by step: over SMS the reading steps
    assert all(f"Step {n}/6" in screen for n in (1, 2, 3, 4)), screen  # come with the practice question
    assert "Answer the question first" in _send(page, "NEXT")  # no skipping
    screen = " ".join(_send(page, "three quarters").split())
    assert "Correct!" in screen and "Step 5/6" in screen, screen  # the feedback with the quiz question
    screen = _send(page, "b")
    assert "Step 6/6" in screen and "Recap" in screen, screen
    shot(page, "simulator", readme=True)
    assert page.console_errors == []
    from sqlalchemy import select

    from core.models import Contact, LessonProgress
    with rt.session() as s:
        contact = s.scalar(select(Contact).where(Contact.phone == "+254700000301"))
        progress = s.scalar(select(LessonProgress).where(LessonProgress.student_id == contact.active_student_id))
        assert (progress.step, progress.steps_total) == (6, 6) and progress.completed_at is not None


def test_ussd_in_the_simulator_shows_screens_without_the_prefix(site, page):
    page.goto(site["base"] + "/")
    page.get_by_label("Student's phone").fill("+254700000301")
    page.get_by_label("USSD").check()
    page.get_by_role("button", name="Dial *384*6#").click()
    screen = page.locator("#sim-ussd-text")
    page.wait_for_function("() => !document.getElementById('sim-ussd-text').textContent.includes('running')")
    text = screen.inner_text()
    assert "English" in text and not text.startswith(("CON", "END"))
    page.get_by_label("Message").fill(_choose(text, "English"))
    page.get_by_role("button", name="Send").click()
    page.wait_for_function("t => document.getElementById('sim-ussd-text').textContent !== t", arg=text)
    assert not screen.inner_text().startswith(("CON", "END"))
    shot(page, "simulator-ussd")
    before = screen.inner_text()
    page.get_by_label("Message").fill("STOP")  # Somo answers STOP with an END screen
    page.get_by_role("button", name="Send").click()
    page.wait_for_function("t => document.getElementById('sim-ussd-text').textContent !== t", arg=before)
    assert "no more messages" in screen.inner_text() and not screen.inner_text().startswith("END")
    assert page.get_by_role("status").inner_text() == "Session ended."
    assert page.get_by_role("button", name="Dial *384*6#").is_visible()  # END closed the session
    assert not page.get_by_label("Message").is_visible()
    assert page.console_errors == []


A11Y_CHECK = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (el.hidden || el.getAttribute('aria-hidden') === 'true') continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) problems.push('no label: ' + (el.name || el.id));
  }
  if (document.querySelectorAll('h1').length !== 1) problems.push('h1 count ' + document.querySelectorAll('h1').length);
  if (!document.querySelector('main')) problems.push('no main landmark');
  for (const b of document.querySelectorAll('button')) if (!b.innerText.trim()) problems.push('unnamed button');
  return problems;
}"""


def test_every_page_has_labels_one_heading_and_keyboard_focus(site, page):
    base = site["base"]
    page.goto(f"{base}/admin/login")
    assert page.evaluate(A11Y_CHECK) == []
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.get_by_label("Email").fill("head@kilimani.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")  # the form works from the keyboard
    page.wait_for_url(f"{base}/admin/")
    paths = ["/admin/", "/admin/schools", "/admin/classes", f"/admin/classes/{site['class_id']}", "/admin/students",
             "/admin/enrol", "/admin/teachers", "/admin/curriculum", "/admin/broadcasts", "/admin/progress",
             f"/admin/progress?class_id={site['class_id']}", "/admin/messages", "/admin/audit", "/admin/tokens", "/"]
    for path in paths:
        page.goto(base + path)
        assert page.evaluate(A11Y_CHECK) == [], path
    assert page.console_errors == []
