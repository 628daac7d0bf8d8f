"""Who and what the pre-handlers look for on every inbound message, answered from memory.

The teachers' pre-handler runs before every student's turn: is the sender a teacher, and
did the message come in on a class's own number or name a class keyword? A database
look-up each time would cost statements on every message for the rare case. This keeps,
per database, the set of active staff phones and the map of class numbers and keywords,
reloaded every `TTL_S` and at once after any commit in this process that wrote a StaffUser
or a class. An entry found is still confirmed against the rows (they decide), so a stale
entry only costs that look-up; a change made by another process is seen within `TTL_S`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session

from core.memo import database_key
from core.models import SchoolClass, StaffUser

TTL_S = 30.0
_CHANGED = "teachers.directory_changed"  # session.info flag: this unit of work wrote staff or classes

_cache: dict[tuple[str, str], tuple[float, Any]] = {}  # (database URL, what) -> (loaded at, value)
_lock = threading.Lock()


def _cached(session: Session, what: str, load: Callable[[Session], Any]) -> Any:
    key = (database_key(session), what)
    loaded = _cache.get(key)
    if loaded is None or time.monotonic() - loaded[0] > TTL_S:
        loaded = (time.monotonic(), load(session))
        with _lock:
            _cache[key] = loaded
    return loaded[1]


def _staff_phones(session: Session) -> frozenset[str]:
    return frozenset(session.scalars(
        select(StaffUser.phone).where(StaffUser.active.is_(True), StaffUser.phone.is_not(None))))


def _class_codes(session: Session) -> dict[str, int]:
    codes: dict[str, int] = {}
    for cid, number, keyword in session.execute(
        select(SchoolClass.id, SchoolClass.number, SchoolClass.keyword)
        .where((SchoolClass.number.is_not(None)) | (SchoolClass.keyword.is_not(None)))
    ):
        if number:
            codes[f"number:{number.lower()}"] = cid
        if keyword:
            codes[f"keyword:{keyword.lower()}"] = cid
    return codes


def maybe_staff(session: Session, phone: str) -> bool:
    """False when no active staff member has this phone (as of at most TTL_S ago)."""
    return phone in _cached(session, "staff", _staff_phones)


def class_by_number(session: Session, number: str | None) -> int | None:
    """The class whose own number (or short code) this is, if any."""
    return _cached(session, "classes", _class_codes).get(f"number:{(number or '').lower()}") if number else None


def class_by_keyword(session: Session, word: str) -> int | None:
    return _cached(session, "classes", _class_codes).get(f"keyword:{word.lower()}")


def forget() -> None:
    with _lock:
        _cache.clear()


def _mark(_mapper, _connection, target) -> None:
    forget()  # at flush, and again after commit: a reload in between must not stick
    session = object_session(target)
    if session is not None:
        session.info[_CHANGED] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        forget()


for _model in (StaffUser, SchoolClass):
    for _name in ("after_insert", "after_update", "after_delete"):
        event.listen(_model, _name, _mark)
event.listen(Session, "after_commit", _after_commit)
