"""The learner's class from memory: any enrolment write in this process is seen at once,
another process's within the memo's TTL."""

from __future__ import annotations

from sqlalchemy import event, select, text

from conversation import enrolled
from core.models import Enrolment
from tests import factories


def _count_selects(engine):
    seen = []

    def on_sql(conn, cursor, statement, params, context, executemany):
        if statement.startswith("SELECT enrolments.class_id"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", on_sql)
    return seen


def test_class_is_read_once_then_from_memory_and_forgotten_on_any_enrolment_write(rt):
    with rt.session() as s:
        school = factories.school(s)
        a, b = factories.school_class(s, school=school, name="6A"), factories.school_class(s, school=school, name="6B")
        student = factories.student(s, klass=a)
        ids = (student.id, a.id, b.id)
    sid, a_id, b_id = ids
    seen = _count_selects(rt.engine)
    with rt.session() as s:
        assert enrolled.first_class(s, sid) == a_id
        assert enrolled.first_class(s, sid) == a_id
    assert len(seen) == 1  # the second answer came from memory
    with rt.session() as s:  # the admin moves the learner: an ORM write in this process
        s.scalar(select(Enrolment).where(Enrolment.student_id == sid)).active = False
        s.add(Enrolment(student_id=sid, class_id=b_id))
    with rt.session() as s:
        assert enrolled.first_class(s, sid) == b_id
    assert len(seen) == 2


def test_a_change_by_another_process_is_seen_after_the_ttl(rt, monkeypatch):
    with rt.session() as s:
        school = factories.school(s)
        klass = factories.school_class(s, school=school)
        sid, cid = factories.student(s).id, klass.id
    with rt.session() as s:
        assert enrolled.first_class(s, sid) is None
    with rt.engine.begin() as c:  # raw SQL: no ORM event, as another process's write looks from here
        c.execute(text("INSERT INTO enrolments (student_id, class_id, active, created_at) "
                       "VALUES (:s, :c, true, CURRENT_TIMESTAMP)"), {"s": sid, "c": cid})
    with rt.session() as s:
        assert enrolled.first_class(s, sid) is None  # within the TTL: the remembered answer
    monkeypatch.setattr(enrolled.classes, "ttl_s", 0.0)
    with rt.session() as s:
        assert enrolled.first_class(s, sid) == cid


def test_a_turn_on_postgresql_reads_the_class_with_its_first_statement(pg_url, tmp_path):
    """The memo is empty (a new process, or 30 s after the learner's last turn): the turn's
    first statement (PostgreSQL) brings the class along, so no SELECT of its own is made."""
    from tests.conftest import installed_runtime

    with installed_runtime(pg_url, tmp_path) as rt:
        _class_comes_with_the_first_statement(rt)


def _class_comes_with_the_first_statement(rt):
    from tests.conversation.helpers import Phone

    phone = Phone(rt, "+254711000444")
    phone.send("hi")
    with rt.session() as s:
        school = factories.school(s)
        klass = factories.school_class(s, school=school)
        s.add(Enrolment(student_id=phone.student().id, class_id=klass.id))
        cid = klass.id
    enrolled.forget()
    seen = _count_selects(rt.engine)
    phone.send("1")
    assert seen == []
    with rt.session() as s:
        assert enrolled.first_class(s, phone.student().id) == cid  # remembered from the turn's statement
    assert seen == []
