"""One student, one order: a per-contact lock with a fencing token.

With Redis the lock is `SET NX PX` on a per-contact key (shared by every worker), and each
holder takes a fresh fencing token from a per-contact counter; state writes carry the token
(see `conversation.store`), so a holder that outlived its lock cannot overwrite newer state.
Without Redis (the embedded default: one process) a process-local lock per contact does the
same job and the state version serves as an optimistic check.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from redis.exceptions import RedisError

from core.runtime import Runtime

log = logging.getLogger("somo.conversation")

LOCK_TTL_MS = 60_000  # longer than any one message takes (the USSD path has no slow calls)

# Take the lock and draw the first fencing token, or knock: one round trip either way. The
# knock is atomic with the failed attempt, so a holder's release (which reads and clears the
# knock) either came before it (and the SET NX here succeeds) or sees it. With a fourth key
# (the hot state of the learner the caller expects, `hot_key`), the holder also takes that
# copy out (GETDEL, as conversation.store's load does) in the same round trip.
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then
  local drawn = redis.call('INCR', KEYS[2])
  if KEYS[4] then return {drawn, redis.call('GETDEL', KEYS[4])} end
  return {drawn}
end
redis.call('SET', KEYS[3], '1', 'PX', tonumber(ARGV[2]))
return {0}
"""
# Release, and say whether anyone knocked while we held it: 1 = released, nobody waited;
# 2 = released and someone knocked; 0 = the lock was no longer ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('DEL', KEYS[2]) == 1 then return 2 end
return 1
"""
# The same, after putting committed states back in Redis (KEYS[3..]: state keys; ARGV[2..]:
# json, version, ttl for each), each unless a newer copy is there (conversation.store's
# set-if-newer): the last unit of work's hot write and the release in one round trip.
_RELEASE_WITH_HOT = """
for i = 3, #KEYS do
  local j = 2 + (i - 3) * 3
  local old = redis.call('GET', KEYS[i])
  local newer = false
  if old then
    local ok, decoded = pcall(cjson.decode, old)
    newer = ok and tonumber(decoded['version']) and tonumber(decoded['version']) > tonumber(ARGV[j + 1])
  end
  if not newer then redis.call('SET', KEYS[i], ARGV[j], 'EX', tonumber(ARGV[j + 2])) end
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('DEL', KEYS[2]) == 1 then return 2 end
return 1
"""
# Only the holder gets a token: check ownership, extend the lock, then count up (atomic).
_TOKEN = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
local floor = tonumber(ARGV[3])
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current < floor then redis.call('SET', KEYS[2], floor) end
return redis.call('INCR', KEYS[2])
"""

_local_locks: dict[int, threading.Lock] = {}
_local_knocks: set[int] = set()
_local_guard = threading.Lock()


def _local_lock(contact_id: int) -> threading.Lock:
    with _local_guard:
        return _local_locks.setdefault(contact_id, threading.Lock())


class ContactLock:
    """`acquire(wait_s)` takes the lock (False when not in time); `token()` draws a fencing token.

    Draw one token per unit of work: state rows only accept a token newer than their version.
    """

    def __init__(self, runtime: Runtime, contact_id: int, *, floor: Callable[[], int] | None = None,
                 hot_key: str | None = None):
        self.runtime = runtime
        self.contact_id = contact_id
        self.redis = runtime.redis
        self.key = f"somo:lock:contact:{contact_id}"
        self.fence_key = f"somo:fence:contact:{contact_id}"
        self.knock_key = f"somo:knock:contact:{contact_id}"
        self.value = uuid.uuid4().hex
        self.floor = floor  # the newest state version in the database: tokens must exceed it
        self.hot_key = hot_key  # a learner's hot-state key to take out with the lock (see _ACQUIRE)
        self.taken: tuple[str, bytes | None] | None = None  # (hot_key, what it held) once taken
        self._floor_value = 0
        self._drawn: int | None = None
        self.held = False

    def acquire(self, wait_s: float) -> bool:
        """Take the lock within `wait_s`. A caller that finds it taken knocks first, so the
        holder knows at release that rows may have arrived for it (see `release`)."""
        if self.redis is None:
            lock = _local_lock(self.contact_id)
            self.held = lock.acquire(blocking=False)
            if not self.held:
                with _local_guard:
                    _local_knocks.add(self.contact_id)
                self.held = lock.acquire(timeout=max(0.0, wait_s))
            return self.held
        deadline = time.monotonic() + max(0.0, wait_s)
        delay = 0.01
        script = self.runtime.extra("conversation.lock_acquire", lambda rt: rt.redis.register_script(_ACQUIRE))
        keys = [self.key, self.fence_key, self.knock_key, *([self.hot_key] if self.hot_key else [])]
        while True:
            try:
                answer = script(keys=keys, args=[self.value, LOCK_TTL_MS])
            except RedisError:
                return self._acquire_locally(wait_s)
            drawn = int(answer[0])
            if drawn > 0:
                if self.hot_key:
                    self.taken = (self.hot_key, answer[1] if len(answer) > 1 else None)
                self.held = True
                self._drawn = drawn  # the first unit of work's token, if it beats the floor (see token)
                self._floor_value = self.floor() if self.floor else 0  # Redis may have lost its counter
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _acquire_locally(self, wait_s: float) -> bool:
        """Redis is down: no rq worker can run either, so the only handlers left are requests
        answered inline (USSD, console), and a USSD session sends one step at a time. A
        process-local lock, with the state version as the optimistic check, keeps them in order
        until Redis is back; SMS/WhatsApp rows wait, stored, for `gateway.jobs.sweep`."""
        log.warning("redis unavailable: contact %s locked in this process only", self.contact_id)
        self.redis = None
        return self.acquire(wait_s)

    def token(self, floor: int | None = None) -> int | None:
        """A fresh fencing token (0 without Redis: the state version then serves), None if the lock was lost.

        `floor`: the newest state version the caller just read (in its own unit of work, so
        no extra round trip); the token exceeds it even if Redis lost its counter.
        """
        if self.redis is None:
            return 0 if self.held else None
        floor = self._floor_value if floor is None else max(floor, self._floor_value)
        drawn, self._drawn = self._drawn, None
        if drawn is not None and drawn > floor and self.held:
            return drawn  # drawn with the lock a moment ago: no second round trip
        script = self.runtime.extra("conversation.lock_token", lambda rt: rt.redis.register_script(_TOKEN))
        value = int(script(keys=[self.key, self.fence_key], args=[self.value, LOCK_TTL_MS, floor]))
        return None if value < 0 else value

    def release(self, hot: list | None = None) -> bool:
        """Let go; True when someone knocked while we held the lock (or we cannot tell), so the
        caller must look for rows committed meanwhile. False: nobody waited, nothing arrived
        that its own committer is not about to handle, and the look-up can be skipped.

        `hot`: committed states (`conversation.store.HotCopy`) to put back in Redis first, in
        the same round trip; they are written even if the lock was lost (set-if-newer)."""
        if hot and self.redis is not None:
            return self._release_with_hot(hot)
        for copy in hot or ():
            copy()
        if not self.held:
            return True
        self.held = False
        if self.redis is None:
            # Let go first, then read the knocks: a caller that knocks after our read would
            # otherwise find the lock still held on its second try and leave its row to nobody.
            _local_lock(self.contact_id).release()
            with _local_guard:
                knocked = self.contact_id in _local_knocks
                _local_knocks.discard(self.contact_id)
            return knocked
        script = self.runtime.extra("conversation.lock_release", lambda rt: rt.redis.register_script(_RELEASE))
        return int(script(keys=[self.key, self.knock_key], args=[self.value])) != 1

    def _release_with_hot(self, hot: list) -> bool:
        held, self.held = self.held, False
        script = self.runtime.extra("conversation.lock_release_hot",
                                    lambda rt: rt.redis.register_script(_RELEASE_WITH_HOT))
        args = [self.value if held else ""]
        for copy in hot:
            args += copy.args()
        try:
            result = int(script(keys=[self.key, self.knock_key, *(c.key for c in hot)], args=args))
        except RedisError:
            log.warning("could not write the hot state back or release contact %s; the lock expires", self.contact_id)
            return True
        return not held or result != 1
