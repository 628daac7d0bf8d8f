"""Token buckets, for pacing sends per provider and sender.

`reserve()` always takes a token, letting the bucket go into debt, and returns how long
until that token is due. A caller queues itself for that moment and does not ask again, so
a backlog of N drains at exactly the rate over N / rate seconds instead of every waiter
retrying at once. With Redis the bucket is shared by every process (one atomic Lua call);
without it, a process-local bucket does the same arithmetic.
"""

from __future__ import annotations

import threading
import time

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
    def __init__(self, redis, key: str, rate_per_s: float, capacity: float | None = None):
        if rate_per_s <= 0:
            raise ValueError("rate must be positive")
        self.key = f"somo:bucket:{key}"
        self.rate = rate_per_s
        self.capacity = capacity if capacity is not None else max(1.0, rate_per_s)
        self._reserve = redis.register_script(_RESERVE_LUA) if redis is not None else None

    def reserve(self, n: float = 1.0, now: float | None = None) -> float:
        """Take `n` tokens; 0.0 when they were there, else the seconds until they are due."""
        now = time.time() if now is None else now
        if self._reserve is not None:
            return float(self._reserve(keys=[self.key], args=[self.rate, self.capacity, now, n]))
        with _local_lock:
            tokens, ts = _local.get(self.key, (self.capacity, now))
            tokens = min(self.capacity, tokens + max(0.0, now - ts) * self.rate) - n
            _local[self.key] = (tokens, now)
        return 0.0 if tokens >= -1e-9 else -tokens / self.rate


_local: dict[str, tuple[float, float]] = {}
_local_lock = threading.Lock()
