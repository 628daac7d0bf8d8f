"""Conversation state: a hot copy in Redis (one GET of a JSON blob, with a TTL), written
through to PostgreSQL (`ConversationState`), which is the truth when Redis is empty.

Writes are fenced: a lock holder writes with its fencing token, and the row is only
updated while its version is below the token, so a holder whose lock expired (a paused
worker) cannot overwrite a newer holder's state. The Redis copy is deleted before the
database write and set again only after commit, so a crash in between leaves Redis empty
(and the database is read), never stale.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from core import clock
from core.db import dialect_insert
from core.driver import DriverStatement
from core.models import ConversationState, Student
from core.runtime import Runtime

log = logging.getLogger("somo.conversation")

AFTER_COMMIT = "conversation.after_commit"  # session.info key: callables run after commit
SAVED = "conversation.saved"  # session.info key: {student_id: ConvState} saved in this unit of work
FENCE = "conversation.fence"  # session.info key: the lock holder's fencing token
# session.info keys: DEFER is set by a caller whose next statement can carry the turn's state
# write (the USSD screen's, gateway.pipeline); DEFERRED then holds that write, not yet made.
DEFER = "conversation.defer_save"
DEFERRED = "conversation.deferred_save"
# session.info key: (hot-state key, its content) the contact lock took out of Redis on
# acquiring (conversation.lock's hot_key), for load() to use instead of its own GETDEL.
TAKEN = "conversation.taken_hot"

# Redis: set the blob unless the one there is newer (a late, stale writer loses).
_SET_IF_NEWER = """
local old = redis.call('GET', KEYS[1])
if old then
  local ok, decoded = pcall(cjson.decode, old)
  if ok and tonumber(decoded['version']) and tonumber(decoded['version']) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]))
return 1
"""


_STATE = ConversationState.__table__
# Built once: every turn writes the state, and a prebuilt Core statement skips the ORM's
# statement construction and cache-key work (the compiled form is cached per dialect). The
# same fenced UPDATE, built anew (`state_update`), is what gateway.pipeline's statements for
# a USSD screen or a chat reply carry (see DEFER).
def state_update():
    """The fenced UPDATE of a saved state, a new statement each call (build on this, not on
    STATE_UPDATE once that has run: a compiled statement keeps its memoized columns, and a
    RETURNING added to it then exports none)."""
    return (update(_STATE)
            .where(_STATE.c.student_id == bindparam("sid"), _STATE.c.version < bindparam("token"))
            .values(state=bindparam("state"), mode=bindparam("mode"), pack=bindparam("pack"), topic=bindparam("topic"),
                    step=bindparam("step"), data=bindparam("data"), version=bindparam("token"),
                    updated_at=bindparam("updated_at")))


STATE_UPDATE = state_update()
_SAVE = DriverStatement(STATE_UPDATE)


def state_insert(insert):
    """A first state's INSERT … ON CONFLICT (student_id) DO NOTHING (same binds as
    STATE_UPDATE), from the dialect's `insert` (core.db.dialect_insert): what a USSD screen's statement carries for a
    learner with no state row yet, and `write_state`'s first try for one."""
    return (insert(_STATE)
            .values(student_id=bindparam("sid"), state=bindparam("state"), mode=bindparam("mode"),
                    pack=bindparam("pack"), topic=bindparam("topic"), step=bindparam("step"),
                    data=bindparam("data", type_=_STATE.c.data.type), version=bindparam("token"),
                    updated_at=bindparam("updated_at"))
            .on_conflict_do_nothing(index_elements=["student_id"]))


_SCALARS = (str, int, float, bool, type(None))


def copy_data(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), as `copy.deepcopy` makes it;
    anything else inside is deep-copied the usual way. A turn copies the state a few times,
    and deepcopy's memo and dispatch were ~5 % of a USSD step's CPU."""
    if isinstance(value, dict):
        return {k: v if type(v) in _SCALARS else copy_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if type(v) in _SCALARS else copy_data(v) for v in value]
    if type(value) in _SCALARS:
        return value
    return copy.deepcopy(value)


_INSERT_FIRST: dict[str, DriverStatement] = {}


def _insert_first(session: Session) -> DriverStatement:
    """INSERT … ON CONFLICT (student_id) DO NOTHING RETURNING, built once per dialect."""
    dialect = session.get_bind().dialect.name
    stmt = _INSERT_FIRST.get(dialect)
    if stmt is None:
        stmt = DriverStatement(state_insert(dialect_insert(dialect)).returning(_STATE.c.version))
        _INSERT_FIRST[dialect] = stmt
    return stmt


class StaleState(RuntimeError):
    """A newer lock holder has written this student's state; this unit of work must roll back."""


@dataclass
class ConvState:
    student_id: int
    state: str = "new"
    mode: str | None = None
    pack: str | None = None
    topic: str | None = None
    step: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    updated_at: datetime | None = None

    def copy(self) -> ConvState:
        return ConvState(student_id=self.student_id, state=self.state, mode=self.mode, pack=self.pack,
                         topic=self.topic, step=self.step, data=copy_data(self.data), version=self.version,
                         updated_at=self.updated_at)

    def to_json(self) -> str:
        return json.dumps({"student_id": self.student_id, "state": self.state, "mode": self.mode, "pack": self.pack,
                           "topic": self.topic, "step": self.step, "data": self.data, "version": self.version,
                           "updated_at": self.updated_at.isoformat() if self.updated_at else None},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> ConvState:
        d = json.loads(raw)
        d["updated_at"] = datetime.fromisoformat(d["updated_at"]) if d.get("updated_at") else None
        return cls(**d)


def key(student_id: int) -> str:
    return f"somo:conv:{student_id}"


def after_commit(session: Session, action) -> None:
    session.info.setdefault(AFTER_COMMIT, []).append(action)


def run_after_commit(session: Session, *, keep_hot: bool = False) -> list[HotCopy]:
    """Run what waits for the commit. `keep_hot`: return the hot-state writes instead of making
    them, for the caller to hand to `ContactLock.release` (one Redis round trip for both)."""
    kept: list[HotCopy] = []
    for action in session.info.pop(AFTER_COMMIT, []):
        if keep_hot and isinstance(action, HotCopy):
            kept.append(action)
            continue
        try:
            action()
        except Exception:  # noqa: BLE001 - the commit stands; Redis catches up on the next load
            log.exception("after-commit action failed")
    return kept


class HotCopy:
    """A committed state to put back in Redis, unless a newer one is there (set-if-newer)."""

    def __init__(self, store: StateStore, saved: ConvState):
        self.store, self.saved = store, saved

    @property
    def key(self) -> str:
        return key(self.saved.student_id)

    def args(self) -> list:
        return [self.saved.to_json(), self.saved.version, self.store.ttl]

    def __call__(self) -> None:
        self.store._set_hot(self.saved)


class StateStore:
    def __init__(self, runtime: Runtime, session: Session):
        self.runtime = runtime
        self.session = session
        self.redis = runtime.redis
        self.ttl = runtime.settings.state_ttl_s
        self._taken: set[int] = set()  # students whose hot copy this store took out of Redis (load)

    def load(self, student_id: int, *, new: bool = False) -> ConvState:
        """The hot copy, taken out of Redis (GETDEL), or the database copy. `new`: the learner
        was created in this unit of work, so neither has a copy (nothing is read).

        Taking the hot copy out in the same round trip that reads it is what makes a write
        through safe without a second command: from here until this unit of work commits and
        puts the new version back, Redis holds no copy that could go stale (a crash or a
        rollback in between leaves the next turn to read the database, which is right).
        """
        if new:
            self._taken.add(student_id)  # nothing in Redis to drop before the first write either
            return ConvState(student_id=student_id)
        raw = None
        taken = self.session.info.pop(TAKEN, None)
        if taken is not None and taken[0] == key(student_id):
            raw = taken[1]  # already out of Redis, with the lock (one round trip fewer)
            self._taken.add(student_id)
        elif self.redis is not None:
            try:
                raw = self.redis.getdel(key(student_id))
                self._taken.add(student_id)
            except Exception:  # noqa: BLE001 - Redis down: the database copy serves
                log.warning("redis unavailable, reading state from the database")
        if raw:
            try:
                return ConvState.from_json(raw)
            except (ValueError, TypeError, KeyError):
                log.warning("unreadable hot state for student %s, using the database", student_id)
        return self.load_from_db(student_id)

    def load_from_db(self, student_id: int) -> ConvState:
        deferred = self.session.info.get(DEFERRED)
        if deferred is not None and deferred[0]["sid"] == student_id:
            write_deferred(self.session)
        row = self.session.execute(
            select(ConversationState.state, ConversationState.mode, ConversationState.pack,
                   ConversationState.topic, ConversationState.step, ConversationState.data,
                   ConversationState.version, ConversationState.updated_at)
            .where(ConversationState.student_id == student_id)
        ).first()
        if row is None:
            return ConvState(student_id=student_id)
        return ConvState(student_id=student_id, state=row.state, mode=row.mode, pack=row.pack, topic=row.topic,
                         step=row.step, data=copy_data(row.data or {}), version=row.version,
                         updated_at=row.updated_at)

    def save(self, st: ConvState) -> ConvState:
        """Write through to the database (fenced), and to Redis after commit. Returns the saved state."""
        token = self.session.info.get(FENCE) or st.version + 1
        if token <= st.version:
            raise StaleState(f"fencing token {token} is not newer than state version {st.version}")
        saved = st.copy()
        saved.version, saved.updated_at = token, clock.now()
        if st.student_id not in self._taken:  # load() already took the hot copy out
            self._drop_hot(st.student_id)
        params = {"sid": st.student_id, "token": token, "state": saved.state, "mode": saved.mode,
                  "pack": saved.pack, "topic": saved.topic, "step": saved.step, "data": saved.data,
                  "updated_at": saved.updated_at}
        write_deferred(self.session)  # an earlier learner's, handed over from in this turn
        if self.session.info.get(DEFER):
            self.session.info[DEFERRED] = (params, st.version)  # written by the caller's next statement
        else:
            write_state(self.session, params, st.version)
        self.session.info.setdefault(SAVED, {})[st.student_id] = saved
        if self.redis is not None:
            after_commit(self.session, HotCopy(self, saved))
        return saved

    def _set_hot(self, st: ConvState) -> None:
        try:
            script = self.runtime.extra("conversation.set_if_newer", lambda rt: rt.redis.register_script(_SET_IF_NEWER))
            script(keys=[key(st.student_id)], args=[st.to_json(), st.version, self.ttl])
        except Exception:  # noqa: BLE001
            log.warning("could not write the hot state of student %s", st.student_id)

    def _drop_hot(self, student_id: int) -> None:
        if self.redis is None:
            return
        try:
            self.redis.delete(key(student_id))
        except Exception:  # noqa: BLE001
            log.warning("could not drop the hot state of student %s", student_id)


def write_state(session: Session, params: dict, version: int) -> None:
    """The fenced write of a saved state (`params` as `StateStore.save` builds them).

    A state never saved (version 0: no row was read) is inserted first (one INSERT that
    does nothing on a row already there, no savepoint); a saved one is updated first.
    Either way the other statement follows when the first finds nothing to do; when both
    do nothing, a newer writer holds the row.
    """
    conn = session.connection()
    inserted = not version and _insert_first(session).execute(conn, params).first() is not None
    if not inserted:
        updated = _SAVE.execute(conn, params).rowcount
        if not updated and (version == 0 or _insert_first(session).execute(conn, params).first() is None):
            raise StaleState(f"student {params['sid']}: a newer writer holds version >= {params['token']}")


def take_deferred(session: Session) -> tuple[dict, int] | None:
    """The deferred state write, for a statement that makes it (see DEFER); the taker writes
    it, or calls `write_state` with it."""
    return session.info.pop(DEFERRED, None)


def write_deferred(session: Session) -> None:
    """Make the deferred state write now, if one waits (before anything that reads the row,
    and before the unit of work commits)."""
    deferred = session.info.pop(DEFERRED, None)
    if deferred is not None:
        write_state(session, *deferred)


def max_version(session: Session, contact_id: int) -> int:
    """The newest state version among a contact's students (fencing tokens must exceed it)."""
    write_deferred(session)
    return int(session.scalar(
        select(func.coalesce(func.max(ConversationState.version), 0))
        .join(Student, Student.id == ConversationState.student_id)
        .where(Student.contact_id == contact_id)
    ) or 0)


def update_data(session: Session, student_id: int, change) -> None:
    """Change a student's `data` without a new version (e.g. the text kept for MORE).

    Inside a turn it edits the state this unit of work saved (its Redis write, after commit,
    carries the change); outside one it edits the database row and drops the hot copy.
    """
    saved = session.info.get(SAVED, {}).get(student_id)
    deferred = session.info.get(DEFERRED)
    if saved is not None and deferred is not None and deferred[0]["sid"] == student_id:
        change(saved.data)  # this turn's state write is still to be made: it carries the change
        deferred[0]["data"] = saved.data
        return
    write_deferred(session)  # _SET_DATA below is fenced by the saved version: it must be written
    if saved is None:
        from core.runtime import get_runtime

        saved = StateStore(get_runtime(), session).load_from_db(student_id)
        if not saved.version:
            return
        StateStore(get_runtime(), session)._drop_hot(student_id)
    before = copy_data(saved.data)
    change(saved.data)
    if saved.data == before:  # nothing kept and nothing to clear: the common turn writes nothing more
        return
    _SET_DATA.execute(session, {"b_sid": student_id, "b_version": saved.version, "data": copy_data(saved.data)})


_SET_DATA = DriverStatement(
    update(_STATE).where(_STATE.c.student_id == bindparam("b_sid"), _STATE.c.version == bindparam("b_version"))
    .values(data=bindparam("data")))
