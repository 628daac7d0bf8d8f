"""bench.flow's end-to-end figure: each inbound is matched to its own reply, not the next one's.

A student writes every 2 s; an inbound that gets no reply of its own (a duplicate, a message
the engine answers with nothing) must be counted under `no_reply`, not charged the reply to
the student's next message 2 s later (which the older by-phone matching did).
"""

from __future__ import annotations

from bench.flow import end_to_end
from bench.loadgen import Sample

RUN = "r1"
PHONE = "+254722200001"


def sample(i: int, at: float) -> Sample:
    return Sample(index=i, sent_at=at, client_ms=1.0, server_ms=1.0, status=200)


def test_an_inbound_without_a_reply_is_counted_apart_not_charged_the_next_reply():
    samples = [sample(0, 100.0), sample(1, 102.0), sample(2, 104.0)]
    sent = {0: ("sms", PHONE), 1: ("sms", PHONE), 2: ("sms", PHONE)}
    records = [{"provider": "africastalking", "to": PHONE, "t": 100.3, "id": "ATXid_1"},
               {"provider": "africastalking", "to": PHONE, "t": 104.2, "id": "ATXid_3"},
               {"provider": "africastalking", "to": PHONE, "t": 104.25, "id": "ATXid_4"}]
    links = {f"ATPid_{RUN}_0": {"status": "handled", "error": None, "out": [("ATXid_1", "sent")], "stored": 100.25},
             f"ATPid_{RUN}_1": {"status": "handled", "error": None, "out": [], "stored": None},
             f"ATPid_{RUN}_2": {"status": "handled", "error": None, "out": [("ATXid_3", "sent"), ("ATXid_4", "sent")],
                                "stored": 104.1}}
    e = end_to_end(samples, sent, records, links, RUN)["sms"]
    assert (e["replies"], e["no_reply"], e["missing"]) == (2, 1, 0)
    assert e["no_reply_by_reason"] == {"handled: no reply row": 1}
    assert e["p99"] == 300.0  # 300 ms and 200 ms: the message with no reply is not charged 2.2 s
    assert e["by_phone"]["p99"] > 2000  # the older measure charged it the next message's reply
    assert e["reply_stored"]["p50"] is not None and e["stored_to_provider"]["p50"] is not None


def test_a_reply_the_provider_never_saw_is_missing():
    samples = [sample(0, 10.0)]
    links = {f"ATPid_{RUN}_0": {"status": "handled", "error": None, "out": [("ATXid_9", "failed")], "stored": 10.1}}
    e = end_to_end(samples, {0: ("sms", PHONE)}, [], links, RUN)["sms"]
    assert (e["replies"], e["no_reply"], e["missing"]) == (0, 0, 1)
