"""The pure machine: (state, event) -> (new state, reply, effects), moves only along the
table, and the table is what docs/conversation.md draws."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from conversation import effects as fx
from conversation.cli import DOC, block, current_block
from conversation.commands import Command
from conversation.machine import Event, step
from conversation.states import ONBOARDING, TRANSITIONS, IllegalTransition, S, check, mermaid
from conversation.store import ConvState
from conversation.world import ClassInfo, Facts, Item, Profile
from gateway.cli import main as somo


@dataclass
class FakeWorld:
    """The World protocol over plain data: the machine needs nothing else."""

    profiles_: list[Profile] = field(default_factory=lambda: [Profile(1, "Amina", False, True)])
    pins: dict[int, str] = field(default_factory=dict)

    def profiles(self):
        return self.profiles_

    def subjects(self, lang):
        return [Item("mini-math", "Hisabati" if lang == "sw" else "Mathematics")]

    def topics(self, pack, lang):
        return [Item(f"t{i}", f"Topic {i}") for i in range(1, 8)]

    def find_class(self, code):
        return ClassInfo(7, "6B", "Kibera Primary") if code.strip().upper() == "K6B" else None

    def check_pin(self, student_id, pin):
        return self.pins.get(student_id) == pin

    def modes(self):
        return ("teach", "practice")


def facts(**kw) -> Facts:
    base = dict(student_id=1, name="Amina", lang="en", country="KE", offered=("en", "sw"), onboarded=True,
                enrolled=False, has_pin=False, channel="sms")
    base.update(kw)
    return Facts(**base)


def go(state: ConvState, text: str, f: Facts | None = None, world=None, command: Command | None = None):
    return step(state, Event(text, command), f or facts(), world or FakeWorld())


USSD = facts(channel="ussd")


def test_onboarding_is_pure_and_emits_effects():
    world, f = FakeWorld(profiles_=[Profile(1, "", False, False)]), facts(name="", onboarded=False)
    out = go(ConvState(1), "hello", f, world)
    assert out.state.state == S.ONBOARD_LANGUAGE and out.effects == []
    out = go(out.state, "2", f, world)
    assert out.state.state == S.ONBOARD_NAME and out.effects == [fx.SetLanguage("sw")]
    assert "Jina lako" in out.reply.text  # asked in the language just chosen
    out = go(out.state, "naitwa wanjiru", facts(name="", onboarded=False, lang="sw"), world)
    assert out.effects == [fx.SetName("Wanjiru")] and out.state.state == S.ONBOARD_CLASS
    out = go(out.state, "k6b", facts(name="Wanjiru", onboarded=False, lang="sw"), world)
    assert out.effects == [fx.Enrol(7)] and out.state.state == S.ONBOARD_CONSENT
    out = go(out.state, "1", facts(name="Wanjiru", onboarded=False, lang="sw", enrolled=True), world)
    assert out.effects == [fx.FinishOnboarding()] and out.state.state == S.MENU
    assert "1. Hisabati" in out.reply.full_text()


def test_menu_topic_mode_lesson_and_back():
    """(USSD pages topics five at a time.)"""
    out = go(ConvState(1, state=S.MENU, data={"offered": [["1", "subject:mini-math", "mathematics"]]}), "1", USSD)
    assert out.state.state == S.PICK_TOPIC and "6. More topics" in out.reply.full_text()
    out = go(out.state, "6", USSD)
    assert "1. Topic 6" in out.reply.full_text() and out.state.state == S.PICK_TOPIC
    out = go(out.state, "2", USSD)
    assert out.state.state == S.PICK_MODE and "Topic 7: how do you want to learn?" in out.reply.text
    out = go(out.state, "1", USSD)
    assert out.reply is None and out.effects == [fx.RunMode("start", "teach", "mini-math", "t7")]
    lesson = ConvState(1, state=S.LESSON, mode="teach", pack="mini-math", topic="t7", data=out.state.data)
    out = go(lesson, "3/4")
    assert out.effects == [fx.RunMode("handle", "teach", "mini-math", "t7", "3/4")]
    out = go(lesson, "", command=Command.BACK)
    assert out.state.state == S.PICK_MODE and out.effects == []


def test_global_commands_keep_the_lesson_and_more_gives_the_rest():
    lesson = ConvState(1, state=S.LESSON, mode="teach", pack="p", topic="t",
                       data={"last": {"mode": "teach", "pack": "p", "topic": "t", "label": "Fractions, step 3 of 6"},
                             "rest": {"sms": "the rest of it"}})
    menu = go(lesson, "", command=Command.MENU)
    assert menu.state.state == S.MENU and "1. Continue: Fractions, step 3 of 6" in menu.reply.full_text()
    assert menu.state.data["last"] == lesson.data["last"]
    assert go(lesson, "", command=Command.LANG).state.state == S.PICK_LANGUAGE
    more = go(lesson, "", command=Command.MORE)
    assert more.reply.text == "the rest of it" and "sms" not in more.state.data["rest"]
    assert go(more.state, "", command=Command.MORE).reply.text == "There is nothing more to show."
    assert go(lesson, "", command=Command.HELP).state.state == S.LESSON
    resume = go(lesson, "", facts(channel="ussd", new_session=True))
    assert resume.state.state == S.RESUME_OFFER and "Continue Fractions, step 3 of 6?" in resume.reply.text


def test_a_shared_phone_asks_who_is_learning_then_checks_the_pin():
    world = FakeWorld(profiles_=[Profile(1, "Amina", False, True), Profile(2, "Baraka", True, True)], pins={2: "4821"})
    who = go(ConvState(1, state=S.MENU), "", facts(new_session=True), world)
    assert who.state.state == S.CHOOSE_PROFILE and "2. Baraka" in who.reply.full_text()
    pin = go(who.state, "2", world=world)
    assert pin.state.state == S.ENTER_PIN
    wrong = go(pin.state, "1111", world=world)
    assert wrong.state.state == S.ENTER_PIN and wrong.effects == []
    right = go(wrong.state, "4821", world=world)
    assert right.effects == [fx.SwitchStudent(2)] and right.state.state == S.MENU


def test_moves_off_the_table_are_refused():
    with pytest.raises(IllegalTransition):
        check(S.MENU, S.ONBOARD_PIN)
    with pytest.raises(IllegalTransition):
        check(S.ONBOARD_NAME, S.MENU)  # MENU before signing up does not skip onboarding
    check(S.LESSON, S.MENU)
    check(S.PICK_TOPIC, S.PICK_TOPIC)  # staying put is always allowed


def test_every_state_is_on_the_table():
    on_table = {e.source for e in TRANSITIONS} | {e.target for e in TRANSITIONS}
    assert {s.value for s in S} <= on_table
    assert ONBOARDING <= set(S)


def test_the_doc_shows_the_current_diagram():
    text = DOC.read_text(encoding="utf-8")
    assert current_block(text) == block(), "run: somo conversation diagram --write"
    assert "stateDiagram-v2" in mermaid() and all(f"--> {e.target}" in mermaid() for e in TRANSITIONS)


def test_cli_prints_the_diagram(capsys):
    assert somo(["conversation", "diagram"]) == 0
    assert capsys.readouterr().out == mermaid()
