"""Redis unavailable when a webhook arrives. The choice (docs/reliability.md): store in
PostgreSQL and answer 200, so the gateway does not re-post into the outage; the rows wait,
stored, and `gateway.jobs.sweep` queues them once Redis is back. USSD keeps answering: its
steps run in the request, locked in-process while Redis is away.

Redis is "down" by pointing a runtime at a closed port; the shared server is not stopped.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from rq.worker import SimpleWorker
from sqlalchemy import func, select

from core import clock
from core.models import ConversationState, Direction, Message
from core.runtime import use_runtime
from gateway.app import create_app
from gateway.jobs import sweep
from tests.conftest import make_runtime
from tests.gateway.conftest import PROVIDER_SETTINGS
from tests.reliability.conftest import AT_TOKEN, FORM, dead_redis_runtime, sms_form, ussd_form
from tests.reliability.ledger import ledger


def test_sms_during_a_redis_outage_is_acked_kept_and_answered_once_redis_is_back(pg_url, redis_url, tmp_path, at_api):
    make_runtime(pg_url, redis_url, tmp_path=tmp_path).close()  # empty tables, empty Redis db
    down = dead_redis_runtime(pg_url, tmp_path)
    with use_runtime(down), TestClient(create_app(down), client=("196.201.214.200", 1)) as client:
        for phone, mid in [("+254711000301", "ATPid_a"), ("+254711000302", "ATPid_b"), ("+254711000301", "ATPid_a")]:
            res = client.post("/webhooks/africastalking/sms" + AT_TOKEN, content=sms_form(phone, "Hello", mid),
                              headers=FORM)
            assert res.status_code == 200, res.text  # stored and acked, not a 500
    down.close()
    during = ledger(down).show("redis down")
    assert (during.inbound_stored, during.inbound_handled, during.replies_sent) == (2, 0, 0)

    up = make_runtime_keeping_rows(pg_url, redis_url, tmp_path)
    with use_runtime(up):
        clock.freeze(clock.now() + timedelta(minutes=3))
        assert sweep() == {"inbound": 2, "outbound": 0}
        clock.freeze(None)
        SimpleWorker([up.queue.rq_queue(n) for n in ("ussd", "default")], connection=up.redis).work(burst=True)
        after = ledger(up, at_api).show("redis back")
        assert after.inbound_stored == after.inbound_handled == 2
        assert after.replies_sent == len(at_api) > 0 and after.replies_pending == 0
        assert after.duplicates_sent == 0
        with up.session() as s:  # every reply answers one of the two messages, both got one
            answered = s.scalar(select(func.count(func.distinct(Message.reply_to_id)))
                                .where(Message.direction == Direction.OUT.value))
        assert answered == 2
        assert sweep() == {"inbound": 0, "outbound": 0}  # nothing left behind to sweep twice
    up.redis.flushdb()
    up.close()


def test_ussd_keeps_answering_while_redis_is_down(pg_url, tmp_path, at_api):
    make_runtime(pg_url, tmp_path=tmp_path).close()
    down = dead_redis_runtime(pg_url, tmp_path)
    with use_runtime(down), TestClient(create_app(down), client=("196.201.214.200", 1)) as client:
        first = client.post("/webhooks/africastalking/ussd" + AT_TOKEN,
                            content=ussd_form("+254711000303", "ATUid_down", ""), headers=FORM)
        again = client.post("/webhooks/africastalking/ussd" + AT_TOKEN,
                            content=ussd_form("+254711000303", "ATUid_down", ""), headers=FORM)
        step = client.post("/webhooks/africastalking/ussd" + AT_TOKEN,
                           content=ussd_form("+254711000303", "ATUid_down", "1"), headers=FORM)
    assert first.status_code == again.status_code == step.status_code == 200
    assert first.text.startswith("CON ") and again.text == first.text  # a retried step: same screen
    assert step.text.startswith(("CON ", "END ")) and step.text != first.text
    counts = ledger(down, at_api).show("ussd, redis down")
    assert counts.inbound_stored == counts.inbound_handled == 2
    assert counts.replies_sent == 2 and counts.duplicates_sent == 0
    with down.session() as s:
        assert s.scalar(select(ConversationState.version)) >= 1  # state written to PostgreSQL
    down.close()


def make_runtime_keeping_rows(pg_url, redis_url, tmp_path):
    """A live-Redis runtime on the same database, without emptying the tables."""
    from core.runtime import build_runtime
    from core.settings import Settings

    rt = build_runtime(Settings(_env_file=None, database_url=pg_url, redis_url=redis_url, somo_data_dir=tmp_path,
                                **PROVIDER_SETTINGS))
    rt.redis.flushdb()
    return rt
