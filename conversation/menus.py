"""The screens an onboarded student moves through: main menu, topics, modes, resume offer,
learner choice and language. Pure: each builder reads the state and facts and returns a
Reply; each handler returns an Outcome (next state, reply, effects)."""

from __future__ import annotations

from dataclasses import replace

from conversation import effects as fx
from conversation.commands import fold, is_yes
from conversation.states import S
from conversation.store import ConvState
from conversation.text import N_, gettext_for, language_name, number
from conversation.world import Facts, World
from core.messages import Option, Reply

LANGUAGE_CHANGED = N_("Language changed.")


def _mode_label(mode: str, lang: str) -> str:
    _ = gettext_for(lang)
    labels = {"teach": _("Learn step by step"), "explore": _("Ask questions"),
              "practice": _("Practice questions"), "exam": _("Exam practice")}
    return labels.get(mode, mode)


def numbered(items: list[tuple[str, str]]) -> list[Option]:
    """Options keyed 1, 2, 3... from (id, label) pairs."""
    return [Option(str(i), label, id=oid) for i, (oid, label) in enumerate(items, start=1)]


def show(st: ConvState, state: str, reply: Reply, effects: list | None = None) -> fx.Outcome:
    """Move to `state` showing `reply`; remember its options so the next number means what was shown."""
    st.state = state
    st.data["offered"] = [[o.key, o.id, fold(o.label)] for o in reply.options]
    return fx.Outcome(st, reply, list(effects or []))


def choice(st: ConvState, text: str, facts: Facts) -> str | None:
    """The id of the option the student picked (by number, by button, or by typing its label)."""
    offered = st.data.get("offered") or []
    if facts.button_id and any(o[1] == facts.button_id for o in offered):
        return facts.button_id
    raw, folded = (text or "").strip(), fold(text)
    for key, oid, label in offered:
        if raw == key or (folded and folded == label):
            return oid
    return None


def page_size(facts: Facts) -> int:
    return 5 if facts.channel == "ussd" else 8


def last_lesson(st: ConvState) -> dict | None:
    last = st.data.get("last")
    return last if isinstance(last, dict) and last.get("mode") and last.get("pack") and last.get("topic") else None


def lesson_label(last: dict, facts: Facts, world: World) -> str:
    """The mode's progress label ("Adding fractions, step 3 of 6"), or the topic's title when the
    student has changed language since the label was made."""
    if last.get("label") and last.get("lang", facts.lang) == facts.lang:
        return last["label"]
    return next((t.title for t in world.topics(last["pack"], facts.lang) if t.id == last["topic"]), last["topic"])


def main_menu(st: ConvState, facts: Facts, world: World, prefix: str = "") -> Reply:
    _ = gettext_for(facts.lang)
    items: list[tuple[str, str]] = []
    last = last_lesson(st)
    if last:
        items.append(("continue", _("Continue: %(lesson)s") % {"lesson": lesson_label(last, facts, world)}))
    subjects = world.subjects(facts.lang)
    items.extend((f"subject:{s.id}", s.title) for s in subjects)
    shared = sum(1 for p in world.profiles() if p.onboarded or p.id == facts.student_id) > 1
    items.append(("learners", _("Change learner")) if shared else ("add", _("Add a learner")))
    text = _("%(name)s, what do you want to learn?") % {"name": facts.name or _("Friend")}
    if not subjects:
        text += "\n" + _("There are no lessons for you yet. Ask your teacher.")
    footer = "" if facts.channel == "ussd" else _("HELP for help, STOP to stop.")
    return Reply("\n".join(p for p in (prefix, text) if p), options=numbered(items), footer=footer)


def topics_menu(st: ConvState, facts: Facts, world: World) -> Reply:
    _ = gettext_for(facts.lang)
    topics = world.topics(st.data.get("pack") or "", facts.lang)
    size, page = page_size(facts), int(st.data.get("page") or 0)
    page = page if 0 <= page * size < max(1, len(topics)) else 0
    st.data["page"] = page
    shown = topics[page * size:(page + 1) * size]
    items = [(f"topic:{t.id}", t.title) for t in shown]
    if (page + 1) * size < len(topics):
        items.append((f"page:{page + 1}", _("More topics")))
    if not topics:
        return Reply(_("This subject has no topics yet."), options=numbered(items))
    head = _("Choose a topic (%(first)s-%(last)s of %(total)s):") % {
        "first": number(page * size + 1, facts.lang), "last": number(page * size + len(shown), facts.lang),
        "total": number(len(topics), facts.lang)}
    return Reply(head, options=numbered(items))


def topic_title(st: ConvState, facts: Facts, world: World) -> str:
    wanted = st.data.get("topic")
    return next((t.title for t in world.topics(st.data.get("pack") or "", facts.lang) if t.id == wanted), wanted or "")


def modes_menu(st: ConvState, facts: Facts, world: World) -> Reply:
    _ = gettext_for(facts.lang)
    items = [(f"mode:{m}", _mode_label(m, facts.lang)) for m in world.modes()]
    return Reply(_("%(topic)s: how do you want to learn?") % {"topic": topic_title(st, facts, world)},
                 options=numbered(items))


def resume_reply(st: ConvState, facts: Facts, world: World) -> Reply:
    _ = gettext_for(facts.lang)
    last = last_lesson(st) or {}
    label = lesson_label(last, facts, world) if last else ""
    return Reply(_("Continue %(lesson)s?") % {"lesson": label},
                 options=numbered([("continue", _("Yes, continue")), ("menu", _("Main menu"))]))


def profiles_menu(facts: Facts, world: World, prefix: str = "") -> Reply:
    _ = gettext_for(facts.lang)
    items = [(f"profile:{p.id}", p.name) for p in world.profiles() if p.onboarded]
    items.append(("add", _("Add a learner")))
    text = "\n".join(p for p in (prefix, _("Who is learning now?")) if p)
    return Reply(text, options=numbered(items))


def language_menu(facts: Facts, prefix: str = "") -> Reply:
    _ = gettext_for(facts.lang)
    langs = list(dict.fromkeys([*facts.offered, facts.lang]))
    text = "\n".join(p for p in (prefix, _("Choose your language:")) if p)
    return Reply(text, options=numbered([(f"lang:{code}", language_name(code)) for code in langs]))


def pick_language(st: ConvState, text: str, facts: Facts) -> str | None:
    """A language by number, button, its own name, its English name or its code."""
    picked = choice(st, text, facts)
    if picked and picked.startswith("lang:"):
        return picked.split(":", 1)[1]
    typed = fold(text)
    names = {"english": "en", "kiingereza": "en", "swahili": "sw", "kiswahili": "sw", "luganda": "lg",
             "bemba": "bem", "ichibemba": "bem", "nyanja": "ny", "chinyanja": "ny"}
    lang = names.get(typed) or (typed if typed in facts.offered else None)
    return lang if lang in facts.offered or lang == facts.lang else None


def lesson_or_menu(st: ConvState, facts: Facts, world: World, prefix: str = "") -> fx.Outcome:
    """After a learner is picked: the resume offer when a lesson is in progress, else the menu."""
    if last_lesson(st):
        reply = resume_reply(st, facts, world)
        if prefix:
            reply.text = f"{prefix}\n{reply.text}"
        return show(st, S.RESUME_OFFER, reply)
    return show(st, S.MENU, main_menu(st, facts, world, prefix))


def run_mode(st: ConvState, action: str, mode: str, pack: str, topic: str, text: str = "") -> fx.Outcome:
    st.state = S.LESSON
    st.data["offered"] = []
    return fx.Outcome(st, None, [fx.RunMode(action, mode, pack, topic, text)])


def on_menu(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    _ = gettext_for(facts.lang)
    picked = choice(st, text, facts)
    last = last_lesson(st)
    if picked == "continue" and last:
        return run_mode(st, "resume", last["mode"], last["pack"], last["topic"])
    if picked and picked.startswith("subject:"):
        st.data["pack"], st.data["page"] = picked.split(":", 1)[1], 0
        return show(st, S.PICK_TOPIC, topics_menu(st, facts, world))
    if picked == "learners":
        return show(st, S.CHOOSE_PROFILE, profiles_menu(facts, world))
    if picked == "add":
        st.data["offered"] = []
        return fx.Outcome(st, None, [fx.AddStudent()])
    return show(st, S.MENU, main_menu(st, facts, world, _("Please reply with one of the numbers.")))


def on_pick_topic(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    _ = gettext_for(facts.lang)
    picked = choice(st, text, facts) or ""
    if picked.startswith("page:"):
        st.data["page"] = int(picked.split(":", 1)[1])
        return show(st, S.PICK_TOPIC, topics_menu(st, facts, world))
    if picked.startswith("topic:"):
        st.data["topic"] = picked.split(":", 1)[1]
        return show(st, S.PICK_MODE, modes_menu(st, facts, world))
    reply = topics_menu(st, facts, world)
    reply.text = _("Please reply with one of the numbers.") + "\n" + reply.text
    return show(st, S.PICK_TOPIC, reply)


def on_pick_mode(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    _ = gettext_for(facts.lang)
    picked = choice(st, text, facts) or ""
    if picked.startswith("mode:"):
        mode, pack, topic = picked.split(":", 1)[1], st.data.get("pack") or "", st.data.get("topic") or ""
        saved = (st.data.get("modes") or {}).get(mode) or {}
        same = saved.get("pack") == pack and saved.get("topic") == topic
        return run_mode(st, "resume" if same else "start", mode, pack, topic)
    reply = modes_menu(st, facts, world)
    reply.text = _("Please reply with one of the numbers.") + "\n" + reply.text
    return show(st, S.PICK_MODE, reply)


def on_lesson(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    if st.mode and st.pack and st.topic:
        return run_mode(st, "handle", st.mode, st.pack, st.topic, text)
    return show(st, S.MENU, main_menu(st, facts, world))


def on_resume_offer(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    picked = choice(st, text, facts)
    last = last_lesson(st)
    if last and (picked == "continue" or (picked is None and is_yes(text))):
        return run_mode(st, "resume", last["mode"], last["pack"], last["topic"])
    if picked == "menu" or not last:
        return show(st, S.MENU, main_menu(st, facts, world))
    return show(st, S.RESUME_OFFER, resume_reply(st, facts, world))


def switch_to(st: ConvState, student_id: int, facts: Facts, world: World) -> fx.Outcome:
    """Hand the phone to another learner (or back to this one)."""
    if student_id == facts.student_id:
        return lesson_or_menu(st, replace(facts, switched=True), world)
    st.state = S.MENU
    st.data["offered"] = []
    return fx.Outcome(st, None, [fx.SwitchStudent(student_id)])


def on_choose_profile(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    _ = gettext_for(facts.lang)
    picked = choice(st, text, facts) or ""
    if picked == "add":
        st.state, st.data["offered"] = S.MENU, []
        return fx.Outcome(st, None, [fx.AddStudent()])
    profile = next((p for p in world.profiles() if picked == f"profile:{p.id}"), None)
    if profile is None:
        return show(st, S.CHOOSE_PROFILE, profiles_menu(facts, world, _("Please reply with one of the numbers.")))
    if profile.has_pin:
        st.data["pin_for"], st.data["pin_tries"] = profile.id, 0
        return show(st, S.ENTER_PIN, Reply(_("%(name)s, enter your 4-digit PIN.") % {"name": profile.name},
                                             expects_answer=True))
    return switch_to(st, profile.id, facts, world)


def on_enter_pin(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    _ = gettext_for(facts.lang)
    target = st.data.get("pin_for")
    if isinstance(target, int) and world.check_pin(target, text):
        st.data.pop("pin_for", None)
        return switch_to(st, target, facts, world)
    st.data["pin_tries"] = int(st.data.get("pin_tries") or 0) + 1
    if st.data["pin_tries"] >= 3 or not isinstance(target, int):
        st.data.pop("pin_for", None)
        return show(st, S.CHOOSE_PROFILE, profiles_menu(facts, world, _("Too many wrong PINs.")))
    return show(st, S.ENTER_PIN, Reply(_("That PIN is not right. Try again."), expects_answer=True))


def on_pick_language(st: ConvState, text: str, facts: Facts, world: World) -> fx.Outcome:
    _ = gettext_for(facts.lang)
    lang = pick_language(st, text, facts)
    if lang is None:
        return show(st, S.PICK_LANGUAGE, language_menu(facts, _("Please reply with one of the numbers.")))
    facts = replace(facts, lang=lang)
    done = gettext_for(lang)(LANGUAGE_CHANGED)
    return show(st, S.MENU, main_menu(st, facts, world, done), [fx.SetLanguage(lang)])
