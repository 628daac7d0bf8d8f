"""Storms: the same webhook delivered many times at once (one effect), and many students
talking at once (no cross-talk between their states). Real PostgreSQL; threads through the
ASGI app, as concurrent gateway connections."""

from __future__ import annotations

import string
import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.models import Direction, Message, Student
from gateway.app import create_app
from tests.reliability.conftest import AT_TOKEN, FORM, sms_form, ussd_form
from tests.reliability.ledger import ledger

COPIES = 24


def at_once(n: int, call):
    """Run `call(i)` n times, all released together."""
    gate = threading.Barrier(n)

    def run(i):
        gate.wait()
        return call(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_a_storm_of_one_sms_webhook_stores_it_once_and_answers_once(gw_rt, at_api):
    with TestClient(create_app(gw_rt), client=("196.201.214.200", 1)) as client:
        body = sms_form("+254711000601", "Hello", "ATPid_storm")
        codes = at_once(COPIES, lambda _: client.post("/webhooks/africastalking/sms" + AT_TOKEN, content=body,
                                                      headers=FORM).status_code)
    assert codes == [200] * COPIES
    counts = ledger(gw_rt, at_api).show(f"{COPIES} copies of one SMS")
    assert (counts.inbound_stored, counts.inbound_handled) == (1, 1)
    assert counts.replies_sent == len(at_api) >= 1 and counts.duplicates_sent == 0


def test_a_storm_of_one_ussd_step_gives_every_copy_the_same_screen(gw_rt, at_api):
    with TestClient(create_app(gw_rt), client=("196.201.214.200", 1)) as client:
        body = ussd_form("+254711000602", "ATUid_storm", "")
        answers = at_once(COPIES, lambda _: client.post("/webhooks/africastalking/ussd" + AT_TOKEN, content=body,
                                                        headers=FORM))
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1 and answers[0].text.startswith("CON ")
    counts = ledger(gw_rt, at_api).show(f"{COPIES} copies of one USSD step")
    assert (counts.inbound_stored, counts.inbound_handled, counts.replies_sent, counts.duplicates_sent) == (1, 1, 1, 0)


def letters(i: int) -> str:
    return "".join(string.ascii_lowercase[int(d)] for d in f"{i:03d}")


def test_many_students_at_once_each_keep_their_own_state(rt_redis):
    """40 students onboard over SMS at the same time (console route: handled in the request,
    state in Redis and PostgreSQL); each must see their own name and language, never another's."""
    n = 40
    with TestClient(create_app(rt_redis)) as client:
        def talk(i: int) -> list[str]:
            phone, name, lang = f"+2547110007{i:02d}", f"Amina{letters(i)}", "1" if i % 2 else "2"
            said = []
            for text in ("hi", lang, name):
                res = client.post("/webhooks/console", json={"phone": phone, "text": text, "channel": "sms",
                                                            "message_id": f"many-{i}-{text}"})
                assert res.status_code == 200, res.text
                said.append(" ".join(res.json()["replies"]))
            return said

        transcripts = at_once(n, talk)
    for i, said in enumerate(transcripts):
        name = f"Amina{letters(i)}"
        assert name in said[2], said  # greeted by their own name
        others = [f"Amina{letters(j)}" for j in range(n) if j != i]
        assert not any(other in " ".join(said) for other in others), said
        asked_name = said[1]
        assert ("first name" in asked_name) if i % 2 else ("jina" in asked_name.lower()), asked_name
    with rt_redis.session() as s:
        students = {st.name: st.language for st in s.scalars(select(Student))}
        inbound = s.scalar(select(func.count()).select_from(Message).where(Message.direction == Direction.IN.value))
    assert students == {f"Amina{letters(i)}": ("en" if i % 2 else "sw") for i in range(n)}
    counts = ledger(rt_redis).show(f"{n} students at once")
    assert inbound == counts.inbound_handled == 3 * n
