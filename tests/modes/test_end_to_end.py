"""Complete lessons end to end through the gateway's console route, as the phone simulator
and `somo chat` use it, over SMS, USSD and WhatsApp in English and Kiswahili; the stored
progress must match what the student did."""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.models import Contact, LessonProgress, PracticeAttempt, SkillMastery, Student
from core.runtime import set_runtime
from gateway.app import create_app
from rag.store import save_pack
from tests import factories
from tests.conftest import installed_runtime, make_runtime

_ids = itertools.count(1)
NEXT = {"en": "NEXT", "sw": "ENDELEA"}
LANG_CHOICE = {"en": "1", "sw": "2"}


class Student_:
    def __init__(self, client: TestClient, channel: str):
        self.client, self.channel, self.session = client, channel, f"e2e-{next(_ids)}"
        self.phone = client.phone
        self.screens: list[str] = []
        self.parts: list[list[str]] = []  # each reply's messages (SMS parts)

    def send(self, text: str) -> str:
        """What the student sees after `text` (every page of a long USSD screen)."""
        pages = [self._post(text)]
        while self.channel == "ussd" and "\n98 " in pages[-1]:
            pages.append(self._post("98"))
        return "\n".join(pages)

    def _post(self, text: str) -> str:
        r = self.client.post("/webhooks/console", json={"phone": self.phone, "text": text, "channel": self.channel,
                                                         "session_id": self.session,
                                                         "message_id": f"m-{next(_ids)}"})
        assert r.status_code == 200, r.text
        screen = "\n".join(r.json()["replies"])
        self.parts.append(r.json()["replies"])
        self.screens.append(screen)
        return screen

    def seen(self) -> str:
        return "\n".join(self.screens)


@pytest.fixture
def rt(db_url, tmp_path):
    """The test runtime without the inbound rate limit: its process-local buckets are keyed by
    contact id, which restarts at 1 in every test, so one test's lesson would throttle the next."""
    with installed_runtime(db_url, tmp_path, rate_limit_per_minute=0) as runtime:
        yield runtime


@pytest.fixture
def client(rt, pack):
    """The gateway app, and one enrolled student who has not been onboarded yet."""
    phone = f"+2547{next(_ids) + 20_000_000:08d}"
    with rt.session() as s:
        save_pack(s, pack)
        klass = factories.school_class(s, school=factories.school(s), pack="mini-math")
        factories.student(s, phone=phone, klass=klass, language="en", onboarded=False)
    with TestClient(create_app(rt)) as c:
        c.phone = phone
        yield c


def _to_teach(st: Student_, lang: str) -> str:
    st.send("" if st.channel == "ussd" else "hi")
    st.send(LANG_CHOICE[lang])  # language
    st.send("1")  # consent
    st.send("1")  # Mathematics
    st.send("1")  # Adding fractions
    return st.send("1")  # learn step by step


def _check_finished_lesson(rt, phone: str, lang: str) -> None:
    with rt.session() as s:
        contact = s.scalar(select(Contact).where(Contact.phone == phone))
        student = s.get(Student, contact.active_student_id)
        assert student.language == lang
        p = s.scalar(select(LessonProgress).where(LessonProgress.student_id == student.id))
        assert (p.pack, p.topic, p.mode, p.step, p.steps_total) == ("mini-math", "fractions-add", "teach", 6, 6)
        assert p.completed_at is not None and p.time_spent_s >= 0
        attempts = s.scalars(select(PracticeAttempt).order_by(PracticeAttempt.id)).all()
        assert [(a.question_key, a.correct, a.first_attempt) for a in attempts] == [
            ("fractions-add:practice:0", True, True), ("fractions-add:quiz:0", True, True)]
        sm = s.scalar(select(SkillMastery).where(SkillMastery.student_id == student.id))
        assert sm.attempts == 2 and sm.correct == 2 and p.mastery == pytest.approx(
            (sm.p_known + 0.2) / 2, abs=1e-3)  # the topic's two skills: one practised, one at its prior
        assert student.streak_days == 1


def _progress_step(rt, phone: str) -> int:
    with rt.session() as s:
        contact = s.scalar(select(Contact).where(Contact.phone == phone))
        return s.scalar(select(LessonProgress.step).where(LessonProgress.student_id == contact.active_student_id))


@pytest.mark.parametrize("channel", ["ussd", "whatsapp"])
@pytest.mark.parametrize("lang", ["en", "sw"])
def test_complete_lesson_step_by_step(rt, client, channel, lang):
    st = Student_(client, channel)
    step = {"en": "Step", "sw": "Hatua"}[lang]
    screen = _to_teach(st, lang)
    assert f"{step} 1/6" in screen, st.seen()
    assert f"{step} 2/6" in st.send(NEXT[lang])
    assert f"{step} 3/6" in st.send("1")
    screen = st.send("1")
    assert f"{step} 4/6" in screen and ("1/4 + 2/4" in screen)
    skip = st.send(NEXT[lang])  # a skip attempt: refused, still on the practice question
    assert f"{step} 4/6" in skip and {"en": "Answer the question first", "sw": "Jibu swali kwanza"}[lang] in skip
    screen = st.send({"en": "three quarters", "sw": "robo tatu"}[lang])
    assert {"en": "Correct!", "sw": "Sahihi!"}[lang] in screen
    screen = st.send("1")
    assert f"{step} 5/6" in screen and "3/4" in screen
    st.send("b")
    screen = st.send(NEXT[lang])
    assert f"{step} 6/6" in screen, st.seen()
    _check_finished_lesson(rt, client.phone, lang)


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_complete_lesson_over_sms_in_fewer_fuller_messages(rt, client, lang):
    """Over SMS the reading steps come in one reply with the practice question, and each
    answer's feedback with what follows: 3 messages from the student for the whole lesson
    instead of 7, the order and the stored progress unchanged."""
    st = Student_(client, "sms")
    step = {"en": "Step", "sw": "Hatua"}[lang]
    screen = " ".join(_to_teach(st, lang).split())  # a line may break across two SMS parts
    assert all(f"{step} {n}/6" in screen for n in (1, 2, 3, 4)), st.seen()
    heads = [screen.index(f"{step} {n}/6") for n in (1, 2, 3, 4)]
    assert heads == sorted(heads) and "1/4 + 2/4" in screen[heads[-1]:], st.seen()  # strictly in order
    assert 1 < len(st.parts[-1]) <= rt.settings.sms_max_segments and all(len(p) <= 160 for p in st.parts[-1])
    assert _progress_step(rt, client.phone) == 4  # on the step shown, as after pressing NEXT three times
    skip = st.send(NEXT[lang])  # a skip attempt: refused, still on the practice question
    assert f"{step} 4/6" in skip and {"en": "Answer the question first", "sw": "Jibu swali kwanza"}[lang] in skip
    assert _progress_step(rt, client.phone) == 4
    screen = " ".join(st.send({"en": "three quarters", "sw": "robo tatu"}[lang]).split())
    correct = {"en": "Correct!", "sw": "Sahihi!"}[lang]
    assert correct in screen and f"{step} 5/6" in screen and screen.index(correct) < screen.index(f"{step} 5/6")
    assert "1. 2/6 2. 3/4 3. 1/8" in screen and "Next" not in screen and "Endelea" not in screen
    assert _progress_step(rt, client.phone) == 5
    screen = " ".join(st.send("b").split())
    assert correct in screen and f"{step} 6/6" in screen, st.seen()
    assert {"en": "what do you want to learn?", "sw": "ungependa kujifunza nini?"}[lang] in screen  # the menu
    assert {"en": "Adding fractions: 55% mastered", "sw": "Kujumlisha sehemu: umemudu 55%"}[lang] in screen
    assert {"en": "You've mastered 0 of 2 topics.", "sw": "Umemudu mada 0 kati ya 2."}[lang] in screen
    assert all(len(p) <= rt.settings.sms_max_segments for p in st.parts)
    assert len(st.parts) == 5 + 4  # onboarding and menus; then Teach, the refused skip and two answers
    _check_finished_lesson(rt, client.phone, lang)


def test_dropped_ussd_session_resumes_on_the_same_step(rt, client):
    st = Student_(client, "ussd")
    _to_teach(st, "en")
    st.send("1")
    assert "Step 3/6" in st.send("1")
    st.session = "e2e-new-dial"  # the network dropped the session; the student dials again
    screen = st.send("")
    assert "Continue Adding fractions, step 3 of 6?" in screen  # the mode's progress label
    assert "Step 3/6" in st.send("1"), st.seen()
    with rt.session() as s:
        assert s.scalar(select(LessonProgress.step)) == 3


def test_lesson_over_africastalking_ussd_in_kiswahili(db_url, tmp_path, pack):
    """The provider route itself: AT posts every answer so far joined by '*', we answer CON/END."""
    from urllib.parse import urlencode

    from tests.gateway.conftest import PROVIDER_SETTINGS

    runtime = make_runtime(db_url, tmp_path=tmp_path, rate_limit_per_minute=0, **PROVIDER_SETTINGS)
    previous = set_runtime(runtime)
    phone = "+254722333444"
    try:
        with runtime.session() as s:
            save_pack(s, pack)
            klass = factories.school_class(s, school=factories.school(s), pack="mini-math")
            factories.student(s, phone=phone, klass=klass, language="sw", onboarded=False)
        inputs: list[str] = []
        screens: list[str] = []
        with TestClient(create_app(runtime)) as c:
            def press(key: str) -> str:
                if key is not None:
                    inputs.append(key)
                form = {"sessionId": "ATUid_modes_e2e", "serviceCode": "*384*1234#", "phoneNumber": phone,
                        "networkCode": "63902", "text": "*".join(inputs)}
                r = c.post("/webhooks/africastalking/ussd?token=at-hook-secret", content=urlencode(form),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
                assert r.status_code == 200 and r.text[:4] in ("CON ", "END "), r.text
                screens.append(r.text)
                return r.text

            press(None)
            for key in ["2", "1", "1", "1", "1"]:  # Kiswahili, consent, subject, topic, learn step by step
                press(key)
            assert "Hatua 1/6" in screens[-1], "\n".join(screens)
            for key in ["1", "1", "1"]:
                press(key)
            assert "Hatua 4/6" in screens[-1]
            press("robo tatu")
            assert "Sahihi!" in screens[-1]
            press("1")
            press("2")
            press("1")
            assert "Hatua 6/6" in screens[-1] and len(screens[-1]) <= 160, "\n".join(screens)
        with runtime.session() as s:
            p = s.scalar(select(LessonProgress))
            assert (p.topic, p.step, p.steps_total) == ("fractions-add", 6, 6) and p.completed_at is not None
    finally:
        set_runtime(previous)
        runtime.close()
