from __future__ import annotations

import pytest

from core.ratelimit import TokenBucket


@pytest.mark.parametrize("shared", [False, True])
def test_reserve_spreads_a_backlog_at_the_rate(shared, request):
    redis = request.getfixturevalue("rt_redis").redis if shared else None
    bucket = TokenBucket(redis, f"reserve-{shared}", rate_per_s=2, capacity=2)
    waits = [bucket.reserve(now=3000.0) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5])  # each waiter gets its own slot
    assert bucket.reserve(now=3003.0) == pytest.approx(0.0)  # the debt is paid after 1.5 s; 1.5 s later there is room


def test_a_burst_up_to_capacity_then_one_token_per_interval():
    bucket = TokenBucket(None, "test-local", rate_per_s=5, capacity=5)
    assert [bucket.reserve(now=1000.0) for _ in range(5)] == [0.0] * 5
    assert bucket.reserve(now=1000.0) == pytest.approx(0.2)
    assert bucket.reserve(now=1000.4) == pytest.approx(0.0, abs=1e-9)  # two refilled, one was owed


def test_the_redis_bucket_is_shared_between_processes(rt_redis):
    a = TokenBucket(rt_redis.redis, "provider:twilio:+1555", rate_per_s=10, capacity=10)
    b = TokenBucket(rt_redis.redis, "provider:twilio:+1555", rate_per_s=10, capacity=10)
    assert all(a.reserve(now=2000.0) == 0.0 for _ in range(10))
    assert b.reserve(now=2000.0) == pytest.approx(0.1)  # the second process sees the same empty bucket
    assert b.reserve(now=2000.3) == pytest.approx(0.0, abs=1e-9)


def test_rate_must_be_positive():
    with pytest.raises(ValueError):
        TokenBucket(None, "x", rate_per_s=0)
