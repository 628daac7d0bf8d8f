"""Scripted conversations from first contact to a finished Teach lesson, over the console
path with each channel's rendering (SMS, USSD, WhatsApp), in English and in Kiswahili."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models import Contact, Enrolment, LessonProgress, Student
from tests import factories
from tests.conversation.helpers import Phone, finish_teach, load_pack, read_all


def onboard(phone: Phone, lang_key: str, name: str = "Amina") -> str:
    if phone.channel == "ussd":
        phone.dial()
    else:
        phone.send("Hi")
    phone.send(lang_key)
    phone.send(name)
    phone.send("SKIP")
    return phone.send("1")


def pick_first_lesson(phone: Phone) -> str:
    phone.send("1")  # the subject (Mathematics)
    phone.send("1")  # the topic
    return phone.send("1")  # Teach


@pytest.mark.parametrize("channel", ["sms", "ussd", "whatsapp"])
def test_english_first_contact_to_a_finished_teach_lesson(rt, channel):
    pack = load_pack(rt)
    phone = Phone(rt, "+254711000111", channel)
    first = phone.dial() if channel == "ussd" else phone.send("Hello")
    assert "Welcome to Somo" in first and "1. English" in first and "2. Kiswahili" in first
    assert "What is your first name?" in phone.send("1")
    assert "class code" in phone.send("amina")
    consent = phone.send("skip")
    assert "reply STOP" in consent and "1. I agree" in consent
    menu = phone.send("1")
    assert "Welcome to Somo, Amina!" in menu and "1. Mathematics" in menu
    assert "Adding fractions" in phone.send("1")
    assert "1. Learn step by step" in phone.send("1")
    intro = phone.send("1")
    assert "Step 1/6" in intro and "chapati" in intro
    last = read_all(phone, finish_teach(phone, pack))
    assert "Step 6/6" in last and "what do you want to learn?" in last
    assert phone.state().state == "menu" and "teach" not in phone.state().data.get("modes", {})
    with rt.session() as s:
        progress = s.scalar(select(LessonProgress).where(LessonProgress.topic == "fractions-add"))
        assert progress.completed_at is not None
        student = s.scalar(select(Student))
        assert (student.name, student.language, student.onboarded) == ("Amina", "en", True)
    if channel == "ussd":
        assert all(len(screen) <= 160 and screen.startswith(("CON ", "END ")) for screen in phone.screens)


@pytest.mark.parametrize("channel", ["sms", "ussd", "whatsapp"])
def test_kiswahili_first_contact_to_a_finished_teach_lesson(rt, channel):
    pack = load_pack(rt)
    phone = Phone(rt, "+254722000222", channel)
    menu = onboard(phone, "2", "baraka")
    assert "Karibu Somo, Baraka!" in menu and "Hisabati" in menu and "ungependa kujifunza nini?" in menu
    assert "Kujumlisha sehemu" in phone.send("1")
    assert "Jifunze hatua kwa hatua" in phone.send("1")
    assert "Hatua 1/6" in phone.send("1")
    last = read_all(phone, finish_teach(phone, pack))
    assert "Hatua 6/6" in last and "ungependa kujifunza nini?" in last
    with rt.session() as s:
        assert s.scalar(select(LessonProgress.completed_at)) is not None


@pytest.mark.parametrize(("phone_number", "offered"), [
    ("+254711000333", ["English", "Kiswahili"]),
    ("+256772000333", ["English", "Luganda"]),
    ("+260971000333", ["English", "Ichibemba", "Nyanja"]),
])
def test_the_language_offer_depends_on_the_country_of_the_number(rt, phone_number, offered):
    screen = Phone(rt, phone_number).send("hi")
    shown = [line.split(". ", 1)[1] for line in screen.splitlines() if line[:1].isdigit()]
    assert shown == offered


def test_luganda_onboarding_and_menu_are_in_luganda(rt):
    phone = Phone(rt, "+256772000444")
    assert "Londa olulimi lwo" in phone.send("hi")
    assert "Erinnya lyo ani?" in phone.send("2")
    assert "SKIP" in phone.send("Nakato")
    assert "Nzikiriza" in phone.send("skip")
    assert "oyagala kuyiga ki?" in phone.send("1")


def test_a_pre_enrolled_number_skips_name_and_class(rt):
    load_pack(rt)
    with rt.session() as s:
        klass = factories.school_class(s, school=factories.school(s), join_code="MATH6", pack="mini-math")
        factories.student(s, phone="+254733000555", name="Wanjiru", klass=klass, onboarded=False)
    phone = Phone(rt, "+254733000555")
    phone.send("hi")
    consent = phone.send("1")
    assert "Hello Wanjiru!" in consent and "reply STOP" in consent
    assert "1. Mathematics" in phone.send("1")
    with rt.session() as s:
        assert s.scalar(select(Student.onboarded)) is True


def test_joining_a_class_with_its_code_and_a_wrong_code(rt):
    with rt.session() as s:
        factories.school_class(s, school=factories.school(s, name="Kibera Primary"), name="6B", join_code="K6B42")
    phone = Phone(rt, "+254711000666")
    phone.send("hi"), phone.send("1"), phone.send("Otieno")
    assert "could not find the class code XX11" in phone.send("XX11")
    consent = phone.send(" k6b42 ")
    assert "You joined 6B at Kibera Primary." in consent
    with rt.session() as s:
        assert s.scalar(select(Enrolment.class_id)) is not None


def test_one_learner_across_channels_whatsapp_lesson_continues_on_ussd(rt):
    load_pack(rt)
    wa = Phone(rt, "+254744000777", "whatsapp")
    onboard(wa, "1")
    pick_first_lesson(wa)
    wa.send("1"), wa.send("1")  # intro -> explanation -> example
    assert "Step 3/6" in wa.screens[-1]
    ussd = Phone(rt, "+254744000777", "ussd")
    offer = ussd.dial()
    assert "Continue Adding fractions, step 3 of 6?" in offer and offer.startswith("CON ")
    assert "Step 3/6" in ussd.send("1")
    with rt.session() as s:
        assert s.scalar(select(Contact.channels_seen)) == ["whatsapp", "ussd"]
        assert len(list(s.scalars(select(Student)))) == 1


def test_a_dropped_ussd_session_is_offered_to_continue_exactly_there(rt):
    load_pack(rt)
    phone = Phone(rt, "+254755000888", "ussd")
    onboard(phone, "1")
    pick_first_lesson(phone)
    phone.send("1"), phone.send("1")
    offer = phone.dial()  # the session dropped; the student dials again
    assert "Continue Adding fractions, step 3 of 6?" in offer
    assert "2. Main menu" in offer
    assert "Step 3/6" in phone.send("1")
    again = phone.dial()
    assert "Continue Adding fractions, step 3 of 6?" in again
    menu = read_all(phone, phone.send("2"))
    assert "1. Continue: Adding fractions, step 3 of 6" in menu and "2. Mathematics" in menu


def test_the_menu_offers_the_class_pack_else_the_countrys_packs(rt):
    load_pack(rt)
    with rt.session() as s:
        school = factories.school(s)
        with_pack = factories.school_class(s, school=school, join_code="HASPACK", pack="mini-math")
        factories.school_class(s, school=school, join_code="NOPACK", pack="not-loaded-yet")
        from core.models import CurriculumPack

        other = CurriculumPack(pack="ke-other", curriculum="KE-CBC", country="KE", subject="Science", grade=6,
                               languages=["en"], content={})
        s.add(other)
        assert with_pack.pack == "mini-math"
    menus = {}
    for number, code in (("+254711000901", "HASPACK"), ("+254711000902", "NOPACK")):
        phone = Phone(rt, number)
        for text in ("hi", "1", "Amina", code):
            phone.send(text)
        menus[code] = phone.send("1")
    assert "1. Mathematics" in menus["HASPACK"] and "Science" not in menus["HASPACK"]
    assert "Mathematics" in menus["NOPACK"] and "Science" in menus["NOPACK"]  # fallback: the country's packs


def test_lang_mid_lesson_switches_the_language_and_keeps_the_lesson(rt):
    load_pack(rt)
    phone = Phone(rt, "+254711000903")
    onboard(phone, "1")
    assert "Step 4/6" in pick_first_lesson(phone)  # over SMS: the reading steps and the practice question
    assert "Choose your language:" in phone.send("LANG")
    menu = phone.send("2")
    assert "Lugha imebadilishwa." in menu and "1. Endelea: Kujumlisha sehemu" in menu
    assert "Hatua 4/6" in phone.send("1")
    assert phone.student().language == "sw"
