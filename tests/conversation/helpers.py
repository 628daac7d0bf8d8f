"""A scripted phone for conversation tests: it talks to Somo through the gateway's console
path (`handle_console`), so every reply is rendered exactly as the channel shows it."""

from __future__ import annotations

import itertools
from pathlib import Path

import yaml
from sqlalchemy import select

from core import clock
from core.messages import Inbound
from core.models import Contact, ConversationState, Student
from gateway.pipeline import handle_console
from rag.schema import Pack
from rag.store import save_pack

PACKS = Path(__file__).resolve().parents[1] / "fixtures" / "packs"
_ids = itertools.count(1)


def read_pack(name: str = "mini-math") -> Pack:
    return Pack.model_validate(yaml.safe_load((PACKS / f"{name}.yaml").read_text()))


def load_pack(rt, name: str = "mini-math") -> Pack:
    pack = read_pack(name)
    with rt.session() as s:
        save_pack(s, pack)
    return pack


class Phone:
    def __init__(self, rt, phone: str = "+254711000111", channel: str = "sms"):
        self.rt, self.phone, self.channel = rt, phone, channel
        self.session_id = f"sess-{next(_ids)}"
        self.screens: list[str] = []

    def send(self, text: str, *, button_id: str | None = None) -> str:
        raw = {"_button_id": button_id} if button_id else {}
        inbound = Inbound(channel=self.channel, provider="console", provider_message_id=f"t-{next(_ids)}",
                          sender=self.phone, recipient="console", text=text, received_at=clock.now(),
                          ussd_session_id=self.session_id if self.channel == "ussd" else None, raw=raw)
        replies = handle_console(self.rt, inbound)
        text_out = "\n".join(replies)
        self.screens.append(text_out)
        return text_out

    def dial(self) -> str:
        """A new USSD session: the first request carries no input."""
        self.session_id = f"sess-{next(_ids)}"
        return self.send("")

    def student(self) -> Student:
        with self.rt.session() as s:
            contact = s.scalar(select(Contact).where(Contact.phone == self.phone))
            student = s.get(Student, contact.active_student_id)
            s.expunge(student)
            return student

    def contact(self) -> Contact:
        with self.rt.session() as s:
            contact = s.scalar(select(Contact).where(Contact.phone == self.phone))
            s.expunge(contact)
            return contact

    def state(self) -> ConversationState:
        with self.rt.session() as s:
            row = s.get(ConversationState, self.student().id)
            s.expunge(row)
            return row


def finish_teach(phone: Phone, pack: Pack, *, limit: int = 40) -> str:
    """Answer a Teach lesson to its end (right answers, NEXT between steps); the last screen."""
    from rag.schema import TEACH_STEPS

    screen = phone.screens[-1] if phone.screens else ""
    for _ in range(limit):
        st = phone.state()
        if st.state != "lesson":
            return screen
        slot = st.data["modes"]["teach"]
        d, topic = slot["data"], pack.topic(slot["topic"])
        step = TEACH_STEPS[d["step"]]
        if step in ("practice", "quiz") and not d["answered"]:
            questions = topic.teach.practice if step == "practice" else topic.teach.quiz
            screen = phone.send(questions[d["q"]].answer)
        else:
            screen = phone.send("1")
    raise AssertionError(f"the lesson did not finish in {limit} messages; last screen:\n{screen}")


def read_all(phone: Phone, screen: str, limit: int = 10) -> str:
    """On USSD, follow '98 More' to the end of a paginated reply; the whole text seen."""
    seen = [screen]
    while phone.channel == "ussd" and ("98 More" in screen or "98 Zaidi" in screen) and limit:
        screen = phone.send("98")
        seen.append(screen)
        limit -= 1
    return "\n".join(seen)


def rendezvous(key: str, parties: int, timeout_s: float = 30.0) -> None:
    """An rq job that returns once `parties` workers are each running one (tests that need two
    workers really working at once: a worker starting late would otherwise find the queue empty)."""
    import time

    from core.runtime import get_runtime

    redis = get_runtime().redis
    redis.incr(key)
    deadline = time.monotonic() + timeout_s
    while int(redis.get(key) or 0) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"rendezvous {key}: fewer than {parties} workers came")
        time.sleep(0.01)
