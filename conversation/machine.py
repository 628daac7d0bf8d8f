"""The pure state machine: `step(state, event, facts, world) -> Outcome(new state, reply, effects)`.

Order of precedence in one turn (opt-out is the engine's, before this): onboarding for a
learner who has not finished it; then the global commands (MENU, HELP, LANG, MORE, BACK,
START) in every state; then the start of a new session (a USSD dial, a long pause): the
learner choice on a shared phone, the resume offer mid-lesson; then the state's own
handler. Every move is checked against `conversation.states.TRANSITIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from conversation import effects as fx
from conversation import menus, onboarding
from conversation.commands import Command
from conversation.menus import show
from conversation.states import ONBOARDING, S, check
from conversation.store import ConvState
from conversation.text import gettext_for
from conversation.world import Facts, World
from core.messages import Reply


@dataclass(frozen=True)
class Event:
    text: str
    command: Command | None = None


HANDLERS = {
    S.MENU: menus.on_menu,
    S.PICK_TOPIC: menus.on_pick_topic,
    S.PICK_MODE: menus.on_pick_mode,
    S.LESSON: menus.on_lesson,
    S.RESUME_OFFER: menus.on_resume_offer,
    S.CHOOSE_PROFILE: menus.on_choose_profile,
    S.ENTER_PIN: menus.on_enter_pin,
    S.PICK_LANGUAGE: menus.on_pick_language,
}


_STATE_NAMES = frozenset(s.value for s in S)


def step(state: ConvState, event: Event, facts: Facts, world: World) -> fx.Outcome:
    st = state.copy()
    origin = st.state if st.state in _STATE_NAMES else S.NEW
    if event.command is Command.MORE:
        outcome = more(st, facts)
    elif not facts.onboarded or origin in ONBOARDING:
        outcome = onboarding.step(st, event.text, event.command, facts, world)
    elif event.command is not None:
        outcome = on_command(st, event.command, facts, world)
    elif facts.new_session or facts.switched:
        outcome = enter(st, facts, world)
    else:
        outcome = HANDLERS.get(origin, menus.on_menu)(st, event.text, facts, world)
    check(origin, outcome.state.state)
    return outcome


def enter(st: ConvState, facts: Facts, world: World) -> fx.Outcome:
    """A new session: who is learning (shared phone), then continue-or-menu."""
    shared = sum(1 for p in world.profiles() if p.onboarded) > 1
    if shared and facts.new_session and not facts.switched:
        return show(st, S.CHOOSE_PROFILE, menus.profiles_menu(facts, world))
    if st.state in (S.LESSON, S.RESUME_OFFER) or facts.switched:
        return menus.lesson_or_menu(st, facts, world)
    return show(st, S.MENU, menus.main_menu(st, facts, world))


def more(st: ConvState, facts: Facts) -> fx.Outcome:
    """The part of the last reply that did not fit (kept per channel by `service.remember_rest`)."""
    _ = gettext_for(facts.lang)
    rest = (st.data.get("rest") or {}).pop(facts.channel, None)
    if not rest:
        return fx.Outcome(st, Reply(_("There is nothing more to show.")))
    return fx.Outcome(st, Reply(rest))


def help_text(facts: Facts) -> str:
    _ = gettext_for(facts.lang)
    lines = [_("Somo help: MENU for the menu, BACK to go back, MORE for the rest of a long message, "
               "LANG to change language, STOP to stop messages.")]
    if facts.channel == "ussd":
        lines.append(_("On this screen: 0 back, 00 menu, 98 more."))
    return "\n".join(lines)


def back(st: ConvState, facts: Facts, world: World) -> fx.Outcome:
    if st.state == S.PICK_MODE:
        return show(st, S.PICK_TOPIC, menus.topics_menu(st, facts, world))
    if st.state == S.LESSON and st.pack and st.topic:
        st.data["pack"], st.data["topic"] = st.pack, st.topic
        return show(st, S.PICK_MODE, menus.modes_menu(st, facts, world))
    if st.state == S.ENTER_PIN:
        return show(st, S.CHOOSE_PROFILE, menus.profiles_menu(facts, world))
    return show(st, S.MENU, menus.main_menu(st, facts, world))


def on_command(st: ConvState, command: Command, facts: Facts, world: World) -> fx.Outcome:
    if command is Command.HELP:
        reply = Reply(help_text(facts))
        return fx.Outcome(st, reply)
    if command is Command.LANG:
        return show(st, S.PICK_LANGUAGE, menus.language_menu(facts))
    if command is Command.BACK:
        return back(st, facts, world)
    return show(st, S.MENU, menus.main_menu(st, facts, world))  # MENU, and START when not opted out
