"""Sends are paced per provider and sender by a token bucket shared through Redis."""

from __future__ import annotations

import itertools

import httpx
import pytest
import respx
from rq.registry import ScheduledJobRegistry

from channels.base import Rendered
from channels.jobs import send_message, throttle_wait
from channels.outbound import store_outbound
from core.models import Message
from core.runtime import set_runtime
from tests.conftest import make_runtime
from tests.gateway.conftest import PROVIDER_SETTINGS, fixture

TWILIO = "https://twilio.test/2010-04-01/Accounts/AC" + "a" * 32 + "/Messages.json"


@pytest.fixture
def paced(pg_url, redis_url, tmp_path):
    runtime = make_runtime(pg_url, redis_url, tmp_path=tmp_path, **dict(PROVIDER_SETTINGS, send_rate_per_second=2.0))
    previous = set_runtime(runtime)
    yield runtime
    set_runtime(previous)
    runtime.redis.flushdb()
    runtime.close()


def _queue(rt, n: int, *, provider: str = "twilio", sender: str = "+15005550006") -> list[int]:
    with rt.session() as s:
        rows = [store_outbound(s, Rendered(messages=[f"Hello {i}"], segments=1, encoding="gsm7"), channel="sms",
                               provider=provider, phone=f"+2547110{i:05d}", service_number=sender)[0]
                for i in range(n)]
        return [r.id for r in rows]


@respx.mock
def test_a_burst_beyond_the_rate_waits_on_the_scheduler(paced):
    sids = (f"SM{i:032d}" for i in itertools.count())
    route = respx.post(TWILIO).mock(side_effect=lambda req: httpx.Response(
        201, json=dict(fixture("twilio:create_answer"), sid=next(sids))))
    ids = _queue(paced, 5)
    for mid in ids:
        send_message(mid)
    assert route.call_count == 2  # the bucket holds two tokens at two a second
    with paced.session() as s:
        statuses = [s.get(Message, mid).status for mid in ids]
    assert statuses == ["sent", "sent", "queued", "queued", "queued"]
    scheduled = ScheduledJobRegistry(queue=paced.queue.rq_queue("broadcast"))
    ids_waiting = scheduled.get_job_ids()
    assert len(ids_waiting) == 3  # each comes back when its reserved slot is due, not sent twice
    from rq.job import Job

    jobs = [Job.fetch(j, connection=paced.redis) for j in ids_waiting]
    assert all(job.args[1] is True for job in jobs)  # they hold their slot: no second ask
    due = sorted(ScheduledJobRegistry(queue=paced.queue.rq_queue("broadcast")).get_scheduled_time(j)
                 for j in ids_waiting)
    # Spread at the rate (slots 0.5 s apart, 1.0 s from first to last; rq keeps whole seconds),
    # not all at the same moment.
    assert (due[-1] - due[0]).total_seconds() >= 1, due


def test_buckets_are_per_provider_and_sender(paced):
    with paced.session() as s:
        a = s.get(Message, _queue(paced, 1, sender="+15005550006")[0])
        b = s.get(Message, _queue(paced, 1, sender="+15005550007")[0])
        c = s.get(Message, _queue(paced, 1, provider="console")[0])
        assert throttle_wait(paced, a) == 0 and throttle_wait(paced, a) == 0 and throttle_wait(paced, a) > 0
        assert throttle_wait(paced, b) == 0  # another sender has its own bucket
        assert all(throttle_wait(paced, c) == 0 for _ in range(10))  # the console is not paced
