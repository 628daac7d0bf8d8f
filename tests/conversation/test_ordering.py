"""One student, one order: a contact's messages are handled in arrival order and never two
at once, with threads racing in one process and with two real rq workers on real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from conversation.service import process_pending
from core import clock
from core.messages import Inbound
from core.models import Contact, ConversationState, Direction, Message, MessageStatus, Student
from gateway.pipeline import make_deliver, store_inbound
from tests.conversation.helpers import load_pack

ROOT = Path(__file__).resolve().parents[2]
# Onboarding into a Teach lesson (over SMS the reading steps come with the practice question),
# a hint, then the answer, whose feedback comes with the quiz question.
SCRIPT = ["hi", "1", "Amina", "skip", "1", "1", "1", "1", "HINT", "3/4"]


def store(rt, phone: str, texts: list[str]) -> int:
    with rt.session() as s:
        for i, text in enumerate(texts):
            stored = store_inbound(s, Inbound(
                channel="sms", provider="console", provider_message_id=f"{phone}-{i}", sender=phone,
                recipient="console", text=text, received_at=clock.now()))
        return stored.contact_id


def outcome(rt, phone: str):
    """What a student's conversation came to: replies in order, and the final state."""
    with rt.session() as s:
        contact = s.scalar(select(Contact).where(Contact.phone == phone))
        inbound = list(s.scalars(select(Message).where(Message.contact_id == contact.id,
                                                      Message.direction == Direction.IN.value).order_by(Message.id)))
        out = list(s.scalars(select(Message).where(Message.contact_id == contact.id,
                                                  Message.direction == Direction.OUT.value).order_by(Message.id)))
        student = s.scalar(select(Student).where(Student.contact_id == contact.id))
        state = s.get(ConversationState, student.id)
        teach = (state.data.get("modes") or {}).get("teach", {}).get("data", {})
        return {
            "handled": [m.status for m in inbound],
            "reply_order": [m.reply_to_id for m in out],
            "inbound_ids": [m.id for m in inbound],
            "texts": [m.text for m in out],
            "state": (state.state, state.mode, state.topic, teach.get("step"), student.name, student.language),
        }


def same_conversation(a: dict, b: dict) -> None:
    assert a["handled"] == b["handled"] == [MessageStatus.HANDLED.value] * len(SCRIPT)
    assert a["texts"] == b["texts"]
    assert a["state"] == b["state"]
    for got in (a, b):  # replies follow their messages' order
        positions = [got["inbound_ids"].index(r) for r in got["reply_order"]]
        assert positions == sorted(positions)


class Slow:
    """A deliver step that takes time and notices any overlap between two handlers."""

    def __init__(self, rt):
        self.inner = make_deliver(rt)
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def __call__(self, session, row, reply):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(0.03)
        try:
            return self.inner(session, row, reply)
        finally:
            with self.lock:
                self.active -= 1


@pytest.mark.parametrize("runtime", ["rt", "rt_redis"])
def test_racing_threads_handle_one_contact_in_order_never_at_once(request, runtime):
    rt = request.getfixturevalue(runtime)
    load_pack(rt)
    contact_id = store(rt, "+254799000001", SCRIPT)
    deliver = Slow(rt)
    results: list[list[int]] = []
    threads = [threading.Thread(target=lambda: results.append(process_pending(rt, contact_id, deliver)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert deliver.max_active == 1
    serial_id = store(rt, "+254799000002", SCRIPT)
    serial = process_pending(rt, serial_id, make_deliver(rt))
    assert sum(len(r) for r in results) == len(serial) > len(SCRIPT)  # every reply part returned exactly once
    a, b = outcome(rt, "+254799000001"), outcome(rt, "+254799000002")
    same_conversation(a, b)
    assert a["state"][0] == "lesson" and a["state"][3] == 4  # Teach, on the quiz step


def process_contact_noting_worker(contact_id: int) -> None:
    """`gateway.jobs.process_contact`, noting which worker process ran it (finished jobs leave
    no hash to read `worker_name` from: result_ttl=0)."""
    from core.runtime import get_runtime
    from gateway.jobs import process_contact

    get_runtime().redis.rpush("test:ordering:workers", os.getpid())
    process_contact(contact_id)


def _worker(rt) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL=rt.settings.database_url, REDIS_URL=rt.settings.redis_url,
               SOMO_DATA_DIR=str(rt.settings.somo_data_dir), LOG_JSON="false")
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker", "--burst"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_real_rq_workers_handle_one_students_messages_in_order(rt_redis):
    load_pack(rt_redis)
    contact_id = store(rt_redis, "+254799000003", SCRIPT)
    for n in range(2):  # each worker holds one of these until both run: then they race for the rest
        rt_redis.queue.enqueue("tests.conversation.helpers.rendezvous", "test:ordering:started", 2,
                               job_id=f"rendezvous-{n}")
    for i in range(len(SCRIPT)):  # one job per message, as the gateway queues them
        rt_redis.queue.enqueue(f"{__name__}.process_contact_noting_worker", contact_id, job_id=f"process-order-{i}")
    workers = [_worker(rt_redis), _worker(rt_redis)]
    logs = []
    for w in workers:
        out, _ = w.communicate(timeout=240)
        logs.append(out)
        assert w.returncode == 0, out
    from rq.job import Job
    from rq.registry import FailedJobRegistry, StartedJobRegistry

    # Finished jobs leave no hash (result_ttl=0): none failed, none left started or queued.
    queue = rt_redis.queue.rq_queue()
    assert not any(rt_redis.redis.exists(Job.key_for(f"process-order-{i}")) for i in range(len(SCRIPT)))
    assert FailedJobRegistry(queue=queue).count == StartedJobRegistry(queue=queue).count == queue.count == 0
    ran_in = [int(pid) for pid in rt_redis.redis.lrange("test:ordering:workers", 0, -1)]
    assert len(ran_in) == len(SCRIPT)
    assert set(ran_in) == {w.pid for w in workers}  # both workers took jobs for this one student
    serial_id = store(rt_redis, "+254799000004", SCRIPT)
    process_pending(rt_redis, serial_id, make_deliver(rt_redis))
    concurrent, serial = outcome(rt_redis, "+254799000003"), outcome(rt_redis, "+254799000004")
    same_conversation(concurrent, serial)
    assert concurrent["state"][0] == "lesson"
    assert rt_redis.redis.get(f"somo:lock:contact:{contact_id}") is None  # released
