"""Per-number rate limit on inbound messages (cost protection), with one polite warning.

The count is of the number's own stored inbound rows in the minute up to this one, so it
is the same in every worker, survives restarts, and replays identically: message
`RATE_LIMIT_PER_MINUTE + 1` gets a warning saying when to write again, later ones in that
minute get silence (a USSD screen always gets an answer, since the session needs one).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conversation.text import gettext_for, time_of_day
from core.messages import Reply
from core.models import Direction, Message, literal_value

WINDOW = timedelta(minutes=1)


PREFETCHED = "somo.rate.prefetched"


def prefetch(session: Session, phone: str, at: datetime, count: int, oldest: datetime | None) -> None:
    """Record the window's count, read by the statement that fetched the pending row."""
    session.info[PREFETCHED] = (phone, at, count, oldest)


def over_limit(session: Session, phone: str, at: datetime, limit: int) -> tuple[int, float]:
    """(how far past the limit this message is, seconds until the window frees a place); 0 = within."""
    if limit <= 0:
        return 0, 0.0
    known = session.info.pop(PREFETCHED, None)
    if known is not None and known[:2] == (phone, at):
        count, oldest = known[2:]
    else:
        count, oldest = session.execute(
            select(func.count(), func.min(Message.created_at))
            .where(Message.phone == phone, Message.direction == literal_value(Direction.IN.value),
                   Message.created_at > at - WINDOW, Message.created_at <= at)
        ).one()
    if count <= limit or oldest is None:
        return 0, 0.0
    return count - limit, max(1.0, (oldest + WINDOW - at).total_seconds())


def warning(wait_s: float, at: datetime, lang: str, country: str | None, channel: str) -> Reply:
    _ = gettext_for(lang)
    when = time_of_day(at + timedelta(seconds=wait_s), lang, country)
    return Reply(_("You are sending messages very fast. Please wait, then write again after %(time)s.")
                 % {"time": when}, end_session=channel == "ussd")
