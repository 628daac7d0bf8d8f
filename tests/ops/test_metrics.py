"""Drive traffic through the app, then read /metrics and find each series with its labels and counts."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from core import clock
from core.models import Student
from gateway.app import create_app
from tests import factories
from tests.ops.scrape import scrape

PHONE = "+254712345612"


def _console(client, text: str, message_id: str | None = None, channel: str = "sms"):
    body = {"phone": PHONE, "text": text, "channel": channel}
    if message_id:
        body["message_id"] = message_id
    response = client.post("/webhooks/console", json=body)
    assert response.status_code == 200, response.text
    return response


def test_inbound_counts_stored_and_duplicate_messages_per_channel(rt):
    client = TestClient(create_app(rt))
    before = scrape(client)
    _console(client, "hello", message_id="m-1")
    _console(client, "hello again", message_id="m-2")
    _console(client, "hello", message_id="m-1")  # the gateway retried: a duplicate
    _console(client, "menu", channel="whatsapp")
    after = scrape(client)
    series = "somo_inbound_messages_total"
    assert after.value(series, channel="sms", provider="console", status="stored") - before.value(
        series, channel="sms", provider="console", status="stored") == 2
    assert after.value(series, channel="sms", provider="console", status="duplicate") - before.value(
        series, channel="sms", provider="console", status="duplicate") == 1
    assert after.value(series, channel="whatsapp", provider="console", status="stored") - before.value(
        series, channel="whatsapp", provider="console", status="stored") == 1


def test_request_latency_is_recorded_per_route_template_with_status_codes(rt):
    client = TestClient(create_app(rt))
    before = scrape(client)
    for _ in range(3):
        _console(client, "hi")
    assert client.post("/webhooks/console", json={"phone": "not a phone"}).status_code == 400
    assert client.get("/no/such/path/12345").status_code == 404
    after = scrape(client)
    hist = "somo_webhook_seconds_count"
    assert after.value(hist, route="/webhooks/console") - before.value(hist, route="/webhooks/console") == 4
    assert after.has("somo_webhook_seconds_bucket", route="/webhooks/console", le="0.005")
    assert after.has("somo_webhook_seconds_bucket", route="/webhooks/console", le="+Inf")
    total = "somo_http_requests_total"
    ok = dict(route="/webhooks/console", method="POST", code="200")
    bad = dict(route="/webhooks/console", method="POST", code="400")
    assert after.value(total, **ok) - before.value(total, **ok) == 3
    assert after.value(total, **bad) - before.value(total, **bad) == 1
    # Unknown paths share one label, so a scanner cannot create a series per path.
    assert not any("/no/such/path" in dict(labels).get("route", "") for _, labels in after.samples)
    assert after.value(total, route="unmatched", method="GET", code="404") >= 1


def test_send_jobs_are_timed_per_job_function(rt):
    client = TestClient(create_app(rt))
    before = scrape(client)
    _console(client, "hello")  # the reply is stored and its send job runs inline
    after = scrape(client)
    name, job = "somo_job_seconds_count", "channels.jobs.send_message"
    assert after.value(name, job=job) - before.value(name, job=job) >= 1


def test_active_students_counts_the_last_seven_days_at_scrape_time(rt):
    client = TestClient(create_app(rt))
    now = clock.now()
    with rt.session() as s:
        school = factories.school(s)
        for i, seen in enumerate([now, now - timedelta(days=6, hours=23), now - timedelta(days=8), None]):
            st = factories.student(s, school=school, phone=f"+2547123400{i:02d}")
            st.last_active_at = seen
    assert scrape(client).value("somo_active_students") == 2
    with rt.session() as s:
        s.query(Student).update({Student.last_active_at: now})
    assert scrape(client).value("somo_active_students") == 4


def test_inline_queue_reports_zero_depth_for_every_queue(rt):
    result = scrape(TestClient(create_app(rt)))
    for queue in ("ussd", "default", "broadcast", "low"):
        assert result.has("somo_queue_depth", queue=queue) and result.value("somo_queue_depth", queue=queue) == 0
        assert result.has("somo_job_age_seconds", queue=queue)
