"""Jobs the modes enqueue (through `ModeResult.jobs`, after the engine's commit).

`explore_answer_by_sms` is the USSD follow-up: the answer that could not be generated within
the USSD deadline, computed here (LLM allowed) and sent by SMS. Modes do not know providers,
so this is a small, explicit seam into channels: store an outbound Message row (routed by
`channels.routing`), commit,
then enqueue its send. Jobs take ids and plain values, never ORM objects.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from channels.outbound import enqueue_sends, store_outbound
from channels.render import render_for
from channels.routing import route_for
from core.messages import Reply
from core.models import Contact, Student
from core.runtime import Runtime, get_runtime
from rag.answering import answer_question

log = logging.getLogger("somo.modes.jobs")
SMS_BUDGET = 450


def sms_route(runtime: Runtime, session: Session, contact_id: int) -> str:
    """The provider to reach this contact by SMS (channels.routing: the one they last wrote
    through, else the configured one, else the console)."""
    return route_for(session, runtime.settings, contact_id=contact_id, channel="sms").provider


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
        rows = store_outbound(session, rendered, channel="sms", provider=sms_route(runtime, session, contact.id),
                              phone=contact.phone, contact_id=contact.id, student_id=student.id)
        ids = [r.id for r in rows]
    enqueue_sends(runtime, ids)
    return ids
