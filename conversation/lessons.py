"""Running a learning mode for the machine's `RunMode` effect.

Each mode keeps its own state in `ctx.data`; we persist it in the conversation state under
`data["modes"][<mode>] = {"pack", "topic", "data"}`, so every learner profile has its own
and a lesson continues on whichever channel the student picks it up. `data["last"]` names
the lesson in progress (with the mode's progress label) for "continue where I left off".
A mode that fails is rolled back and the student is sent to the menu: inside a unit of work
that can be redone (`conversation.service`, one inbound message) the whole unit rolls back
and is redone with the mode skipped (`ModeFailed`, no savepoint: two round trips fewer per
lesson step); elsewhere (a teacher pacing a class) the mode runs under a savepoint.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from conversation import effects as fx
from conversation import menus
from conversation.states import S, check
from conversation.store import ConvState, after_commit, copy_data
from conversation.text import gettext_for
from conversation.world import MODE_NAMES, Facts
from core import clock
from core.messages import Reply
from core.models import Student
from core.runtime import Runtime
from modes.base import ModeContext
from rag.store import get_pack

log = logging.getLogger("somo.conversation")

MODES_EXTRA = "conversation.modes"  # runtime.extras key: a {name: Mode} mapping (tests, demos)
REDO = "conversation.redo"  # session.info: the contact whose message the unit of work is, redone after ModeFailed
FAILED = "conversation.failed_mode"  # session.info: the (mode, pack, topic) that failed in the first try


class ModeFailed(Exception):
    """A mode raised in a unit of work that will be rolled back and redone without it."""

    def __init__(self, key: tuple[str, str, str]):
        super().__init__(f"mode {key[0]} failed on {key[1]}/{key[2]}")
        self.key = key


def mode_lookup(runtime: Runtime) -> Callable[[str], Any]:
    """Where modes come from: an injected mapping on the runtime, else `modes.registry`."""
    injected = runtime.extras.get(MODES_EXTRA)
    if injected is not None:
        return injected.get
    try:
        from modes.registry import get_mode
    except ModuleNotFoundError:
        return lambda name: None

    def lookup(name: str):
        try:
            return get_mode(name)
        except (KeyError, LookupError, ValueError):
            return None

    return lookup


class LessonRunner:
    def __init__(self, runtime: Runtime, session: Session, turn):
        # The turn owns this runner: a strong reference back would make the pair a cycle, and
        # with it the turn's whole unit of work (the session, its identity map, the learner)
        # garbage only the cyclic collector frees, a request's worth at every young collection.
        self.runtime, self.session, self.turn = runtime, session, weakref.proxy(turn)
        self.lookup = mode_lookup(runtime)

    def available_modes(self) -> tuple[str, ...]:
        return tuple(name for name in MODE_NAMES if self.lookup(name) is not None)

    def _class_id(self, student: Student) -> int | None:
        return self.turn.class_id(student)

    @staticmethod
    def _class_paced(st: ConvState, eff: fx.RunMode) -> bool:
        lesson = st.data.get("class_lesson")
        return bool(lesson) and lesson.get("pack") == eff.pack and lesson.get("topic") == eff.topic

    def _to_menu(self, st: ConvState, student: Student, facts: Facts, note: str) -> Reply:
        check(S.LESSON, S.MENU)
        reply = menus.main_menu(st, facts, self.turn.world(student), note)
        menus.show(st, S.MENU, reply)
        return reply

    def run(self, student: Student, st: ConvState, eff: fx.RunMode, facts: Facts, *,
            class_paced: bool | None = None) -> Reply:
        """Run the mode for this turn. `class_paced`: a teacher paces this lesson (None: as the
        state records, a class lesson on this pack and topic)."""
        _ = gettext_for(facts.lang)
        mode, pack = self.lookup(eff.mode), get_pack(self.session, eff.pack)
        if mode is None or pack is None or pack.topic(eff.topic) is None:
            st.data.pop("last", None)
            return self._to_menu(st, student, facts, _("That lesson is not available now."))
        slots = st.data.setdefault("modes", {})
        slot = copy_data(slots.get(eff.mode))  # the mode mutates a copy: a failure leaves no trace
        action = eff.action
        if action == "start" or not (slot and slot.get("pack") == eff.pack and slot.get("topic") == eff.topic):
            action, slot = "start", {"pack": eff.pack, "topic": eff.topic, "data": {}}
        ctx = ModeContext(runtime=self.runtime, session=self.session, student=student, lang=facts.lang,
                          channel=facts.channel, pack=pack, topic_id=eff.topic, data=slot["data"], now=clock.now(),
                          class_id=self._class_id(student),
                          class_paced=self._class_paced(st, eff) if class_paced is None else class_paced)
        key = (eff.mode, eff.pack, eff.topic)
        if self.session.info.get(FAILED) == key:  # the redo of a unit of work this mode failed in
            return self._to_menu(st, student, facts, _("Sorry, something went wrong in this lesson."))

        def call():
            if action == "start":
                return mode.start(ctx)
            if action == "resume":
                return mode.resume(ctx)
            return mode.handle(ctx, eff.text)

        # Redone whole: only the message's own turn. A teacher pacing a class runs other
        # students' lessons in the teacher's unit of work: one student's failure stays theirs.
        redo = class_paced is not True and self.session.info.get(REDO) == self.turn.contact.id
        try:
            if redo:
                result = call()
            else:
                with self.session.begin_nested():
                    result = call()
        except Exception as exc:  # noqa: BLE001 - a mode bug must not lose the student's turn
            log.exception("mode %s failed on %s/%s", eff.mode, eff.pack, eff.topic)
            if redo:
                raise ModeFailed(key) from exc
            return self._to_menu(st, student, facts, _("Sorry, something went wrong in this lesson."))
        for path, args in result.jobs:
            after_commit(self.session, lambda p=path, a=args: self.runtime.queue.enqueue(p, *a))
        st.mode, st.pack, st.topic = eff.mode, eff.pack, eff.topic
        step = ctx.data.get("step")
        st.step = step if isinstance(step, int) else 0
        if result.done:
            slots.pop(eff.mode, None)
            st.data.pop("last", None)
            menu = self._to_menu(st, student, facts, "")
            return Reply("\n".join(p for p in (result.reply.text, menu.text) if p), options=menu.options,
                         footer=menu.footer, meta=dict(result.reply.meta))
        slots[eff.mode] = slot
        title = pack.text(pack.topic(eff.topic).title, facts.lang)
        st.data["last"] = {"mode": eff.mode, "pack": eff.pack, "topic": eff.topic,
                           "label": result.progress_label or title, "lang": facts.lang}
        st.state = S.LESSON
        return result.reply
