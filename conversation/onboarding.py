"""Onboarding a number: language (offered by the number's country), name, a PIN when the
phone is shared, class join code (skipped when the school pre-enrolled the number), and a
consent line that says how to stop. Pure, like the rest of the machine."""

from __future__ import annotations

import re
from dataclasses import replace

from conversation import effects as fx
from conversation.commands import Command, is_skip, is_yes
from conversation.menus import choice, main_menu, pick_language, show
from conversation.pins import is_pin
from conversation.states import S
from conversation.store import ConvState
from conversation.text import N_, gettext_for, language_name
from conversation.world import Facts, World
from core.messages import Option, Reply

_NAME_PREFIX = re.compile(
    r"^(my name is|my names are|i am|i'm|im|name|jina langu ni|jina langu|naitwa|ninaitwa|mimi ni|nize|"
    r"nitwa|ndi|ishina lyandi ni|dzina langa ndine|dzina langa ndi)\s+", re.IGNORECASE)
_NAME_OK = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$", re.UNICODE)


def clean_name(text: str) -> str | None:
    """A first name from what was typed ('my name is amina' -> 'Amina'), or None when it is not one."""
    name = " ".join((text or "").split())
    name = _NAME_PREFIX.sub("", name).strip(" .,!")
    if not name or len(name) > 40 or not _NAME_OK.match(name):
        return None
    return " ".join(w[:1].upper() + w[1:] if w.islower() else w for w in name.split(" "))


WELCOME = N_("Welcome to Somo, your study friend!")
CHOOSE_LANGUAGE = N_("Choose your language:")


def welcome(facts: Facts) -> Reply:
    """The first screen, before we know the language: one line per offered language."""
    lines = [gettext_for("en")(WELCOME)]
    lines += [gettext_for(lang)(CHOOSE_LANGUAGE) for lang in facts.offered]
    options = [Option(str(i), language_name(code), id=f"lang:{code}") for i, code in enumerate(facts.offered, 1)]
    return Reply("\n".join(dict.fromkeys(lines)), options=options)


def _shared(facts: Facts, world: World) -> bool:
    return any(p.onboarded and p.id != facts.student_id for p in world.profiles())


def _next_after(step: str, facts: Facts, world: World, name: str) -> str:
    """The next question, skipping what we already know."""
    order = [S.ONBOARD_NAME, S.ONBOARD_PIN, S.ONBOARD_CLASS, S.ONBOARD_CONSENT]
    needed = {S.ONBOARD_NAME: not name, S.ONBOARD_PIN: _shared(facts, world) and not facts.has_pin,
              S.ONBOARD_CLASS: not facts.enrolled, S.ONBOARD_CONSENT: True}
    start = 0 if step == S.ONBOARD_LANGUAGE else order.index(step) + 1
    return next(s for s in order[start:] if needed[s])


def prompt(state: str, facts: Facts, world: World, prefix: str = "") -> Reply:
    _ = gettext_for(facts.lang)
    if state in (S.NEW, S.ONBOARD_LANGUAGE):
        reply = welcome(facts)
    elif state == S.ONBOARD_NAME:
        reply = Reply(_("What is your first name?"), expects_answer=True)
    elif state == S.ONBOARD_PIN:
        reply = Reply(_("This phone has more than one learner. Choose a 4-digit PIN to keep your lessons "
                        "private, or reply SKIP."), expects_answer=True)
    elif state == S.ONBOARD_CLASS:
        reply = Reply(_("Type the class code your teacher gave you, or reply SKIP."), expects_answer=True)
    else:
        reply = Reply(_("Somo sends short lessons to this phone. To stop at any time, reply STOP."),
                      options=[Option("1", _("I agree"), id="agree")])
    if prefix:
        reply.text = f"{prefix}\n{reply.text}"
    return reply


def ask(st: ConvState, state: str, facts: Facts, world: World, prefix: str = "", effects=None) -> fx.Outcome:
    return show(st, state, prompt(state, facts, world, prefix), effects)


BACK_TO = {S.ONBOARD_NAME: S.ONBOARD_LANGUAGE, S.ONBOARD_PIN: S.ONBOARD_NAME, S.ONBOARD_CLASS: S.ONBOARD_NAME,
           S.ONBOARD_CONSENT: S.ONBOARD_NAME}


def step(st: ConvState, text: str, command: Command | None, facts: Facts, world: World) -> fx.Outcome:
    _ = gettext_for(facts.lang)
    state = st.state if st.state in BACK_TO or st.state == S.ONBOARD_LANGUAGE else S.NEW
    if state == S.NEW or facts.new_session:
        return ask(st, S.ONBOARD_LANGUAGE if state == S.NEW else state, facts, world)
    if command is Command.BACK and state in BACK_TO:
        return ask(st, BACK_TO[state], facts, world)
    if command is Command.HELP:
        return ask(st, state, facts, world, _("Somo is a tutor on your phone. Answer the question below "
                                               "to finish signing up."))
    if command is not None:  # MENU, LANG, START before signing up: ask the open question again
        return ask(st, state, facts, world)
    return HANDLERS[state](st, text, facts, world)


def on_language(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    lang = pick_language(st, text, facts)
    if lang is None:
        return show(st, S.ONBOARD_LANGUAGE, welcome(facts))
    facts = replace(facts, lang=lang)
    _ = gettext_for(lang)
    nxt = _next_after(S.ONBOARD_LANGUAGE, facts, world, facts.name)
    greeting = _("Hello %(name)s!") % {"name": facts.name} if facts.name else ""
    return ask(st, nxt, facts, world, greeting, [fx.SetLanguage(lang)])


def on_name(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    _ = gettext_for(facts.lang)
    name = clean_name(text)
    if name is None:
        return ask(st, S.ONBOARD_NAME, facts, world, _("Please type just your first name, in letters."))
    facts = replace(facts, name=name)
    nxt = _next_after(S.ONBOARD_NAME, facts, world, name)
    return ask(st, nxt, facts, world, _("Nice to meet you, %(name)s!") % {"name": name}, [fx.SetName(name)])


def on_pin(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    _ = gettext_for(facts.lang)
    if is_skip(text):
        return ask(st, _next_after(S.ONBOARD_PIN, facts, world, facts.name), facts, world)
    if not is_pin(text):
        return ask(st, S.ONBOARD_PIN, facts, world, _("A PIN is exactly 4 digits, like 4821."))
    facts = replace(facts, has_pin=True)
    nxt = _next_after(S.ONBOARD_PIN, facts, world, facts.name)
    return ask(st, nxt, facts, world, _("PIN saved."), [fx.SetPin(text.strip())])


def on_class(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    _ = gettext_for(facts.lang)
    if is_skip(text):
        return ask(st, S.ONBOARD_CONSENT, facts, world)
    found = world.find_class(text)
    if found is None:
        code = " ".join(text.split())[:16]
        return ask(st, S.ONBOARD_CLASS, facts, world,
                   _("We could not find the class code %(code)s.") % {"code": code})
    joined = _("You joined %(klass)s at %(school)s.") % {"klass": found.name, "school": found.school}
    return ask(st, S.ONBOARD_CONSENT, facts, world, joined, [fx.Enrol(found.id)])


def on_consent(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    _ = gettext_for(facts.lang)
    if choice(st, text, facts) == "agree" or is_yes(text):
        hello = _("Welcome to Somo, %(name)s!") % {"name": facts.name}
        return show(st, S.MENU, main_menu(st, facts, world, hello), [fx.FinishOnboarding()])
    return ask(st, S.ONBOARD_CONSENT, facts, world, _("Reply 1 to agree and start learning."))


HANDLERS = {S.ONBOARD_LANGUAGE: on_language, S.ONBOARD_NAME: on_name, S.ONBOARD_PIN: on_pin,
            S.ONBOARD_CLASS: on_class, S.ONBOARD_CONSENT: on_consent}

__all__ = ["step", "prompt", "welcome", "clean_name"]
