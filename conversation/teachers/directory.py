"""Which phones belong to staff: asked for every inbound message, so answered from memory.

The teachers' pre-handler runs before every student's turn; a database look-up each time
was one statement per message for the rare sender who is a teacher. This keeps the set of
active staff phones per database, reloaded every `TTL` and at once after any commit in this
process that wrote a StaffUser. A phone in the set is still looked up (the row decides), so
a stale entry only costs that look-up; a teacher added by another process is recognised
within `TTL`.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session

from core.models import StaffUser

TTL_S = 30.0
_CHANGED = "teachers.staff_changed"  # session.info flag: this unit of work wrote a StaffUser

_phones: dict[str, tuple[float, frozenset[str]]] = {}  # database URL -> (loaded at, phones)
_lock = threading.Lock()


def maybe_staff(session: Session, phone: str) -> bool:
    """False when no active staff member has this phone (as of at most TTL_S ago)."""
    url = str(session.get_bind().url)
    loaded = _phones.get(url)
    if loaded is None or time.monotonic() - loaded[0] > TTL_S:
        phones = frozenset(session.scalars(
            select(StaffUser.phone).where(StaffUser.active.is_(True), StaffUser.phone.is_not(None))
        ))
        loaded = (time.monotonic(), phones)
        with _lock:
            _phones[url] = loaded
    return phone in loaded[1]


def forget() -> None:
    with _lock:
        _phones.clear()


def _mark(_mapper, _connection, target) -> None:
    forget()  # at flush, and again after commit: a reload in between must not stick
    session = object_session(target)
    if session is not None:
        session.info[_CHANGED] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        forget()


for _name in ("after_insert", "after_update", "after_delete"):
    event.listen(StaffUser, _name, _mark)
event.listen(Session, "after_commit", _after_commit)
