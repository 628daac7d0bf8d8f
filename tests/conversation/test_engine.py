"""The edge around the machine: the teacher seam, MORE from the kept rest, a failing mode,
a vanished pack, and babel formatting for the student's locale."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from conversation.engine import PRE_HANDLERS, clean_text
from conversation.lessons import MODES_EXTRA
from conversation.service import remember_rest
from conversation.text import day, number
from core.messages import Reply
from core.models import CurriculumPack, PracticeAttempt, Student
from modes.base import ModeResult
from tests import factories
from tests.conversation.helpers import Phone, load_pack


def into_menu(rt, number_: str) -> Phone:
    phone = Phone(rt, number_)
    for text in ("hi", "1", "Amina", "skip", "1"):
        phone.send(text)
    return phone


def test_a_teachers_phone_goes_to_the_teacher_pre_handler(rt):
    assert "conversation.teachers.service.handle" in PRE_HANDLERS
    with rt.session() as s:
        school = factories.school(s)
        factories.staff(s, school=school, phone="+254700111222",
                        classes=[factories.school_class(s, school=school, name="6B")])
    reply = Phone(rt, "+254700111222").send("HELP")
    assert reply and "Welcome to Somo" not in reply
    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(Student)) == 0  # no learner profile for a teacher


def test_more_and_zaidi_answer_from_the_kept_rest(rt):
    phone = into_menu(rt, "+254700111333")
    with rt.session() as s:
        remember_rest(s, phone.contact().id, "sms", "the second half of a long lesson")
    assert phone.send("MORE") == "the second half of a long lesson"
    assert phone.send("ZAIDI") == "There is nothing more to show."
    assert phone.state().state == "menu"


class Exploding:
    """A test-double mode that writes a row and then fails: the row must not survive."""

    name = "teach"

    def start(self, ctx):
        ctx.session.add(PracticeAttempt(student_id=ctx.student.id, pack="mini-math", topic=ctx.topic_id, skill="s",
                                        question_key="k", question="q", qtype="short", answer_given="a",
                                        correct_answer="b", correct=False))
        ctx.session.flush()
        ctx.data["step"] = 99
        raise RuntimeError("mode bug")

    resume = handle = start


class Quick:
    name = "teach"

    def start(self, ctx):
        return ModeResult(Reply("All done in one step."), done=True, progress_label="never shown")

    resume = start

    def handle(self, ctx, text):
        return self.start(ctx)


def test_a_failing_mode_is_rolled_back_and_the_student_lands_on_the_menu(rt):
    load_pack(rt)
    rt.extras[MODES_EXTRA] = {"teach": Exploding()}
    phone = into_menu(rt, "+254700111444")
    phone.send("1"), phone.send("1")
    reply = phone.send("1")
    assert "Sorry, something went wrong in this lesson." in reply and "1. Mathematics" in reply
    assert phone.state().state == "menu" and "teach" not in phone.state().data.get("modes", {})
    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(PracticeAttempt)) == 0


def test_a_lesson_step_takes_no_savepoint_and_a_failure_redoes_only_its_own_message(rt):
    """The unit of work of one message is redone whole when its mode fails (no SAVEPOINT per
    step); the student's next message runs the mode again as usual."""
    from sqlalchemy import event

    load_pack(rt)
    phone = into_menu(rt, "+254700111466")
    phone.send("1"), phone.send("1")
    statements: list[str] = []
    event.listen(rt.engine, "before_cursor_execute", lambda *a: statements.append(a[2].split(None, 1)[0].upper()))
    phone.send("1")  # the lesson starts: progress and the state are written
    assert "SAVEPOINT" not in statements and "RELEASE" not in statements
    assert phone.state().state == "lesson"

    rt.extras[MODES_EXTRA] = {"teach": Exploding()}
    reply = phone.send("1")
    assert "Sorry, something went wrong in this lesson." in reply and phone.state().state == "menu"
    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(PracticeAttempt)) == 0  # the first try's row is gone
    rt.extras[MODES_EXTRA] = {"teach": Quick()}
    replies = [phone.send("1") for _ in range(4)]  # back through the menu into the lesson
    assert any(r.startswith("All done in one step.") for r in replies), replies  # the mode runs again


def test_a_finished_mode_returns_to_the_menu_with_its_last_words(rt):
    load_pack(rt)
    rt.extras[MODES_EXTRA] = {"teach": Quick()}
    phone = into_menu(rt, "+254700111555")
    phone.send("1"), phone.send("1")
    reply = phone.send("1")
    assert reply.startswith("All done in one step.") and "what do you want to learn?" in reply
    assert "Continue" not in reply and phone.state().state == "menu"


def test_a_pack_removed_mid_lesson_sends_the_student_to_the_menu(rt):
    load_pack(rt)
    phone = into_menu(rt, "+254700111666")
    phone.send("1"), phone.send("1"), phone.send("1")
    with rt.session() as s:
        s.delete(s.scalar(select(CurriculumPack)))
    reply = phone.send("1")
    assert "That lesson is not available now." in reply and phone.state().state == "menu"


def test_numbers_and_dates_are_formatted_by_babel_for_the_locale():
    at = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
    assert day(at, "en", "KE") == "Mar 2, 2026"
    assert day(at, "sw", "KE") == "2 Mac 2026"
    assert number(1234567, "en") == "1,234,567"
    assert number(1234.5, "sw") == "1,234.5"


def test_clean_text_strips_control_characters_and_caps_length():
    assert clean_text("\x00stop\x1b\u202e") == "stop"
    assert len(clean_text("x" * 5000)) == 2000
    assert clean_text(None) == ""


def test_a_failing_message_gets_an_apology_and_does_not_block_the_next(rt):
    from conversation import engine
    from conversation.service import process_pending
    from core import clock
    from core.messages import Inbound
    from core.models import Message
    from gateway.pipeline import make_deliver, store_inbound

    engine.register_pre_handler("tests.conversation.doubles.explode_on_boom")
    try:
        with rt.session() as s:
            for i, text in enumerate(["boom", "hi"]):
                stored = store_inbound(s, Inbound(channel="sms", provider="console", provider_message_id=f"b{i}",
                                                  sender="+254700111777", recipient=None, text=text,
                                                  received_at=clock.now()))
        process_pending(rt, stored.contact_id, make_deliver(rt))
    finally:
        engine.PRE_HANDLERS.remove("tests.conversation.doubles.explode_on_boom")
    with rt.session() as s:
        rows = list(s.scalars(select(Message).order_by(Message.id)))
    inbound = [m for m in rows if m.direction == "in"]
    assert [m.status for m in inbound] == ["handled", "handled"]
    assert "RuntimeError: pre-handler bug" in inbound[0].error and inbound[1].error is None
    replies = {m.reply_to_id: m.text for m in rows if m.direction == "out"}
    assert replies[inbound[0].id] == "Sorry, something went wrong. Please try again."
    assert "Welcome to Somo" in replies[inbound[1].id]
