"""Hot-path Core statements sent through psycopg directly, on SQLAlchemy's own connection.

A USSD step runs five to nine small statements; through `Session.execute` each cost about
twice the driver's own CPU (bench.db_overhead: 151 against 81 µs for a one-row UPDATE, and
several hundred µs for the step's sixteen-parameter screen INSERT), spent building an
execution context, processing parameters and wrapping the result. `DriverStatement` keeps
what the statement needs from SQLAlchemy (the dialect's SQL, its bind and result
processors, compiled once per dialect and driver) and sends it on the connection the
session already holds, so it runs in the same transaction as everything else:

- `before_cursor_execute` listeners still see the statement (the statement counters of the
  benchmarks and tests);
- a driver error is raised as SQLAlchemy raises it (`OperationalError` for a lost server,
  the connection invalidated), so callers catch the same exceptions;
- the session is flushed first when called with a session, as `Session.execute` autoflushes;
- a column left out of an INSERT's or UPDATE's values gets its Python `default` or
  `onupdate` (a constant, or a function SQLAlchemy calls without a context, as the models'
  `_now`); any other kind of default sends the statement through SQLAlchemy.

Any other dialect or driver (SQLite in the demo and the tests), and a statement with
expanding or post-compile parameters (any `in_()`, literal lists included: write
`column == any_(array)` for the driver path), runs through SQLAlchemy as before: the results look
alike (`first()`, `scalar()`, `all()`, `rowcount`; rows are indexed by position, and by
column name where every column has its own).

Not for the audit log: its append-only guard is a session event the driver path skips, so
an UPDATE or DELETE of `audit_log` is refused here too.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from psycopg.pq import ExecStatus
from sqlalchemy import Connection, bindparam, inspect, update
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import set_committed_value

_TUPLES_OK = ExecStatus.TUPLES_OK


class DriverResult:
    """The rows of one statement (result processors applied), with the parts of SQLAlchemy's
    result API the hot path uses."""

    __slots__ = ("rowcount", "_rows")

    def __init__(self, rows: list[tuple], rowcount: int):
        self._rows, self.rowcount = rows, rowcount

    def first(self) -> tuple | None:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def all(self) -> list[tuple]:
        return self._rows


class _Compiled:
    __slots__ = ("sql", "fixed", "defaults", "binds", "results", "row")

    def __init__(self, sql: str, fixed: dict, defaults: list, binds: dict, results: list, row):
        self.sql, self.fixed, self.defaults, self.binds, self.results, self.row = sql, fixed, defaults, binds, results, row


_THROUGH_SQLALCHEMY = object()  # a dialect, driver or statement the driver path does not take


class DriverStatement:
    """A Core statement (no ORM entities) compiled once per dialect and driver; on
    PostgreSQL with psycopg executed by the driver (see the module's docstring)."""

    __slots__ = ("statement", "_compiled")

    def __init__(self, statement):
        self.statement = statement
        self._compiled: dict[tuple[str, str], _Compiled | object] = {}

    def execute(self, target: Session | Connection, params: dict[str, Any]) -> DriverResult:
        if isinstance(target, Session):
            target.flush()  # what Session.execute's autoflush would write first
            conn = target.connection()
        else:
            conn = target
        dialect = conn.dialect
        compiled = self._compiled.get((dialect.name, dialect.driver))
        if compiled is None:
            compiled = self._compile(conn)
        if compiled is _THROUGH_SQLALCHEMY:
            return conn.execute(self.statement, params)  # type: ignore[return-value]
        args = {**compiled.fixed, **params}
        for name, make in compiled.defaults:  # a column's Python default or onupdate, not given
            if name not in params:
                args[name] = make(None)
        for name, process in compiled.binds.items():
            args[name] = process(args[name])
        sql = compiled.sql
        if conn._has_events or conn.engine._has_events:
            conn.dispatch.before_cursor_execute(conn, None, sql, args, None, False)
        raw = conn.connection.driver_connection
        cursor = None
        try:
            cursor = raw.cursor()
            cursor.execute(sql, args)
            # the result's status, not `cursor.description`: that builds a Column per field on every call
            res = cursor.pgresult
            rows = cursor.fetchall() if res is not None and res.status == _TUPLES_OK else []
            rowcount = cursor.rowcount
            cursor.close()
        except Exception as exc:  # noqa: BLE001 - wrapped as SQLAlchemy wraps it (and the connection invalidated)
            if not isinstance(exc, dialect.loaded_dbapi.Error):
                raise
            conn._handle_dbapi_exception(exc, sql, args, cursor, None)
        if compiled.results and rows:
            rows = [_processed(row, compiled.results) for row in rows]
        if compiled.row is not None and rows:
            rows = [compiled.row._make(row) for row in rows]
        return DriverResult(rows, rowcount)

    def through_driver(self, conn: Connection) -> bool:
        """Whether this statement is sent by the driver on `conn` (tests ask it)."""
        compiled = self._compiled.get((conn.dialect.name, conn.dialect.driver)) or self._compile(conn)
        return compiled is not _THROUGH_SQLALCHEMY

    def _compile(self, conn: Connection):
        dialect = conn.dialect
        key = (dialect.name, dialect.driver)
        done = self.statement.compile(dialect=dialect)
        if (done.isupdate or done.isdelete) and getattr(getattr(self.statement, "table", None), "name", None) == "audit_log":
            raise ValueError("audit_log: rows may be added, never changed or deleted (core.audit)")
        if (dialect.name != "postgresql" or dialect.driver != "psycopg" or done.positional
                or done.literal_execute_params or done.post_compile_params or done.escaped_bind_names):
            self._compiled[key] = _THROUGH_SQLALCHEMY
            return _THROUGH_SQLALCHEMY
        names = [name for name, b in done.binds.items() if b.callable is None and b.value is None and b.required]
        fixed = done.construct_params({name: None for name in names}, _check=False)
        for name in names:
            fixed.pop(name, None)
        defaults = []  # (bind name, callable): columns left out of the values, filled per execution
        for columns, attr in ((done.insert_prefetch, "default"), (done.update_prefetch, "onupdate")):
            for column in columns:
                default = getattr(column, attr)
                if column.key not in done.binds or default is None or not (default.is_scalar or default.is_callable):
                    self._compiled[key] = _THROUGH_SQLALCHEMY
                    return _THROUGH_SQLALCHEMY
                if default.is_scalar:
                    fixed[column.key] = default.arg
                else:  # SQLAlchemy wraps a no-argument function to take the execution context
                    defaults.append((column.key, default.arg))
        binds = {name: process for name, process in done._bind_processors.items() if not isinstance(process, tuple)}
        if done.isupdate or done.isinsert or done.isdelete:
            columns = done.returning or ()
        else:
            columns = getattr(self.statement, "selected_columns", ())  # a text() statement has none
        results = [(i, p) for i, column in enumerate(columns)
                   if (p := column.type.result_processor(dialect, None)) is not None]
        names = [getattr(column, "key", None) for column in columns]
        row = None  # rows are plain tuples unless every column has its own name
        if names and all(isinstance(n, str) and n.isidentifier() and not n.startswith("_") for n in names) \
                and len(set(names)) == len(names):
            row = namedtuple("Row", names)  # noqa: PYI024 - attribute access, as SQLAlchemy's rows give
        compiled = _Compiled(str(done), fixed, defaults, binds, results, row)
        self._compiled[key] = compiled
        return compiled


def _processed(row: tuple, processors: list) -> tuple:
    values = list(row)
    for i, process in processors:
        values[i] = process(values[i])
    return tuple(values)


_WRITES: dict[tuple[str, tuple[str, ...]], DriverStatement] = {}


def write_now(obj: Any, **values: Any) -> None:
    """Set columns of a loaded row (primary key `id`) with one UPDATE sent now, in the session's
    transaction, and leave the object clean, holding the values as if it had loaded them.

    For the few writes a conversation turn makes to a learner (its language, name, the
    onboarded flag, the streak, the last-active minute): each marked the `Student` dirty,
    and the ORM flush that then wrote it spent several times the UPDATE's own cost in
    unit-of-work bookkeeping (py-spy of the API workers at 300 USSD screens/s: 8 % of their
    time in `Session.flush`). Values equal to the loaded ones write nothing, where an equal
    assignment still made the object dirty. Anything already pending in the session is
    flushed first, as before any statement sent with it.

    Falls back to plain assignment (the ORM writes it at flush) for an object in no session
    or not yet inserted, and for a model whose mapper has update listeners (`core.memo`
    forgets on them) or a column with an `onupdate` this UPDATE would leave stale on the object.
    """
    changed = {key: value for key, value in values.items() if getattr(obj, key) != value}
    if not changed:
        return
    session = object_session(obj)
    mapper = inspect(type(obj))
    table = mapper.local_table
    if session is None or not inspect(obj).persistent or mapper.dispatch.before_update \
            or mapper.dispatch.after_update or any(column.onupdate is not None for column in table.columns):
        for key, value in changed.items():
            setattr(obj, key, value)
        return
    keys = tuple(sorted(changed))
    statement = _WRITES.get((table.name, keys))
    if statement is None:
        statement = _WRITES.setdefault((table.name, keys), DriverStatement(
            update(table).where(table.c.id == bindparam("w_id")).values({key: bindparam(f"w_{key}") for key in keys})))
    statement.execute(session, {"w_id": obj.id, **{f"w_{key}": value for key, value in changed.items()}})
    for key, value in changed.items():
        set_committed_value(obj, key, value)
