"""The sweep re-queues work a crash stranded between commit and enqueue, and nothing else."""

from __future__ import annotations

from datetime import timedelta

import responses
from sqlalchemy import select

from channels.base import Rendered
from channels.outbound import store_outbound
from core import clock
from core.messages import Inbound
from core.models import Direction, Message
from gateway.jobs import sweep
from gateway.pipeline import store_inbound
from tests.gateway.conftest import fixture


@responses.activate
def test_sweep_requeues_stranded_rows_only(gw_rt):
    responses.post("https://at.test/version1/messaging", json=fixture("africastalking:send_answer"), status=201)
    past = clock.now() - timedelta(minutes=5)
    with gw_rt.session() as s:
        # A stored inbound SMS whose job was never queued (the process died after the commit).
        stored = store_inbound(s, Inbound(channel="sms", provider="africastalking", provider_message_id="ATPid_s1",
                                          sender="+254711000888", recipient="40404", text="hello", received_at=past))
        # An outbound row stored but never queued, and one already being sent (left alone).
        (queued,) = store_outbound(s, Rendered(messages=["late"]), channel="sms", provider="africastalking",
                                   phone="+254711000888", contact_id=stored.contact_id)
        (sending,) = store_outbound(s, Rendered(messages=["in flight"]), channel="sms", provider="africastalking",
                                    phone="+254711000888", contact_id=stored.contact_id, status="sending")
        for row in (queued, sending):
            row.created_at = past
        ids = (queued.id, sending.id)
    assert sweep() == {"inbound": 1, "outbound": 1}
    with gw_rt.session() as s:
        assert s.scalar(select(Message).where(Message.provider_message_id == "ATPid_s1")).status == "handled"
        assert s.get(Message, ids[0]).status == "sent"
        assert s.get(Message, ids[1]).status == "sending"
        replies = s.scalars(select(Message).where(Message.reply_to_id == stored.message_id,
                                                  Message.direction == Direction.OUT.value)).all()
        assert replies
    sent = {c.request.body for c in responses.calls}
    assert not any("in+flight" in body for body in sent)
    assert sweep() == {"inbound": 0, "outbound": 0}
