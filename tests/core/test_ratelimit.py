from __future__ import annotations

import pytest

from core.ratelimit import TokenBucket


def _drain(bucket: TokenBucket, t0: float) -> tuple[int, float]:
    taken = 0
    while True:
        wait = bucket.take(now=t0)
        if wait > 0:
            return taken, wait
        taken += 1


def test_local_bucket_allows_the_burst_then_paces():
    bucket = TokenBucket(None, "test-local", rate_per_s=5, capacity=5)
    taken, wait = _drain(bucket, 1000.0)
    assert taken == 5 and wait == pytest.approx(0.2)
    assert bucket.take(now=1000.2) == 0.0  # one token refilled after 1/rate seconds
    assert bucket.take(now=1000.2) > 0


def test_redis_bucket_is_shared_and_paces(rt_redis):
    a = TokenBucket(rt_redis.redis, "provider:twilio:+1555", rate_per_s=10, capacity=10)
    b = TokenBucket(rt_redis.redis, "provider:twilio:+1555", rate_per_s=10, capacity=10)
    taken_a, _ = _drain(a, 2000.0)
    assert taken_a == 10
    assert b.take(now=2000.0) > 0  # the second process sees the same empty bucket
    assert b.take(now=2000.1) == 0.0


def test_rate_must_be_positive():
    with pytest.raises(ValueError):
        TokenBucket(None, "x", rate_per_s=0)


@pytest.mark.parametrize("shared", [False, True])
def test_reserve_spreads_a_backlog_at_the_rate(shared, request):
    redis = request.getfixturevalue("rt_redis").redis if shared else None
    bucket = TokenBucket(redis, f"reserve-{shared}", rate_per_s=2, capacity=2)
    waits = [bucket.reserve(now=3000.0) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5])  # each waiter gets its own slot
    assert bucket.reserve(now=3003.0) == pytest.approx(0.0)  # the debt is paid after 1.5 s; 1.5 s later there is room
