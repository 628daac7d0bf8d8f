"""SMS cost of a finished lesson: students take a whole Teach lesson over Africa's Talking SMS.

Each student (alternately English and Kiswahili) onboards, picks the first subject, topic
and Teach, then answers until the lesson ends. The student reads the conversation state to
answer right (a good student), and waits for each message to be handled before the next.
The lesson's SMS are the outbound rows from choosing Teach to the end: their segments
against the lower bound (characters / 153), and how many went out as UCS-2.
"""

from __future__ import annotations

import math
import time

import httpx
from sqlalchemy import create_engine, text

from bench import scenario
from channels.sms import count_segments, encoding_of
from rag.schema import TEACH_STEPS

ONBOARD = {"en": ["Hi", "1", "Amina", "SKIP", "1"], "sw": ["Habari", "2", "Baraka", "SKIP", "1"]}
TO_TEACH = ["1", "1", "1"]  # subject, topic, Teach
MAX_MESSAGES = 60


def _wait_handled(db, phone: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.connect() as c:
            waiting = c.execute(text("SELECT count(*) FROM messages WHERE phone = :p AND direction = 'in' "
                                     "AND status = 'received'"), {"p": phone}).scalar()
            queued = c.execute(text("SELECT count(*) FROM messages WHERE phone = :p AND direction = 'out' "
                                    "AND status IN ('queued', 'sending')"), {"p": phone}).scalar()
        if not waiting and not queued:
            return
        time.sleep(0.05)
    raise TimeoutError(f"bench.lessons: {phone}'s message was not handled and sent within {timeout:.0f} s")


def _state(db, phone: str) -> dict | None:
    with db.connect() as c:
        row = c.execute(text("SELECT cs.state, cs.data FROM conversation_states cs JOIN contacts ct "
                             "ON ct.active_student_id = cs.student_id WHERE ct.phone = :p"), {"p": phone}).first()
    return {"state": row[0], "data": row[1]} if row else None


def _answer(db, st: dict) -> str:
    """A right answer at a practice or quiz question, '1' (continue) otherwise."""
    slot = (st["data"].get("modes") or {}).get("teach") or {}
    d = slot.get("data") or {}
    if not d or d.get("answered"):
        return "1"
    step = TEACH_STEPS[min(int(d.get("step", 0)), len(TEACH_STEPS) - 1)]
    if step not in ("practice", "quiz"):
        return "1"
    with db.connect() as c:
        content = c.execute(text("SELECT content FROM curriculum_packs WHERE pack = :p"), {"p": slot["pack"]}).scalar()
    topic = next(t for t in content["topics"] if t["id"] == slot["topic"])
    questions = topic["teach"]["practice" if step == "practice" else "quiz"]
    return str(questions[int(d.get("q", 0))]["answer"])


def one_lesson(client: httpx.Client, db, port: int, phone: str, lang: str, run: str) -> dict:
    url = f"http://127.0.0.1:{port}/webhooks/africastalking/sms?token={scenario.TOKEN}"
    counter = iter(range(10**6))

    def send(body: str) -> None:
        i = next(counter)
        res = client.post(url, content=scenario.sms_body(f"{run}L{phone}", i, phone, body), headers=scenario.FORM)
        res.raise_for_status()
        _wait_handled(db, phone)

    for body in ONBOARD[lang] + TO_TEACH[:-1]:
        send(body)
    with db.connect() as c:
        start_id = c.execute(text("SELECT coalesce(max(id), 0) FROM messages")).scalar()
    send(TO_TEACH[-1])
    sent = 1
    while sent < MAX_MESSAGES:
        st = _state(db, phone)
        if st is None or st["state"] != "lesson":
            break
        send(_answer(db, st))
        sent += 1
    with db.connect() as c:
        texts = [r[0] for r in c.execute(text("SELECT text FROM messages WHERE phone = :p AND direction = 'out' "
                                              "AND channel = 'sms' AND id > :s ORDER BY id"),
                                         {"p": phone, "s": start_id})]
        done = c.execute(text("SELECT count(*) FROM lesson_progress lp JOIN contacts ct ON "
                              "ct.active_student_id = lp.student_id WHERE ct.phone = :p AND lp.completed_at IS NOT NULL"),
                         {"p": phone}).scalar()
    chars = sum(len(t) for t in texts)
    return {"lang": lang, "completed": bool(done), "inbound": sent, "sms": len(texts),
            "segments": sum(count_segments(t) for t in texts), "chars": chars,
            "lower_bound": math.ceil(chars / 153),
            "per_message_bound": sum(1 if len(t) <= 160 else math.ceil(len(t) / 153) for t in texts),
            "ucs2": sum(1 for t in texts if encoding_of(t) != "gsm7")}


def run_lessons(port: int, db_url: str, students: int, run: str) -> dict:
    db = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    lessons = []
    try:
        with httpx.Client(timeout=30) as client:
            for n in range(students):
                lang = ("en", "sw")[n % 2]
                lessons.append(one_lesson(client, db, port, f"+2547555{n:05d}", lang, run))
    finally:
        db.dispose()
    done = [x for x in lessons if x["completed"]]
    total = {k: sum(x[k] for x in done) for k in ("sms", "segments", "chars", "lower_bound", "per_message_bound",
                                                   "ucs2")}
    n = max(1, len(done))
    return {"students": students, "completed": len(done), "lessons": lessons,
            "segments_per_lesson": round(total["segments"] / n, 2),
            "lower_bound_per_lesson": round(total["chars"] / 153 / n, 2),
            "per_message_bound_per_lesson": round(total["per_message_bound"] / n, 2),
            "sms_per_lesson": round(total["sms"] / n, 2),
            "ucs2_share": round(total["ucs2"] / total["sms"], 4) if total["sms"] else None,
            "chars_per_lesson": round(total["chars"] / n, 1)}
