"""Per-number rate limit on inbound messages (cost protection), with one polite warning.

A token bucket per contact (`RATE_LIMIT_PER_MINUTE`, shared by every worker through Redis,
process-local without it). Over the limit the first message gets a warning saying when to
write again; the rest of that minute gets silence (a USSD screen always gets an answer).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from conversation.text import gettext_for, time_of_day
from core import clock
from core.messages import Reply
from core.ratelimit import TokenBucket
from core.runtime import Runtime

_warned: dict[int, float] = {}
_warned_lock = threading.Lock()


def seconds_to_wait(runtime: Runtime, contact_id: int) -> float:
    """0.0 when this message is within the limit, else how long until the next one is."""
    limit = runtime.settings.rate_limit_per_minute
    if limit <= 0:
        return 0.0
    bucket = TokenBucket(runtime.redis, f"inbound:{contact_id}", rate_per_s=limit / 60.0, capacity=limit)
    return bucket.take(now=clock.now().timestamp())


def first_warning(runtime: Runtime, contact_id: int, window_s: int = 60) -> bool:
    """True once per window per number: the moment to warn (later messages get silence)."""
    if runtime.redis is not None:
        return bool(runtime.redis.set(f"somo:ratewarn:{contact_id}", "1", nx=True, ex=window_s))
    now = time.monotonic()
    with _warned_lock:
        if _warned.get(contact_id, 0.0) > now:
            return False
        _warned[contact_id] = now + window_s
        return True


def warning(wait_s: float, lang: str, country: str | None, channel: str) -> Reply:
    _ = gettext_for(lang)
    at = time_of_day(clock.now() + timedelta(seconds=max(1.0, wait_s)), lang, country)
    return Reply(_("You are sending messages very fast. Please wait, then write again after %(time)s.") % {"time": at},
                 end_session=channel == "ussd")
