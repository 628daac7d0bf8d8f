"""Jobs the modes enqueue (through `ModeResult.jobs`, after the engine's commit).

`explore_answer_by_sms` is the USSD follow-up: the answer that could not be generated within
the USSD deadline, computed here (LLM allowed) and sent by SMS. Modes do not know providers,
so this is a small, explicit seam into channels: store an outbound Message row (the contact's
last SMS provider if any, else Africa's Talking when configured, else the console), commit,
then enqueue its send. Jobs take ids and plain values, never ORM objects.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.outbound import enqueue_sends, store_outbound
from channels.render import render_for
from core.messages import Reply
from core.models import Contact, Direction, Message, Student
from core.runtime import Runtime, get_runtime
from rag.answering import answer_question

log = logging.getLogger("somo.modes.jobs")
SMS_BUDGET = 450


def sms_provider(runtime: Runtime, session: Session, contact_id: int) -> str:
    """The provider to reach this contact by SMS: the one they last wrote through, if any."""
    last = session.scalar(
        select(Message.provider).where(Message.contact_id == contact_id, Message.channel == "sms",
                                       Message.direction == Direction.IN.value)
        .order_by(Message.id.desc()).limit(1))
    if last:
        return last
    s = runtime.settings
    return "africastalking" if s.at_api_key.get_secret_value() else "console"


def explore_answer_by_sms(student_id: int, question: str, pack_id: str, topic_id: str | None, lang: str,
                          class_id: int | None = None) -> list[int]:
    """Answer a question asked on USSD and send it by SMS; returns the stored message ids."""
    runtime = get_runtime()
    with runtime.session() as session:
        student = session.get(Student, student_id)
        if student is None:
            raise LookupError(f"explore_answer_by_sms: student {student_id} does not exist")
        contact = session.get(Contact, student.contact_id)
        if contact is None or contact.opted_out:
            log.info("explore answer not sent: contact missing or opted out", extra={"student_id": student_id})
            return []
        answer = answer_question(runtime, session, question, pack=pack_id, topic=topic_id, lang=lang,
                                 budget_chars=SMS_BUDGET, channel="sms", class_id=class_id, allow_llm=True)
        rendered = render_for("sms", Reply(text=answer.text), lang=lang)
        rows = store_outbound(session, rendered, channel="sms", provider=sms_provider(runtime, session, contact.id),
                              phone=contact.phone, contact_id=contact.id, student_id=student.id)
        ids = [r.id for r in rows]
    enqueue_sends(runtime, ids)
    return ids
