"""Token buckets: per provider and sender for outbound sends, per number for inbound cost.

With Redis the bucket is shared by every process (one Lua call, atomic); without it, a
process-local bucket does the same arithmetic.
"""

from __future__ import annotations

import threading
import time

_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + (now - ts) * rate)
local wait = 0
if tokens + 1e-9 >= want then
  tokens = math.max(0, tokens - want)
else
  wait = (want - tokens) / rate
end
redis.call('HSET', key, 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', key, math.ceil(capacity / rate) + 60)
return tostring(wait)
"""


# Reserve: always take the token, letting the bucket go into debt; the wait is until the
# reserved token is due. Callers queue themselves for that moment and do not ask again, so
# a backlog drains at exactly the rate instead of every waiter retrying at once.
_RESERVE_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + (now - ts) * rate) - want
redis.call('HSET', key, 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', key, math.ceil((capacity - tokens) / rate) + 60)
if tokens >= -1e-9 then return '0' end
return tostring(-tokens / rate)
"""


class TokenBucket:
    """`take()` returns 0.0 when a token was taken, else the seconds to wait before retrying;
    `reserve()` always takes one and returns how long until it is due."""

    def __init__(self, redis, key: str, rate_per_s: float, capacity: float | None = None):
        if rate_per_s <= 0:
            raise ValueError("rate must be positive")
        self.redis = redis
        self.key = f"somo:bucket:{key}"
        self.rate = rate_per_s
        self.capacity = capacity if capacity is not None else max(1.0, rate_per_s)
        self._script = redis.register_script(_LUA) if redis is not None else None
        self._reserve = redis.register_script(_RESERVE_LUA) if redis is not None else None

    def take(self, n: float = 1.0, now: float | None = None) -> float:
        now = time.time() if now is None else now
        if self._script is not None:
            return float(self._script(keys=[self.key], args=[self.rate, self.capacity, now, n]))
        return _local_take(self.key, self.rate, self.capacity, now, n)

    def reserve(self, n: float = 1.0, now: float | None = None) -> float:
        now = time.time() if now is None else now
        if self._reserve is not None:
            return float(self._reserve(keys=[self.key], args=[self.rate, self.capacity, now, n]))
        return _local_reserve(self.key, self.rate, self.capacity, now, n)


_local: dict[str, tuple[float, float]] = {}
_local_lock = threading.Lock()


def _local_take(key: str, rate: float, capacity: float, now: float, want: float) -> float:
    with _local_lock:
        tokens, ts = _local.get(key, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - ts) * rate)
        if tokens + 1e-9 >= want:
            _local[key] = (max(0.0, tokens - want), now)
            return 0.0
        _local[key] = (tokens, now)
        return (want - tokens) / rate


def _local_reserve(key: str, rate: float, capacity: float, now: float, want: float) -> float:
    with _local_lock:
        tokens, ts = _local.get(key, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - ts) * rate) - want
        _local[key] = (tokens, now)
        return 0.0 if tokens >= -1e-9 else -tokens / rate
