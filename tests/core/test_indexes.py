"""The partial indexes on `messages` (core.models): what the hot reads use, and what rows they hold.

A prepared statement's generic plan cannot use a partial index whose condition it only
meets through a bound parameter, so these statements write the condition as literals
(`literal_value`). Each test prepares the statement as psycopg does after a few runs,
asks PostgreSQL for the generic plan, and checks the index is in it; a statement rewritten
with bound parameters for those conditions fails here.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from channels.reconcile import _STUCK
from conversation.service import _PENDING_COLUMNS
from core.db import make_engine
from core.models import Message
from gateway.jobs import SWEEP_INBOUND, SWEEP_OUTBOUND


@pytest.fixture
def engine(pg_url):
    engine = make_engine(pg_url, pool_size=1)
    yield engine
    engine.dispose()


def _generic_plan(engine, statement) -> str:
    """EXPLAIN of the statement prepared with $n parameters, under a generic plan."""
    compiled = statement.compile(dialect=engine.dialect)
    names: list[str] = []

    def positional(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    sql = re.sub(r"%\((\w+)\)s", positional, compiled.string)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql("SET enable_seqscan = off")  # the tables are tiny: ask what the plan *can* use
        types = ", ".join(compiled.binds[name].type.compile(dialect=engine.dialect) for name in names)
        conn.exec_driver_sql(f"PREPARE probe ({types}) AS {sql}" if names else f"PREPARE probe AS {sql}")
        nulls = ", ".join("NULL" for _ in names)
        plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN EXECUTE probe({nulls})" if names else "EXPLAIN EXECUTE probe")
                         .scalars())
        conn.exec_driver_sql("DEALLOCATE probe")
        conn.rollback()
    return plan


def test_a_turns_first_statement_reads_the_inbox_and_the_rate_window_by_index(engine):
    plan = _generic_plan(engine, _PENDING_COLUMNS)
    assert "ix_messages_inbox" in plan, plan
    assert "ix_messages_inbound_phone" in plan, plan


@pytest.mark.parametrize(("statement", "index"), [
    (SWEEP_INBOUND, "ix_messages_inbox"),
    (SWEEP_OUTBOUND, "ix_messages_outbox"),
    (_STUCK, "ix_messages_outbox"),
])
def test_the_sweep_and_the_reconciliation_read_small_indexes(engine, statement, index):
    plan = _generic_plan(engine, statement)
    assert index in plan, plan


def _partial_indexes() -> dict[str, str]:
    return {ix.name: str(ix.dialect_options["postgresql"]["where"]) for ix in Message.__table__.indexes
            if ix.dialect_options["postgresql"]["where"] is not None}


def _words(sql: str) -> set[str]:
    """Names, keywords and quoted values, without PostgreSQL's casts or its `= ANY (ARRAY[...])` for IN."""
    words = re.findall(r"[a-z_]+|'[a-z]+'", re.sub(r"::(text|character varying)(\[\])?", "", sql.lower()))
    return set(words) - {"any", "array", "in"}


def test_the_migrated_indexes_have_the_models_conditions(engine, sqlite_url):
    """Alembic's comparison (tests/core/test_models.py) does not look at an index's WHERE."""
    partial = _partial_indexes()
    assert {"ix_messages_inbox", "ix_messages_outbox", "ix_messages_inbound_phone"} <= set(partial)
    with engine.connect() as conn:
        on_pg = dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'messages'")).all())
    sqlite = make_engine(sqlite_url)
    with sqlite.connect() as conn:
        on_sqlite = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'messages' "
                                           "AND type = 'index' AND sql IS NOT NULL")).all())
    sqlite.dispose()
    for name, where in partial.items():
        for definitions in (on_pg, on_sqlite):
            assert name in definitions, name
            got = definitions[name].split(" WHERE ", 1)[1]
            # PostgreSQL writes `status IN (...)` as `= ANY (ARRAY[...])` and adds casts and brackets
            assert _words(got) == _words(where), (name, got)
