"""SMS cost of a finished lesson: students take a whole Teach lesson over SMS.

Each student (alternately English and Kiswahili) onboards, picks the first subject, topic
and Teach, then answers until the lesson ends. The student reads the conversation state to
answer right (a good student), and waits for each message to be handled before the next.
The lesson's SMS are the outbound rows from choosing Teach to the end: their segments
against the lower bound (characters / 153), how many went out as UCS-2, and how many
messages the student had to send (choosing Teach included).

`--pack` picks the sample pack: students get a number of the pack's country and alternate
over the pack's languages (Kenya en/sw; the Ugandan and Zambian packs are English only).
`--verbose` prints each reply's SMS parts and their lengths: where a lesson's segments go.

`bench.flow` (phase 4) runs `run_lessons` over Africa's Talking against a real stack;
`python -m bench.lessons` runs the same lessons in-process through the console channel
rendered as SMS (SQLite, no Redis), for a quick before/after of the lesson design.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bench import scenario
from channels.sms import count_segments, encoding_of
from rag.schema import TEACH_STEPS

ONBOARD = {"en": ["Hi", "1", "Amina", "SKIP", "1"], "sw": ["Habari", "2", "Baraka", "SKIP", "1"]}
PHONE_PREFIX = {"KE": "+2547556", "UG": "+2567756", "ZM": "+2609756"}  # + 3 digits of student, 2 of topic
TO_TEACH = ["1", "1", "1"]  # subject, topic, Teach
MAX_MESSAGES = 60
KEYS = ("inbound", "sms", "segments", "chars", "lower_bound", "per_message_bound", "ucs2")


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


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _state(db, phone: str) -> dict | None:
    with db.connect() as c:
        row = c.execute(text("SELECT cs.state, cs.data FROM conversation_states cs JOIN contacts ct "
                             "ON ct.active_student_id = cs.student_id WHERE ct.phone = :p"), {"p": phone}).first()
    return {"state": row[0], "data": _json(row[1])} if row else None


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
        content = _json(c.execute(text("SELECT content FROM curriculum_packs WHERE pack = :p"),
                                  {"p": slot["pack"]}).scalar())
    topic = next(t for t in content["topics"] if t["id"] == slot["topic"])
    questions = topic["teach"]["practice" if step == "practice" else "quiz"]
    return str(questions[int(d.get("q", 0))]["answer"])


def _completed(db, phone: str) -> bool:
    with db.connect() as c:
        return bool(c.execute(text("SELECT count(*) FROM lesson_progress lp JOIN contacts ct ON "
                                   "ct.active_student_id = lp.student_id WHERE ct.phone = :p "
                                   "AND lp.completed_at IS NOT NULL"), {"p": phone}).scalar())


def tally(lang: str, texts: list[str], inbound: int, completed: bool) -> dict:
    """One lesson's figures from its outbound SMS texts."""
    chars = sum(len(t) for t in texts)
    return {"lang": lang, "completed": completed, "inbound": inbound, "sms": len(texts),
            "segments": sum(count_segments(t) for t in texts), "chars": chars,
            "lower_bound": math.ceil(chars / 153),
            "per_message_bound": sum(1 if len(t) <= 160 else math.ceil(len(t) / 153) for t in texts),
            "ucs2": sum(1 for t in texts if encoding_of(t) != "gsm7")}


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
    return tally(lang, texts, sent, _completed(db, phone))


def summarise(lessons: list[dict], students: int) -> dict:
    done = [x for x in lessons if x["completed"]]
    total = {k: sum(x[k] for x in done) for k in KEYS}
    n = max(1, len(done))
    return {"students": students, "completed": len(done), "lessons": lessons,
            "replies_per_lesson": round(total["inbound"] / n, 2),
            "segments_per_lesson": round(total["segments"] / n, 2),
            "lower_bound_per_lesson": round(total["chars"] / 153 / n, 2),
            "per_message_bound_per_lesson": round(total["per_message_bound"] / n, 2),
            "sms_per_lesson": round(total["sms"] / n, 2),
            "ucs2_share": round(total["ucs2"] / total["sms"], 4) if total["sms"] else None,
            "chars_per_lesson": round(total["chars"] / n, 1)}


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
    return summarise(lessons, students)


# -- in-process -------------------------------------------------------------------------------
def onboarding(country: str, lang: str) -> list[str]:
    """What a student of `country` sends to sign up in `lang` (its number among the languages offered)."""
    from conversation.text import offered_languages

    if country == "KE" and lang in ONBOARD:
        return ONBOARD[lang]
    return ["Hi", str(offered_languages(country).index(lang) + 1), "Amina", "SKIP", "1"]


def _local_lesson(rt, phone: str, lang: str, topic: int, country: str = "KE") -> tuple[dict, list[str]]:
    from core import clock
    from core.messages import Inbound
    from gateway.pipeline import handle_console

    def send(body: str) -> list[str]:
        inbound = Inbound(channel="sms", provider="console", provider_message_id=f"bench-{uuid.uuid4().hex}",
                          sender=phone, recipient="console", text=body, received_at=clock.now())
        return handle_console(rt, inbound)

    for body in onboarding(country, lang) + ["1", str(topic)]:
        send(body)
    cost = {"sql": 0, "cpu_ms": 0.0}

    def counted(body: str) -> list[str]:
        with _statements(rt.engine) as n:
            started = time.process_time()
            replies = send(body)
            cost["cpu_ms"] += (time.process_time() - started) * 1000
        cost["sql"] += n[0]
        return replies

    transcript = [f"> {TO_TEACH[-1]}", *counted(TO_TEACH[-1])]
    texts, sent = list(transcript[1:]), 1
    while sent < MAX_MESSAGES:
        st = _state(rt.engine, phone)
        if st is None or st["state"] != "lesson":
            break
        body = _answer(rt.engine, st)
        replies = counted(body)
        texts += replies
        transcript += [f"> {body}", *replies]
        sent += 1
    result = tally(lang, texts, sent, _completed(rt.engine, phone))
    return {**result, "sql": cost["sql"], "cpu_ms": round(cost["cpu_ms"], 1)}, transcript


@contextmanager
def _statements(engine):
    """How many SQL statements the block ran on `engine` (a one-item list, filled as it runs)."""
    from sqlalchemy import event

    count = [0]

    def tick(*_args) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", tick)
    try:
        yield count
    finally:
        event.remove(engine, "before_cursor_execute", tick)


def run_local(students: int, topics: list[int], pack_path: Path, max_segments: int | None = None) -> dict:
    """Lessons in-process over the console channel rendered as SMS (SQLite, inline jobs)."""
    import yaml

    from conversation.text import offered_languages
    from core.migrate import upgrade
    from core.runtime import build_runtime, set_runtime
    from core.settings import Settings
    from rag.schema import Pack
    from rag.store import save_pack

    meta = yaml.safe_load(pack_path.read_text(encoding="utf-8"))
    country = meta.get("country", "KE")
    langs = [x for x in meta.get("languages") or ["en"] if x in offered_languages(country)] or ["en"]
    tmp = Path(tempfile.mkdtemp(prefix="somo-lessons-"))
    url = f"sqlite:///{tmp / 'lessons.db'}"
    upgrade(url)
    extra = {"sms_max_segments": max_segments} if max_segments else {}
    rt = build_runtime(Settings(_env_file=None, database_url=url, redis_url="", somo_data_dir=str(tmp),
                                rate_limit_per_minute=0, **extra))
    previous = set_runtime(rt)
    lessons, transcripts = [], []
    try:
        with rt.session() as s:
            save_pack(s, Pack.model_validate(meta))
        for n in range(students):
            for topic in topics:
                lang = langs[n % len(langs)]
                phone = f"{PHONE_PREFIX.get(country, PHONE_PREFIX['KE'])}{n:03d}{topic:02d}"
                result, transcript = _local_lesson(rt, phone, lang, topic, country)
                lessons.append({**result, "topic": topic})
                transcripts.append(transcript)
    finally:
        set_runtime(previous)
        rt.close()
    out = summarise(lessons, students * len(topics))
    n = max(1, len(lessons))
    out["sql_per_lesson"] = round(sum(x["sql"] for x in lessons) / n, 1)
    out["cpu_ms_per_lesson"] = round(sum(x["cpu_ms"] for x in lessons) / n, 1)
    out["transcripts"] = transcripts
    return out


def replies_in_parts(lesson: dict, transcript: list[str]) -> str:
    """One line per lesson: each message the student sent, then the lengths of the SMS parts of
    its reply; a reply's last part shows how much of a segment it left unused."""
    replies: list[tuple[str, list[int]]] = []
    for line in transcript:
        if line.startswith("> "):
            replies.append((line[2:], []))
        else:
            replies[-1][1].append(len(line))
    shown = "  ".join(f"{body!r}: {'+'.join(map(str, parts))}" for body, parts in replies)
    return (f"topic {lesson['topic']} {lesson['lang']}: {lesson['sms']} SMS, {lesson['chars']} chars "
            f"(/153 = {lesson['chars'] / 153:.2f}): {shown}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lessons", description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2, help="students per topic, alternating over the pack's languages")
    parser.add_argument("--topics", default="1", help="topic numbers of the pack's menu, e.g. 1,2,3,4")
    parser.add_argument("--pack", default=str(Path(__file__).resolve().parents[1] / "rag/samples/ke-cbc-g6-math.yaml"))
    parser.add_argument("--max-segments", type=int, default=None, help="SMS parts per reply (default: Settings)")
    parser.add_argument("--show", action="store_true", help="print every lesson's transcript")
    parser.add_argument("--verbose", action="store_true", help="print each reply's SMS parts and their lengths")
    args = parser.parse_args(argv)
    res = run_local(args.students, [int(t) for t in args.topics.split(",")], Path(args.pack), args.max_segments)
    if args.show:
        for transcript in res["transcripts"]:
            print("\n".join(transcript), end="\n\n")
    if args.verbose:
        for lesson, transcript in zip(res["lessons"], res["transcripts"], strict=True):
            print(replies_in_parts(lesson, transcript))
        print()
    print("| lesson | lang | replies sent | SMS | segments | chars/153 | per-message bound | UCS-2 | SQL | CPU ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for x in res["lessons"]:
        print(f"| topic {x['topic']} | {x['lang']} | {x['inbound']} | {x['sms']} | {x['segments']} | "
              f"{x['chars'] / 153:.2f} | {x['per_message_bound']} | {x['ucs2']} | {x['sql']} | {x['cpu_ms']} |")
    bound = res["lower_bound_per_lesson"]
    print(f"\nper lesson ({res['completed']}/{res['students']} finished): replies {res['replies_per_lesson']}, "
          f"SMS {res['sms_per_lesson']}, segments {res['segments_per_lesson']}, chars/153 {bound} "
          f"(segments {100 * (res['segments_per_lesson'] / bound - 1) if bound else 0:+.1f}% of it), "
          f"per-message bound {res['per_message_bound_per_lesson']}, UCS-2 share {res['ucs2_share']}; "
          f"in-process from choosing Teach to the end: {res['sql_per_lesson']} SQL statements, "
          f"{res['cpu_ms_per_lesson']} CPU ms (SQLite, inline)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
