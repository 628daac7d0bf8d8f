"""What the database layers cost a unit of work, in this process's CPU (user + system).

A USSD step spends most of its CPU in SQLAlchemy and psycopg, not in Somo's own code
(docs/performance.md, round 5). This prints the pieces, each measured the same way:

1. `unit`: a unit of work's fixed cost: a session checking out a pooled connection and
   rolling back; the same with one statement (psycopg sends BEGIN first: a round trip) and
   with two; one autocommitted statement on a bare connection.
2. `statement`: one small Core UPDATE through `Session.execute`, `Connection.execute`,
   `exec_driver_sql` (the SQL compiled once) and psycopg directly.
3. `pending`: the statement a turn starts with (the inbound row, the fencing floor, the
   contact and learner, the rate window), in a new session as in a turn: through the ORM
   (as before round 5); the same columns through Core (no ORM objects); that Core row made
   into the three ORM objects by hand (constructor, `make_transient_to_detached`, add); and
   what a turn does now on PostgreSQL (`conversation.service._pending_with_floor`: the
   driver, then the objects by hand).

The variants run interleaved, one call each in turn, so a noisy neighbour slows all of them
alike. Scratch PostgreSQL database; nothing else is started.

    .venv/bin/python -m bench.db_overhead [--rounds 1500]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
from collections.abc import Callable

from sqlalchemy import Interval, bindparam, func, literal, select, update
from sqlalchemy.orm import aliased, make_transient_to_detached

from bench.stack import drop_database, fresh_database


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def interleaved(variants: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Mean CPU microseconds per call of each variant, calls interleaved."""
    spent: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(max(20, rounds // 10)):  # warm-up: caches, prepared statements, the pool
        for run in variants.values():
            run()
    for _ in range(rounds):
        for name, run in variants.items():
            before = _cpu()
            run()
            spent[name].append(_cpu() - before)
    return {name: round(statistics.mean(values) * 1e6) for name, values in spent.items()}


def _seed(sessions) -> int:
    from core import clock
    from core.models import Contact, Message, Student

    with sessions() as s:
        contact = Contact(phone="+254700000001", country="KE", channels_seen=["ussd"], opted_out=False)
        s.add(contact)
        s.flush()
        learner = Student(contact_id=contact.id, name="Amina", language="en", active=True, onboarded=True)
        s.add(learner)
        s.flush()
        contact.active_student_id = learner.id
        now = clock.now()
        s.add(Message(direction="in", channel="ussd", provider="africastalking", provider_message_id="s1:1",
                      contact_id=contact.id, phone=contact.phone, service_number="*384#", text="1", segments=0,
                      status="received", attempts=0, cost_tokens=0, created_at=now, updated_at=now))
        s.commit()
        return contact.id


def run(rounds: int) -> dict:
    from conversation import limits, service
    from core import clock
    from core.db import make_engine, session_factory
    from core.models import Contact, ConversationState, Message, Student

    url = fresh_database("somo_dbcost")
    engine = make_engine(url)
    try:
        sessions = session_factory(engine)
        contact_id = _seed(sessions)

        def unit(statements: int, end: str = "rollback") -> Callable[[], None]:
            def go() -> None:
                with sessions() as s:
                    conn = s.connection()
                    for _ in range(statements):
                        conn.exec_driver_sql("SELECT 1").all()
                    getattr(s, end)()
            return go

        def autocommitted() -> None:
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("SELECT 1").all()

        units = interleaved({"session, checkout, rollback": unit(0), "+ 1 statement": unit(1),
                             "+ 2 statements": unit(2), "+ 1 statement, commit": unit(1, "commit"),
                             "1 autocommitted statement": autocommitted}, rounds)

        table = Message.__table__
        stmt = update(table).where(table.c.id == bindparam("b_id")).values(
            text=bindparam("b_text"), updated_at=bindparam("b_now"))
        sql = str(stmt.compile(dialect=engine.dialect))
        params = {"b_id": 1, "b_text": "1", "b_now": clock.now()}
        with sessions() as s:
            conn = s.connection()
            driver = conn.connection.driver_connection
            statements = interleaved({
                "Session.execute": lambda: s.execute(stmt, params),
                "Connection.execute": lambda: conn.execute(stmt, params),
                "exec_driver_sql": lambda: conn.exec_driver_sql(sql, params),
                "psycopg": lambda: driver.execute(sql, params),
            }, rounds)
            s.rollback()

        pending = interleaved(_pending_variants(sessions, contact_id, service, limits, Contact, ConversationState,
                                                Message, Student), rounds)
        return {"bench": "db_overhead", "rounds": rounds, "unit_of_work_us": units, "statement_us": statements,
                "pending_row_us": pending}
    finally:
        engine.dispose()
        drop_database(url)


def _pending_variants(sessions, contact_id, service, limits, Contact, ConversationState, Message, Student):
    learner = aliased(Student)
    recent = aliased(Message)
    window = ((recent.phone == Message.phone) & (recent.direction == "in")
              & (recent.created_at > Message.created_at - literal(limits.WINDOW, Interval()))
              & (recent.created_at <= Message.created_at))
    m_cols = [Message.id, Message.direction, Message.channel, Message.provider, Message.provider_message_id,
              Message.contact_id, Message.student_id, Message.phone, Message.service_number, Message.text,
              Message.status, Message.ussd_session_id, Message.payload, Message.created_at]
    c_cols = [Contact.id, Contact.phone, Contact.country, Contact.opted_out, Contact.active_student_id]
    l_cols = [learner.id, learner.contact_id, learner.school_id, learner.name, learner.language, learner.pin_hash,
              learner.active, learner.onboarded, learner.streak_days, learner.streak_last_day, learner.last_active_at]
    floor = (select(func.coalesce(func.max(ConversationState.version), 0))
             .join(Student, Student.id == ConversationState.student_id)
             .where(Student.contact_id == bindparam("contact_id")).scalar_subquery())
    core = (select(*m_cols, floor, *c_cols, *l_cols,
                   select(func.count()).select_from(recent).where(window).scalar_subquery(),
                   select(func.min(recent.created_at)).where(window).scalar_subquery())
            .join(Contact, Contact.id == Message.contact_id)
            .outerjoin(learner, learner.id == Contact.active_student_id)
            .where(Message.contact_id == bindparam("contact_id"), Message.direction == "in",
                   Message.status == "received")
            .order_by(Message.id).limit(2))
    n_m, n_c = len(m_cols), len(c_cols)
    m_keys, c_keys, l_keys = ([c.key for c in cols] for cols in (m_cols, c_cols, l_cols))

    def attach(session, cls, keys, values):
        obj = cls(**dict(zip(keys, values, strict=True)))
        make_transient_to_detached(obj)
        session.add(obj)
        return obj

    before = service._PENDING_WITH_FLOOR.add_columns(  # the ORM statement a turn ran before round 5
        select(func.count()).select_from(service._RECENT).where(service._RATE_WINDOW).scalar_subquery(),
        select(func.min(service._RECENT.created_at)).where(service._RATE_WINDOW).scalar_subquery())

    def orm() -> None:
        with sessions() as s:
            s.execute(before, {"contact_id": contact_id}).all()
            s.rollback()

    def now() -> None:
        with sessions() as s:
            service._pending_with_floor(s, contact_id)
            s.rollback()

    def core_only() -> None:
        with sessions() as s:
            s.connection().execute(core, {"contact_id": contact_id}).all()
            s.rollback()

    def core_and_objects() -> None:
        with sessions() as s:
            row = s.connection().execute(core, {"contact_id": contact_id}).all()[0]
            attach(s, Message, m_keys, row[:n_m])
            attach(s, Contact, c_keys, row[n_m + 1:n_m + 1 + n_c])
            attach(s, Student, l_keys, row[n_m + 1 + n_c:n_m + 1 + n_c + len(l_keys)])
            s.rollback()

    return {"ORM (before round 5)": orm, "Core, same columns": core_only, "Core + 3 ORM objects by hand": core_and_objects,
            "driver + 3 objects (a turn now)": now}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1500)
    args = parser.parse_args(argv)
    result = run(max(50, args.rounds))
    for part in ("unit_of_work_us", "statement_us", "pending_row_us"):
        print(part)
        for name, us in result[part].items():
            print(f"  {name:32s} {us:6d} us CPU")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
