"""Teach over SMS: fewer, fuller messages. The reading steps flow into one reply with the
first question, an answer's feedback comes with the next question (or the recap), and the
room left in a reply's last SMS part carries optional lines; the order stays strict, skips
are refused and the stored progress is what a student pressing NEXT would have."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from channels.render import FILL, render_sms
from core.messages import Option, Reply
from core.models import LessonProgress, PracticeAttempt
from tests import factories
from tests.modes.conftest import Driver


def _row(rt, student_id) -> LessonProgress:
    with rt.session() as s:
        return s.scalar(select(LessonProgress).where(LessonProgress.student_id == student_id))


def _flat(reply: Reply) -> str:
    return " ".join(reply.full_text().split())


def _sms(rt, reply: Reply) -> list[str]:
    return render_sms(reply, max_segments=rt.settings.sms_max_segments).messages


def _shown(rt, reply: Reply) -> str:
    """What the phone shows, optional lines included, as one line of words."""
    return " ".join(" ".join(_sms(rt, reply)).split())


def _with_menu(reply: Reply) -> Reply:
    """A finished lesson's reply as the engine sends it: the main menu after it (conversation/lessons.py)."""
    return Reply(f"{reply.text}\nAmina, what do you want to learn?", options=[Option("1", "Mathematics"),
                 Option("2", "Add a learner")], footer="HELP for help, STOP to stop.", meta=dict(reply.meta))


def _in_order(text: str, *marks: str) -> bool:
    at = [text.find(m) for m in marks]
    return -1 not in at and at == sorted(at)


def test_reading_steps_flow_with_the_practice_question_and_progress_is_as_after_next(rt, drive, student_id,
                                                                                        saved_pack):
    d = drive("teach")
    r = d.start()
    text = _flat(r.reply)
    assert _in_order(text, "Adding fractions", "Step 1/6", "chapati", "Step 2/6", "keep the bottom", "Step 3/6",
                     "Amina eats 1/5", "Step 4/6 Practice", "What is 1/4 + 2/4?"), text
    assert r.reply.expects_answer and not r.reply.options and r.progress_label == "Adding fractions, step 4 of 6"
    assert (d.data["step"], d.data["q"], d.data["answered"]) == (3, 0, False) and d.data["shown_at"]
    sms = _sms(rt, r.reply)
    assert 1 < len(sms) <= rt.settings.sms_max_segments and all(len(p) <= 160 for p in sms)

    with rt.session() as s:  # the same lesson, step by step (WhatsApp), for another student
        other = factories.student(s, phone="+254700111222", language="en").id
    w = Driver(rt=rt, pack=saved_pack, student_id=other, mode="teach", topic_id="fractions-add", channel="whatsapp")
    w.start()
    for _ in range(3):
        w.say("NEXT")
    assert {k: w.data[k] for k in ("step", "q", "answered", "tries", "hints", "score")} == {
        k: d.data[k] for k in ("step", "q", "answered", "tries", "hints", "score")}
    mine, theirs = _row(rt, student_id), _row(rt, other)
    assert (mine.step, mine.steps_total, mine.mastery, mine.completed_at) == (
        theirs.step, theirs.steps_total, theirs.mastery, theirs.completed_at) == (4, 6, pytest.approx(0.2), None)


@pytest.mark.parametrize("skip", ["NEXT", "1", "endelea", "ok"])
def test_the_question_cannot_be_skipped(rt, drive, student_id, skip):
    d = drive("teach")
    d.start()
    r = d.say(skip)
    if skip == "1":  # "1" is an answer here (no "1. Next" is shown): wrong, with a try left
        assert "Not quite. Try again." in r.reply.text
    else:
        assert "Answer the question first" in r.reply.text
    assert "Step 4/6" in r.reply.text and d.data["step"] == 3 and not d.data["answered"]
    assert _row(rt, student_id).step == 4


def test_feedback_comes_with_the_next_question_then_with_the_recap(rt, drive, student_id):
    d = drive("teach")
    d.start()
    r = d.say("3/4")
    text = _flat(r.reply)
    assert _in_order(text, "Correct! 1 + 2 = 3, so 3/4.", "Step 5/6 Quiz", "Which is equal to 1/2 + 1/4?",
                     "1. 2/6", "2. 3/4", "3. 1/8"), text
    assert "Next" not in text and not r.done
    assert (d.data["step"], d.data["answered"]) == (4, False) and _row(rt, student_id).step == 5
    r = d.say("2")
    text = _shown(rt, _with_menu(r.reply))  # mastery and motivation take the room the menu's part has left
    assert _in_order(text, "Correct! 1/2 = 2/4, and 2/4 + 1/4 = 3/4.", "Step 6/6 Recap", "Well done!", "Quiz: 1/1.",
                     "Adding fractions: 55% mastered", "You've mastered 0 of 2 topics.", "what do you want"), text
    bare = _with_menu(r.reply)
    bare.meta = {}
    assert r.done and len(_sms(rt, _with_menu(r.reply))) == len(_sms(rt, bare)) == 2
    p = _row(rt, student_id)
    assert (p.step, p.steps_total) == (6, 6) and p.completed_at is not None and 0.2 < p.mastery < 1
    with rt.session() as s:
        attempts = s.scalars(select(PracticeAttempt).order_by(PracticeAttempt.id)).all()
        assert [(a.question_key, a.correct, a.first_attempt) for a in attempts] == [
            ("fractions-add:practice:0", True, True), ("fractions-add:quiz:0", True, True)]


def test_a_wrong_practice_answer_with_a_try_left_stays_on_the_question(rt, drive, student_id):
    d = drive("teach")
    d.start()
    r = d.say("2/8")
    assert "Not quite. Try again. Add the numerators." in r.reply.text and "What is 1/4 + 2/4?" in r.reply.text
    assert "Step 5/6" not in r.reply.text and (d.data["step"], d.data["tries"]) == (3, 1)
    r = d.say("5")  # the last try: the answer, then straight on to the quiz
    assert _in_order(_flat(r.reply), "Not quite. The answer is 3/4.", "Step 5/6 Quiz")
    assert d.data["step"] == 4


def test_a_reply_cap_of_one_part_flows_only_what_fits(rt, drive, student_id, monkeypatch):
    """With one SMS part per reply only whole steps that fit in it flow together, and the end
    of the lesson (recap and menu) does not fit with the feedback, so the feedback comes alone
    with "1. Next", as on the other channels."""
    monkeypatch.setattr(rt.settings, "sms_max_segments", 1)
    d = drive("teach")
    seen = [d.start()]
    assert "Step 1/6" in seen[0].reply.text and "Step 2/6" not in seen[0].reply.text
    seen.append(d.say("NEXT"))
    assert "Step 2/6" in seen[-1].reply.text and "Step 3/6" not in seen[-1].reply.text
    seen.append(d.say("NEXT"))  # the example is short enough to come with the practice question
    assert _in_order(seen[-1].reply.text, "Step 3/6", "Step 4/6", "What is 1/4 + 2/4?")
    seen.append(d.say("3/4"))
    assert "Correct!" in seen[-1].reply.text and "Step 5/6" in seen[-1].reply.text  # short enough to go together
    seen.append(d.say("2"))
    assert "Correct!" in seen[-1].reply.text and [o.label for o in seen[-1].reply.options] == ["Next"]
    assert d.data["answered"] and d.data.get("motivated") is None  # the recap it tried was not kept
    seen.append(d.say("1"))
    recap = render_sms(seen[-1].reply, max_segments=1).messages
    assert recap[0].startswith("Step 6/6 Recap") and "Adding fractions: 55% mastered" in recap[0]
    assert "You've mastered 0 of 2 topics." not in recap[0]  # no room left for it in the one part
    assert seen[-1].done and _row(rt, student_id).completed_at is not None
    for r in seen:
        rendered = render_sms(r.reply, max_segments=1)
        assert rendered.rest is None and len(rendered.messages) == 1, r.reply.full_text()


def test_room_left_in_the_last_part_carries_optional_lines_never_an_extra_part(rt, drive, student_id):
    d = drive("teach")
    d.start()
    r = d.say("3/4")
    lines = [line for line, _anchor, _side in r.reply.meta[FILL]]
    level = f"Adding fractions: {round(_row(rt, student_id).mastery * 100)}% mastered"
    assert lines == [level, "Reply MENU to stop."]  # the feedback already has the question's explanation
    bare = render_sms(Reply(r.reply.text, r.reply.options, footer=r.reply.footer), max_segments=3).messages
    sms = _sms(rt, r.reply)
    assert len(sms) == len(bare) and all(len(p) <= 160 for p in sms)
    shown = " ".join(sms)
    assert _in_order(" ".join(shown.split()), "Correct!", level, "Step 5/6")  # after the feedback


def test_kiswahili_over_sms(rt, drive, student_id):
    d = drive("teach", lang="sw")
    r = d.start()
    text = _flat(r.reply)
    assert _in_order(text, "Kujumlisha sehemu", "Hatua 1/6 Utangulizi", "Hatua 2/6 Maelezo", "Hatua 3/6 Mfano",
                     "Hatua 4/6 Mazoezi", "1/4 + 2/4 ni ngapi?"), text
    assert "Jibu swali kwanza" in d.say("ENDELEA").reply.text
    r = d.say("robo tatu")
    assert _in_order(_flat(r.reply), "Sahihi!", "Hatua 5/6 Jaribio", "Ipi ni sawa na 1/2 + 1/4?")
    r = d.say("b")
    assert _in_order(_shown(rt, _with_menu(r.reply)), "Sahihi!", "Hatua 6/6 Muhtasari", "Jaribio: 1/1.",
                     "Kujumlisha sehemu: umemudu", "Umemudu mada 0 kati ya 2.")
    assert r.done and _row(rt, student_id).completed_at is not None


def test_resume_over_sms_shows_the_step_the_student_is_on(drive):
    d = drive("teach")
    d.start()
    again = drive("teach", data=dict(d.data))
    r = again.resume()
    assert "Step 4/6" in r.reply.text and "What is 1/4 + 2/4?" in r.reply.text and "Step 3/6" not in r.reply.text


@pytest.fixture
def long_reading(rt, saved_pack):
    """The same topic with reading steps too long for one reply (3 SMS parts)."""
    topic = saved_pack.topics[0]
    teach = topic.teach.model_copy(update={
        "intro": " ".join(["Fractions are parts of a whole thing."] * 4),
        "explanation": " ".join(["Add the tops and keep the bottom the same."] * 3),
        "example": "Amina eats 1/5 of a mango. " + " ".join(["Then she eats 2/5 more of it."] * 4)})
    pack = saved_pack.model_copy(update={"topics": [topic.model_copy(update={"teach": teach}),
                                                    *saved_pack.topics[1:]]})
    with rt.session() as s:
        from rag.store import save_pack

        save_pack(s, pack)
    return pack


def _reading_and_question(pack, lang: str = "en") -> list[str]:
    topic = pack.topics[0]
    words = [topic.title[lang]]
    for n, (name, step) in enumerate([("Introduction", "intro"), ("Explanation", "explanation"),
                                      ("Example", "example")], 1):
        words += [f"Step {n}/6", name, getattr(topic.teach, step)]
    words += ["Step 4/6 Practice", "What is 1/4 + 2/4?"]
    return " ".join(words).split()


def test_reading_too_long_for_one_reply_stops_after_a_sentence_and_next_goes_on_from_there(rt, long_reading,
                                                                                             student_id):
    d = Driver(rt=rt, pack=long_reading, student_id=student_id, mode="teach", topic_id="fractions-add")
    first = d.start()
    assert (d.data["step"], d.data["cut"] > 0) == (2, True)  # stopped inside the example
    assert first.progress_label == "Adding fractions, step 3 of 6" and _row(rt, student_id).step == 3
    assert [o.label for o in first.reply.options] == ["Next"] and first.reply.text.endswith(".")
    then = d.say("NEXT")
    assert (d.data["step"], "cut" in d.data, d.data["answered"]) == (3, False, False) and d.data["shown_at"]
    assert then.reply.expects_answer and _row(rt, student_id).step == 4
    replies = [_sms(rt, first.reply), _sms(rt, then.reply)]
    assert all(0 < len(sms) <= 3 for sms in replies) and sum(map(len, replies)) == 4
    assert f"{first.reply.text} {then.reply.text}".split() == _reading_and_question(long_reading)  # once, in order
    # stopping only between steps costs a part more (the steps as `_reading_and_question` lays them out)
    steps = ["Adding fractions\nStep 1/6 Introduction\n" + long_reading.topics[0].teach.intro,
             "Step 2/6 Explanation\n" + long_reading.topics[0].teach.explanation,
             "Step 3/6 Example\n" + long_reading.topics[0].teach.example]
    question = "Step 4/6 Practice\nWhat is 1/4 + 2/4?"
    plans = [[Reply("\n".join(steps[:k]), options=[Option("1", "Next")]),
              Reply("\n".join([*steps[k:], question]), footer="Reply HINT for a hint.")] for k in (1, 2, 3)]
    costs = [sum(len(_sms(rt, r)) for r in plan) for plan in plans
             if all(render_sms(r, max_segments=3).rest is None for r in plan)]
    assert min(costs) == 5


def test_a_student_who_comes_back_mid_step_sees_the_whole_step_and_next_goes_on_after_it(rt, long_reading,
                                                                                        student_id):
    d = Driver(rt=rt, pack=long_reading, student_id=student_id, mode="teach", topic_id="fractions-add")
    d.start()
    back = Driver(rt=rt, pack=long_reading, student_id=student_id, mode="teach", topic_id="fractions-add",
                  data=dict(d.data))
    r = back.resume()
    assert r.reply.text.startswith("Step 3/6 Example\nAmina eats 1/5 of a mango.") and "cut" not in back.data
    r = back.say("NEXT")
    assert r.reply.text.startswith("Step 4/6 Practice") and "Then she eats" not in r.reply.text
    assert back.data["step"] == 3


def test_a_wrong_word_mid_step_repeats_the_step_then_next_goes_on_after_it(rt, long_reading, student_id):
    d = Driver(rt=rt, pack=long_reading, student_id=student_id, mode="teach", topic_id="fractions-add")
    d.start()
    r = d.say("what?")
    assert r.reply.text.startswith("Reply 1 or NEXT to go on.\nStep 3/6 Example\nAmina eats")
    r = d.say("1")
    assert "Step 4/6 Practice" in r.reply.text and "Then she eats" not in r.reply.text
