"""One phone, several learners: pick who is learning (with an optional PIN); progress never mixes."""

from __future__ import annotations

from sqlalchemy import select

from core.models import ConversationState, LessonProgress, Student
from tests.conversation.helpers import Phone, load_pack, read_all


def test_siblings_share_a_phone_with_a_pin_and_separate_progress(rt):
    load_pack(rt)
    phone = Phone(rt, "+254766000001", "sms")
    phone.send("hi"), phone.send("1"), phone.send("Amina"), phone.send("skip")
    menu = phone.send("1")
    assert "2. Add a learner" in menu
    phone.send("1"), phone.send("1"), phone.send("1")  # Amina: Teach; over SMS the reading steps
    assert "Step 4/6" in phone.screens[-1]  # come with the practice question

    phone.send("MENU")
    phone.send("3")  # Add a learner -> a new profile starts onboarding
    assert "Choose your language" in phone.screens[-1]
    phone.send("2")
    assert "Jina lako la kwanza ni nani?" in phone.screens[-1]
    pin_prompt = phone.send("Baraka")
    assert "Simu hii ina mwanafunzi zaidi ya mmoja" in pin_prompt
    assert "tarakimu 4" in phone.send("12")  # not a PIN: asked again
    phone.send("4821")
    phone.send("ruka")
    menu = phone.send("1")
    assert "Karibu Somo, Baraka!" in menu and "Badilisha mwanafunzi" in menu
    assert phone.student().name == "Baraka" and "continue" not in str(phone.state().data.get("last"))

    # A new USSD session on the shared phone: who is learning?
    ussd = Phone(rt, "+254766000001", "ussd")
    who = ussd.dial()
    assert "Who is learning now?" in who or "Nani anajifunza sasa?" in who
    assert "1. Amina" in who and "2. Baraka" in who
    assert "PIN" in ussd.send("2")  # Baraka has a PIN
    assert "si sahihi" in ussd.send("1111")
    menu = read_all(ussd, ussd.send("4821"))
    assert "Baraka" in menu
    # Amina, without a PIN, is offered her own lesson exactly where she left it.
    offer = ussd.dial()
    assert "Amina" in offer
    resume = ussd.send("1")
    assert "Continue Adding fractions, step 4 of 6?" in resume
    with rt.session() as s:
        students = {st.name: st for st in s.scalars(select(Student))}
        assert students["Baraka"].pin_hash and "4821" not in students["Baraka"].pin_hash
        assert students["Baraka"].language == "sw" and students["Amina"].language == "en"
        states = {row.student_id: row for row in s.scalars(select(ConversationState))}
        assert "teach" in states[students["Amina"].id].data.get("modes", {})
        assert "teach" not in states[students["Baraka"].id].data.get("modes", {})
        assert {p.student_id for p in s.scalars(select(LessonProgress))} == {students["Amina"].id}


def test_three_wrong_pins_go_back_to_the_learner_choice(rt):
    phone = Phone(rt, "+254766000002", "sms")  # no packs: the menu holds only the learner option
    phone.send("hi"), phone.send("1"), phone.send("Amina"), phone.send("skip")
    assert "1. Add a learner" in phone.send("1")
    assert "Choose your language" in phone.send("1")
    phone.send("1"), phone.send("Juma"), phone.send("1234"), phone.send("skip")
    assert "1. Change learner" in phone.send("1")
    assert "Who is learning now?" in phone.send("1")
    phone.send("1")  # Amina has no PIN
    assert phone.student().name == "Amina"
    phone.send("MENU"), phone.send("1")
    assert "Juma, enter your 4-digit PIN." in phone.send("2")
    assert "not right" in phone.send("0000")
    phone.send("0001")
    back = phone.send("0002")
    assert "Too many wrong PINs." in back and "Who is learning now?" in back
    assert phone.student().name == "Amina"
    phone.send("2")
    phone.send("1234")
    assert phone.student().name == "Juma"
