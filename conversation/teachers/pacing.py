"""Class-paced Teach: the teacher's LESSON, NEXT, REPEAT and SKIP applied to one student.

One job per student, run under that student's contact lock (the same lock and fencing as
their own messages, so a teacher's NEXT and the student's answer never interleave). The
student's lesson state lives where their own lesson lives (the conversation state), so a
class lesson continues on whichever channel the student picks it up.

- start: begin the topic in Teach mode, remember it is a class lesson.
- next: move on when the student's step is complete; otherwise nudge them to answer.
- skip: move on even from an unanswered question (only teachers may skip a step).
- repeat: send the current step again.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from channels.outbound import store_outbound
from channels.render import render_for
from channels.routing import route_for
from conversation.effects import RunMode
from conversation.engine import Turn
from conversation.lock import ContactLock
from conversation.states import S
from conversation.store import FENCE, StaleState, max_version, run_after_commit
from core import clock
from core.i18n import translator
from core.messages import Inbound, Reply
from core.models import Broadcast, BroadcastRecipient, Contact, Student
from core.runtime import Runtime, get_runtime
from rag.schema import TEACH_STEPS

log = logging.getLogger("somo.teachers")

ACTIONS = ("start", "next", "skip", "repeat")
LOCK_WAIT_S = 30.0


def class_lesson_of(data: dict[str, Any]) -> dict[str, Any] | None:
    return data.get("class_lesson")


def class_step(student_id: int, action: str, broadcast_id: int) -> None:
    """Apply the teacher's `action` of lesson broadcast `broadcast_id` to one student."""
    if action not in ACTIONS:
        raise ValueError(f"unknown class action {action!r}")
    rt = get_runtime()
    with rt.session() as session:
        student = session.get(Student, student_id)
        if student is None:
            return
        contact_id = student.contact_id
    lock = ContactLock(rt, contact_id, floor=lambda: _floor(rt, contact_id))
    if not lock.acquire(LOCK_WAIT_S):
        raise TimeoutError(f"contact {contact_id} stayed locked; the job will be retried")
    try:
        ids = _apply(rt, student_id, action, broadcast_id, lock)
    finally:
        lock.release()
    for mid in ids:
        rt.queue.enqueue("channels.jobs.send_message", mid, job_id=f"send-{mid}", queue="broadcast")


def _floor(rt: Runtime, contact_id: int) -> int:
    with rt.session() as session:
        return max_version(session, contact_id)


def _apply(rt: Runtime, student_id: int, action: str, broadcast_id: int, lock: ContactLock) -> list[int]:
    token = lock.token()
    if token is None:
        raise TimeoutError("lost the contact lock")
    try:
        with rt.session() as session:
            if token:
                session.info[FENCE] = token
            ids = _apply_in(rt, session, student_id, action, broadcast_id)
    except StaleState:
        log.warning("student %s: state moved on under us; skipped class %s", student_id, action)
        return []
    run_after_commit(session)
    return ids


def _apply_in(rt: Runtime, session, student_id: int, action: str, broadcast_id: int) -> list[int]:
    student = session.get(Student, student_id)
    contact = session.get(Contact, student.contact_id)
    b = session.get(Broadcast, broadcast_id)
    recipient = session.scalar(select(BroadcastRecipient).where(
        BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.student_id == student_id))
    if contact.opted_out or b is None:
        if recipient is not None and action == "start":
            recipient.status = "failed"
            recipient.error = "opted out" if contact.opted_out else "no such lesson"
        return []
    route = route_for(session, rt.settings, contact_id=contact.id, channel=student.preferred_channel)
    inbound = Inbound(channel=route.channel, provider=route.provider, provider_message_id=None, sender=contact.phone,
                      recipient=None, text="", received_at=clock.now())
    turn = Turn(rt, session, contact, inbound)
    st = turn.store.load(student.id)
    current = class_lesson_of(st.data)
    if action != "start" and (current is None or current.get("broadcast_id") != broadcast_id
                              or st.state != S.LESSON or st.mode != "teach"):
        return []  # the student left the class lesson (MENU, another topic): leave them be
    facts = turn.facts(student, st, new_session=False, switched=False)
    _ = translator(facts.lang, "teachers").gettext
    note = ""
    if action == "start":
        contact.active_student_id = student.id
        eff = RunMode("start", "teach", b.pack, b.topic)
        note = _("Your teacher started a lesson.")
    elif action == "repeat":
        eff = RunMode("resume", "teach", b.pack, b.topic)
    else:
        slot = st.data.get("modes", {}).get("teach", {}).get("data", {})
        step = slot.get("step")
        waiting = isinstance(step, int) and 0 <= step < len(TEACH_STEPS) and TEACH_STEPS[step] in (
            "practice", "quiz") and not slot.get("answered")
        if action == "skip" and waiting:
            slot.update(answered=True, feedback="")
            waiting = False
        if waiting:
            eff = RunMode("resume", "teach", b.pack, b.topic)
            note = _("Your class has moved on. Answer this question to catch up.")
        else:
            eff = RunMode("handle", "teach", b.pack, b.topic, text="1")
    reply = turn.lessons.run(student, st, eff, facts, class_paced=True)
    if action == "start" and st.state == S.LESSON:
        st.data["class_lesson"] = {"broadcast_id": b.id, "class_id": b.class_id, "pack": b.pack, "topic": b.topic}
    elif st.state != S.LESSON:
        st.data.pop("class_lesson", None)
    turn.store.save(st)
    if note:
        reply = Reply("\n".join((note, reply.text)), options=reply.options, footer=reply.footer, meta=reply.meta)
    rendered = render_for(route.channel, reply, provider=route.provider, lang=facts.lang,
                          max_segments=rt.settings.sms_max_segments)
    rows = store_outbound(session, rendered, channel=route.channel, provider=route.provider, phone=contact.phone,
                          contact_id=contact.id, student_id=student.id, broadcast_id=b.id)
    if recipient is not None and action == "start":
        recipient.status, recipient.message_id = "started", rows[0].id if rows else None
    return [r.id for r in rows]
