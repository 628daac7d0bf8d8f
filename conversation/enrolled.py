"""A learner's class, answered from memory on most turns.

Every turn asks which class the learner is in (onboarding skips the class code for a
pre-enrolled number; a lesson passes the class on to its mode). That was a SELECT on every
message, USSD steps included. This keeps, per database and learner, the first active
class for `TTL_S`; any ORM write of an Enrolment in this process forgets everything at
once (enrolments change through the admin, CSV import, JOIN and the class code, all
ORM), and a change made by another process is seen within `TTL_S`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from core.models import Enrolment

TTL_S = 30.0
MAX_ENTRIES = 50_000

_cache: OrderedDict[tuple[str, int], tuple[float, int | None]] = OrderedDict()
_lock = threading.Lock()


def first_class(session: Session, student_id: int) -> int | None:
    """The learner's first active class (by enrolment order), or None."""
    key = (str(session.get_bind().url), student_id)
    hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] <= TTL_S:
        return hit[1]
    class_id = session.scalar(
        select(Enrolment.class_id).where(Enrolment.student_id == student_id, Enrolment.active.is_(True))
        .order_by(Enrolment.id).limit(1)
    )
    with _lock:
        _cache[key] = (time.monotonic(), class_id)
        _cache.move_to_end(key)
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)
    return class_id


def forget() -> None:
    with _lock:
        _cache.clear()


@event.listens_for(Enrolment, "after_insert")
@event.listens_for(Enrolment, "after_update")
@event.listens_for(Enrolment, "after_delete")
def _written(_mapper, _connection, _target) -> None:
    forget()
