"""core.driver: hot-path Core statements through psycopg give what SQLAlchemy gives."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, event, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError, OperationalError

from core.db import make_engine
from core.driver import DriverResult, DriverStatement
from core.models import Contact, Message
from core.settings import normalise_db_url
from tests import services

_M, _C = Message.__table__, Contact.__table__
# A statement with every kind of parameter the hot path sends: literals fixed at build time,
# a UTC datetime (a TypeDecorator), a JSON payload, a nullable integer; and RETURNING.
_INSERT = pg_insert(_M).values(
    direction="out", channel="ussd", provider=bindparam("b_provider"), text=bindparam("b_text"), segments=0,
    status="sent", attempts=0, cost_tokens=0, phone=bindparam("b_phone"), contact_id=bindparam("b_contact"),
    payload=bindparam("b_payload", type_=_M.c.payload.type), created_at=bindparam("b_now"),
    updated_at=bindparam("b_now"),
).returning(_M.c.id, _M.c.created_at, _M.c.payload)
_RENAME = update(_C).where(_C.c.id == bindparam("cid")).values(country=bindparam("country"))
_READ = select(_M.c.text, _M.c.created_at, _M.c.payload).where(_M.c.id == bindparam("mid"))


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url, pool_size=2)
    yield engine
    engine.dispose()


def _contact(conn, phone: str) -> int:
    return conn.execute(pg_insert(_C).values(phone=phone, country="KE", channels_seen=[], opted_out=False,
                                             created_at=datetime.now(UTC)).returning(_C.c.id)).scalar_one()


def test_rows_and_parameters_match_sqlalchemy(pg_url):
    engine = make_engine(pg_url, pool_size=2)
    when = datetime(2026, 12, 7, 3, 4, 5, 678000, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            cid = _contact(conn, "+254700000901")
            params = {"b_provider": "africastalking", "b_text": "CON Karibu", "b_phone": "+254700000901",
                      "b_contact": cid, "b_payload": {"networkCode": "63902", "list": [1, "a"]}, "b_now": when}
            ours = DriverStatement(_INSERT).execute(conn, params)
            theirs = conn.execute(_INSERT, params)
            assert isinstance(ours, DriverResult)
            mine, other = ours.first(), theirs.first()
            assert mine[0] == other[0] - 1  # both inserted, in order
            assert mine[1:] == tuple(other[1:]) == (when, {"networkCode": "63902", "list": [1, "a"]})
            assert (mine.id, mine.created_at) == (mine[0], when)  # by name too, as SQLAlchemy's rows
            assert ours.rowcount == 1
            # a SELECT through the driver reads back what both wrote, processed as SQLAlchemy does
            read = DriverStatement(_READ)
            assert read.execute(conn, {"mid": mine[0]}).all() == [("CON Karibu", when, params["b_payload"])]
            assert read.execute(conn, {"mid": -1}).first() is None
            renamed = DriverStatement(_RENAME).execute(conn, {"cid": cid, "country": "UG"})
            assert renamed.rowcount == 1 and renamed.all() == []
            assert conn.execute(select(_C.c.country).where(_C.c.id == cid)).scalar() == "UG"
            missed = DriverStatement(_RENAME).execute(conn, {"cid": -1, "country": "UG"})
            assert missed.rowcount == 0 and missed.first() is None
    finally:
        engine.dispose()


def test_a_text_statement_with_typed_parameters(pg_url):
    engine = make_engine(pg_url, pool_size=1)
    when = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    stmt = DriverStatement(text("SELECT CAST(:when AS timestamp) AS t, :n + 1").bindparams(
        bindparam("when", type_=_M.c.created_at.type)))
    try:
        with engine.connect() as conn:
            row = stmt.execute(conn, {"when": when, "n": 41}).first()
            # the bind processor stored it as naive UTC; a text() has no result types to apply
            assert row == (when.replace(tzinfo=None), 42)
    finally:
        engine.dispose()


def test_it_runs_in_the_session_transaction_and_is_counted(pg_url):
    from sqlalchemy.orm import Session

    engine = make_engine(pg_url, pool_size=1)
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda c, cur, statement, *a: seen.append(statement.split()[0]))
    try:
        with Session(engine) as session:
            cid = _contact(session.connection(), "+254700000912")
            session.add(Contact(phone="+254700000913", country="KE", channels_seen=[], opted_out=False,
                                created_at=datetime.now(UTC)))
            DriverStatement(_RENAME).execute(session, {"cid": cid, "country": "ZM"})
            # the pending object was flushed first (as Session.execute autoflushes), and both
            # are in the one transaction the rollback undoes
            assert seen[-2:] == ["INSERT", "UPDATE"]
            assert session.scalar(select(func.count()).select_from(_C).where(_C.c.phone.like("+25470000091%"))) == 2
            session.rollback()
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(_C).where(_C.c.phone.like("+25470000091%"))).scalar() == 0
    finally:
        engine.dispose()


def test_driver_errors_are_raised_as_sqlalchemy_raises_them(pg_url):
    engine = make_engine(pg_url, pool_size=1)
    try:
        with engine.begin() as conn:
            cid = _contact(conn, "+254700000904")
        dup = DriverStatement(pg_insert(_C).values(phone=bindparam("phone"), country="KE", channels_seen=[],
                                                   opted_out=False, created_at=bindparam("now")))
        with engine.connect() as conn, pytest.raises(IntegrityError):
            dup.execute(conn, {"phone": "+254700000904", "now": datetime.now(UTC)})
        # a lost server: SQLAlchemy's OperationalError, and the pool forgets the connection
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            subprocess.run(["psql", services.PG_ADMIN_URL, "-qc", f"SELECT pg_terminate_backend({pid})"],
                           check=True, capture_output=True)
            with pytest.raises(OperationalError):
                DriverStatement(_RENAME).execute(conn, {"cid": cid, "country": "UG"})
            assert conn.invalidated
        with engine.connect() as conn:  # a new connection serves the next unit of work
            assert DriverStatement(_RENAME).execute(conn, {"cid": cid, "country": "UG"}).rowcount == 1
            conn.commit()
    finally:
        engine.dispose()


def test_sqlite_runs_through_sqlalchemy(sqlite_url):
    engine = make_engine(normalise_db_url(sqlite_url))
    try:
        with engine.begin() as conn:
            conn.execute(_C.insert().values(phone="+254700000905", country="KE", channels_seen=[], opted_out=False,
                                            created_at=datetime.now(UTC)))
            cid = conn.execute(select(_C.c.id).where(_C.c.phone == "+254700000905")).scalar()
            result = DriverStatement(_RENAME).execute(conn, {"cid": cid, "country": "ZM"})
            assert result.rowcount == 1
            assert DriverStatement(select(_C.c.country).where(_C.c.id == bindparam("cid"))).execute(
                conn, {"cid": cid}).scalar() == "ZM"
    finally:
        engine.dispose()


def test_expanding_parameters_run_through_sqlalchemy(pg_url):
    engine = make_engine(pg_url, pool_size=1)
    stmt = DriverStatement(select(_C.c.phone).where(_C.c.phone.in_(bindparam("phones", expanding=True)))
                           .order_by(_C.c.phone))
    try:
        with engine.begin() as conn:
            for phone in ("+254700000906", "+254700000907"):
                _contact(conn, phone)
            rows = stmt.execute(conn, {"phones": ["+254700000907", "+254700000906", "+1"]}).all()
            assert [r[0] for r in rows] == ["+254700000906", "+254700000907"]
    finally:
        engine.dispose()


def test_left_out_columns_get_their_python_default_and_onupdate(pg_url):
    from core.models import ConversationState, Student

    state = ConversationState.__table__
    engine = make_engine(pg_url, pool_size=1)
    try:
        with engine.begin() as conn:
            cid = _contact(conn, "+254700000921")
            sid = conn.execute(Student.__table__.insert().values(contact_id=cid, name="", language="en").returning(
                Student.__table__.c.id)).scalar_one()
            # updated_at has default=_now and onupdate=_now; neither statement names it
            DriverStatement(state.insert().values(student_id=bindparam("sid"), state="new", step=0, data={}, version=1)
                            ).execute(conn, {"sid": sid})
            first = conn.execute(select(state.c.updated_at).where(state.c.student_id == sid)).scalar()
            assert first is not None
            DriverStatement(update(state).where(state.c.student_id == bindparam("sid")).values(step=bindparam("step"))
                            ).execute(conn, {"sid": sid, "step": 2})
            step, then = conn.execute(select(state.c.step, state.c.updated_at).where(state.c.student_id == sid)).one()
            assert step == 2 and then > first
            # a value given for it wins
            fixed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
            DriverStatement(update(state).where(state.c.student_id == bindparam("sid")).values(step=bindparam("step"))
                            ).execute(conn, {"sid": sid, "step": 3, "updated_at": fixed})
            assert conn.execute(select(state.c.updated_at).where(state.c.student_id == sid)).scalar() == fixed
    finally:
        engine.dispose()


def test_the_hot_path_statements_take_the_driver_on_postgresql(pg_url):
    """A statement that silently falls back to SQLAlchemy (an `in_()` list, say) loses the
    point of the driver path: each hot statement is checked here."""
    from channels.jobs import _CLAIM_PG, _success_statement
    from channels.outbound import _reply_insert
    from conversation.engine import _FIRST_LEARNER, _NEW_LEARNER
    from conversation.service import _HANDLED, _PENDING_DRIVER
    from conversation.store import _SAVE, _SET_DATA
    from conversation.world import _CLASS_PACKS, _PROFILES, _SUBJECTS_OF_COUNTRY
    from gateway.pipeline import (
        _FIRST_STATE_SCREEN_AND_HANDLED,
        _SCREEN_AND_HANDLED,
        _STATE_SCREEN_AND_HANDLED,
        _store_one_statement,
    )
    from modes.common import _INSERT_ATTEMPT
    from modes.mastery import _COUNTS, _INSERT_COUNTS, _TOPIC_KNOWN_PG, _UPDATE_COUNTS
    from modes.progress import _progress_update

    engine = make_engine(pg_url, pool_size=1)
    reply_columns = ("direction", "channel", "provider", "text", "segments", "encoding", "status", "payload",
                     "attempts", "cost_tokens", "created_at", "updated_at", "phone", "contact_id", "reply_to_id")
    hot = [_CLAIM_PG, _success_statement(1), _success_statement(3), _reply_insert(2, reply_columns), _FIRST_LEARNER,
           _HANDLED, _PENDING_DRIVER, _SAVE, _SET_DATA, _CLASS_PACKS, _PROFILES, _SUBJECTS_OF_COUNTRY, _SCREEN_AND_HANDLED,
           _STATE_SCREEN_AND_HANDLED, _FIRST_STATE_SCREEN_AND_HANDLED, _NEW_LEARNER,
           _store_one_statement("ussd"), _store_one_statement("sms"), _INSERT_ATTEMPT, _COUNTS, _INSERT_COUNTS,
           _TOPIC_KNOWN_PG, _UPDATE_COUNTS, _progress_update("postgresql", True, True, False, True),
           _progress_update("postgresql", True, False, True, False)]
    try:
        with engine.connect() as conn:
            assert [str(s.statement).split()[0] for s in hot if not s.through_driver(conn)] == []
            # and one that cannot: an IN list given at execution
            expanding = DriverStatement(select(_C.c.id).where(_C.c.phone.in_(bindparam("phones", expanding=True))))
            assert not expanding.through_driver(conn)
    finally:
        engine.dispose()


@pytest.mark.parametrize("url_fixture", ["pg_url", "sqlite_url"])
def test_an_update_or_delete_of_the_audit_log_is_refused(url_fixture, request):
    from sqlalchemy import delete

    from core.models import AuditLog

    audit = AuditLog.__table__
    engine = make_engine(normalise_db_url(request.getfixturevalue(url_fixture)), pool_size=1)
    try:
        with engine.connect() as conn:
            for stmt in (update(audit).values(action=bindparam("action")), delete(audit)):
                with pytest.raises(ValueError, match="audit_log"):
                    DriverStatement(stmt).execute(conn, {"action": "x"})
            # reading it is as usual
            assert DriverStatement(select(func.count()).select_from(audit)).execute(conn, {}).scalar() >= 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("url_fixture", ["pg_url", "sqlite_url"])
def test_write_now_updates_at_once_and_leaves_the_object_clean(url_fixture, request):
    from sqlalchemy.orm import Session

    from core.driver import write_now
    from core.models import Student

    engine = make_engine(normalise_db_url(request.getfixturevalue(url_fixture)), pool_size=1)
    sent: list[str] = []
    flushed: list[int] = []
    event.listen(engine, "before_cursor_execute", lambda c, cur, statement, *a: sent.append(" ".join(statement.split())))
    phone = "+254700000931" if url_fixture == "pg_url" else "+254700000932"
    try:
        with Session(engine) as session:
            event.listen(session, "before_flush", lambda *a: flushed.append(1))
            cid = _contact(session.connection(), phone) if url_fixture == "pg_url" else None
            if cid is None:
                contact = Contact(phone=phone, country="KE", channels_seen=[], opted_out=False, created_at=datetime.now(UTC))
                session.add(contact)
                session.flush()
                cid = contact.id
            student = Student(contact_id=cid, name="", language="en")
            session.add(student)
            write_now(student, name="Amina")  # not inserted yet: a plain assignment, the flush writes it
            assert student.name == "Amina" and student in session.new
            session.commit()
            flushed.clear()
            day = datetime(2026, 12, 7, tzinfo=UTC).date()
            session.refresh(student)  # loaded in this transaction, as a turn's learner is

            sent.clear()
            write_now(student, name="Amina", language="en")  # the values it holds: nothing is sent
            assert sent == [] and student not in session.dirty
            write_now(student, onboarded=True, streak_days=3, streak_last_day=day, language="en")
            assert len(sent) == 1 and sent[0].startswith("UPDATE students SET")
            for column in ("onboarded", "streak_days", "streak_last_day"):
                assert column in sent[0]
            assert "language" not in sent[0]  # only what changed
            assert (student.onboarded, student.streak_days, student.streak_last_day) == (True, 3, day)
            assert student not in session.dirty and not session.dirty
            sid = student.id
            session.commit()
            assert flushed == []  # no unit of work was run for it
        with Session(engine) as session:
            again = session.get(Student, sid)
            assert (again.name, again.onboarded, again.streak_days, again.streak_last_day) == ("Amina", True, 3, day)
            session.delete(again)
            session.execute(Contact.__table__.delete().where(Contact.__table__.c.id == cid))
            session.commit()
    finally:
        engine.dispose()


def test_write_now_leaves_a_model_with_update_listeners_to_the_orm(sqlite_url):
    from sqlalchemy.orm import Session

    import conversation.teachers.directory  # noqa: F401 - its listeners forget on SchoolClass writes
    from core.driver import write_now
    from core.models import School, SchoolClass

    engine = make_engine(normalise_db_url(sqlite_url), pool_size=1)
    try:
        with Session(engine) as session:
            school = School(name="Write-now Primary", country="KE")
            session.add(school)
            session.flush()
            klass = SchoolClass(school_id=school.id, name="P5 Blue", join_code="WRITENOW1")
            session.add(klass)
            session.commit()
            write_now(klass, name="P5 Green")
            assert klass in session.dirty  # assigned: the ORM's flush writes it and its listeners run
            session.commit()
            assert session.scalar(select(SchoolClass.name).where(SchoolClass.id == klass.id)) == "P5 Green"
    finally:
        engine.dispose()
