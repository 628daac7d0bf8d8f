"""Production shape: PostgreSQL, Redis and rq. The webhook only stores and queues; a worker
handles the message and another job sends the reply through the provider API."""

from __future__ import annotations

from urllib.parse import urlencode

import responses
from fastapi.testclient import TestClient
from rq.worker import SimpleWorker
from sqlalchemy import select

from core.models import Direction, Message
from core.runtime import set_runtime
from gateway.app import create_app
from tests.conftest import make_runtime
from tests.gateway.conftest import PROVIDER_SETTINGS, fixture


@responses.activate
def test_sms_is_acked_before_handling_and_sent_by_the_worker(pg_url, redis_url, tmp_path):
    responses.post("https://at.test/version1/messaging", json=fixture("africastalking:send_answer"), status=201)
    rt = make_runtime(pg_url, redis_url, tmp_path=tmp_path, **PROVIDER_SETTINGS)
    previous = set_runtime(rt)
    try:
        with TestClient(create_app(rt)) as client:
            res = client.post("/webhooks/africastalking/sms?token=at-hook-secret",
                              content=urlencode(fixture("africastalking:sms")),
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert res.status_code == 200
        with rt.session() as s:
            (inbound,) = s.scalars(select(Message)).all()
            assert inbound.status == "received"  # stored and acked; nothing handled in the request
        assert rt.queue.depth() == 1 and len(responses.calls) == 0
        queues = [rt.queue.rq_queue(name) for name in ("ussd", "default")]
        SimpleWorker(queues, connection=rt.redis).work(burst=True)
        with rt.session() as s:
            assert s.get(Message, inbound.id).status == "handled"
            out = s.scalars(select(Message).where(Message.direction == Direction.OUT.value)).all()
            assert out and all(m.status == "sent" for m in out)
        assert len(responses.calls) == len(out)
    finally:
        set_runtime(previous)
        rt.redis.flushdb()
        rt.close()
