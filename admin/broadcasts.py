"""Broadcasts from the admin: compose (now or scheduled), queue the fan-out, count outcomes.

The fan-out is the same job teachers' BROADCAST command uses (`conversation.broadcasts`,
ids only), so a class of 60 does not hold a web request and a scheduled broadcast resolves
its recipients when it goes out, not when it was written.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from admin.scope import Scope
from conversation.broadcasts import refresh_counts  # noqa: F401 - the pages and the API count through it
from core import clock
from core.models import Broadcast, School, SchoolClass
from core.runtime import Runtime

MAX_TEXT = 640


class BroadcastInvalid(ValueError):
    """Bad input for a broadcast; the message starts with the field name."""


JOB = "conversation.broadcasts.run_broadcast"  # the one fan-out, shared with teachers' commands


def parse_local(value: str, tz: str) -> datetime | None:
    """A `datetime-local` form value in the school's time zone, as an aware UTC datetime."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BroadcastInvalid(f"scheduled_at: expected a date and time like 2025-03-01T08:00, got {value!r}") from exc
    if naive.tzinfo is None:
        naive = naive.replace(tzinfo=ZoneInfo(tz))
    return naive.astimezone(ZoneInfo("UTC"))


def compose(session: Session, scope: Scope, *, school: School, klass: SchoolClass | None, text: str,
            scheduled_at: datetime | None) -> Broadcast:
    """Store the broadcast; the caller commits, then calls `dispatch`."""
    text = (text or "").strip()
    if not text:
        raise BroadcastInvalid("text: required")
    if len(text) > MAX_TEXT:
        raise BroadcastInvalid(f"text: at most {MAX_TEXT} characters (got {len(text)})")
    if klass is None:
        scope.require_manager()  # teachers broadcast to their classes only
    elif klass.school_id != school.id:
        raise BroadcastInvalid("class_id: this class belongs to another school")
    now = clock.now()
    if scheduled_at is not None and scheduled_at < now - timedelta(minutes=1):
        raise BroadcastInvalid("scheduled_at: that time has passed")
    later = scheduled_at is not None and scheduled_at > now + timedelta(seconds=30)
    row = Broadcast(school_id=school.id, class_id=klass.id if klass else None, created_by_id=scope.user.id,
                    kind="message", text=text, status="scheduled" if later else "queued",
                    scheduled_at=scheduled_at if later else None)
    session.add(row)
    session.flush()
    return row


def dispatch(runtime: Runtime, broadcast: Broadcast) -> None:
    """Queue the fan-out job (after the commit that stored the broadcast)."""
    runtime.queue.enqueue(JOB, broadcast.id, job_id=f"broadcast-{broadcast.id}", queue="broadcast",
                          at=broadcast.scheduled_at)

