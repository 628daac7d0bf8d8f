"""A delivery receipt can beat the send's own answer: it is applied when the send records the
provider id. Every successful send checks for such receipts, so that check must stay one
index look-up however many status events are stored (no prefix scan unless one is marked)."""

from __future__ import annotations

import responses
from sqlalchemy import event, select

from channels.base import StatusUpdate
from channels.jobs import send_message
from channels.receipts import EARLY, apply_status
from core.models import ProviderEvent
from tests.channels.conftest import fixture
from tests.channels.test_jobs import AT_SEND, outbound, row

AT_ID = "ATXid_af51d4b2d1a4c8c5c8f3e7c5a1b2c3d4"  # the id fixture("africastalking:send_answer") returns


def _scans(engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cur, statement, *a: seen.append(statement)
                 if "FROM provider_events" in statement and "LIKE" in statement.upper() else None)
    return seen


@responses.activate
def test_a_receipt_that_beat_the_send_is_applied_when_the_send_records_its_id(gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    mid = outbound(gw_rt)
    with gw_rt.session() as s:  # the receipt arrives first: no row has this provider id yet
        assert apply_status(s, "africastalking", StatusUpdate(AT_ID, "delivered"), {"id": AT_ID}) is None
    with gw_rt.session() as s:
        assert s.scalar(select(ProviderEvent.id).where(ProviderEvent.kind == EARLY,
                                                       ProviderEvent.dedupe_key == AT_ID)) is not None
    scans = _scans(gw_rt.engine)
    send_message(mid)
    m = row(gw_rt, mid)
    assert (m.status, m.provider_message_id) == ("delivered", AT_ID) and m.delivered_at is not None
    assert len(scans) == 1  # the marked id, and only it, looked at its status events


@responses.activate
def test_a_send_without_early_receipts_does_not_scan_status_events(gw_rt):
    responses.post(AT_SEND, json=fixture("africastalking:send_answer"), status=201)
    with gw_rt.session() as s:  # plenty of other messages' receipts, none for this send
        for i in range(50):
            apply_status(s, "africastalking", StatusUpdate(f"ATXid_other{i}", "delivered"), {})
    mid = outbound(gw_rt)
    scans = _scans(gw_rt.engine)
    send_message(mid)
    assert row(gw_rt, mid).status == "sent"
    assert scans == []
