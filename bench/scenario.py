"""Simulated students: what each request of a benchmark run sends, as the gateways send it.

Request i goes to student i % N as that student's step i // N, so with N = rate x think
time every student has one message in flight at most and waits `think` seconds between
messages. Scripts walk onboarding, the menu and into a Teach lesson (then keep answering);
USSD students dial again after the script ends. SMS students are on Africa's Talking;
every `WHATSAPP_EVERY`-th messaging student is on WhatsApp (Meta Cloud API, signed), and
every `EXPLORE_EVERY`-th one picks "Ask questions" instead and asks about the topic (the
answers come from the curriculum, through the LLM when one is configured).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

TOKEN = "bench-token"
APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "106540352242922"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
WHATSAPP_EVERY = 4  # one messaging student in four on WhatsApp
USSD_ANSWERS = ["1", "Amina", "skip", "1", "1", "1", "1", "1", "1", "1", "1"]
INTO_LESSON = 9  # dial + 8 answers of USSD_ANSWERS: language, name, class, consent, subject, topic, mode, step 1
# A returning student, already in a lesson: "1" to continue, then NEXT / an answer per step.
USSD_RETURNING = ["1"] * 10
CHAT_SCRIPT = ["Hi", "1", "Amina", "SKIP", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1"]
EXPLORE_EVERY = 4  # one messaging student in four asks questions (Explore) instead of a lesson
MODE_STEP = 7  # CHAT_SCRIPT[7] picks the mode: "1" Teach, "2" Explore (ask questions)
QUESTIONS = ["How do I add 1/4 and 2/4?", "What is a denominator?", "Why does the bottom number stay the same?",
             "What is 2/5 + 1/5?", "Is 2/4 the same as 1/2?", "What is a numerator?",
             "How do I add fractions with different denominators?", "What is 3/8 + 2/8?"]


def ussd_phone(student: int) -> str:
    return f"+2547111{student:05d}"


def sms_phone(student: int) -> str:
    return f"+2547222{student:05d}"


def is_whatsapp(student: int) -> bool:
    return student % WHATSAPP_EVERY == WHATSAPP_EVERY - 1


def ussd_request(run: str, students: int, first: int = 0, answers: list[str] = USSD_ANSWERS):
    """Students `first` .. `first + students - 1`: give each run its own range for new students
    (the same numbers again are returning students, past onboarding). `answers`: the session's
    script (USSD_RETURNING for students a setup run took into a lesson)."""

    def make(i: int):
        student, step = i % students, i // students
        dial, depth = divmod(step, len(answers) + 1)
        form = {"sessionId": f"ATUid_{run}_{student}_{dial}", "serviceCode": "*384*1234#",
                "phoneNumber": ussd_phone(first + student), "networkCode": "63902",
                "text": "*".join(answers[:depth])}
        return f"/webhooks/africastalking/ussd?token={TOKEN}", FORM, urlencode(form).encode()

    return make


def ussd_staggered(run: str, rate: float, seconds: float, *, think: float = 2.0, steps: int = 10, first: int = 0,
                   answers: list[str] = USSD_ANSWERS):
    """The same sessions as `ussd_request` (each new student's first `steps` screens,
    `think` s apart), but started one after another, `rate / steps` new sessions a second,
    instead of all in the same second: as dials arrive at a real service. Every screen of the
    script is then in flight at once, in equal shares, where `ussd_request` has every student
    on the same screen (all first dials, then all names, ...), its costliest screens arriving
    together. The rate reaches `rate` after a ramp of `steps * think` s; measure from then on.

    Returns (make, schedule, ramp_s) for `loadgen.open_loop(..., schedule=schedule)`."""
    per_s = rate / steps
    ramp = steps * think
    end = ramp + seconds
    # Session s + P (P sessions start per think time) would send its step k with session s's
    # step k + 1, at the same instant: each cohort of P is shifted by a further 1/rate, so the
    # requests come evenly, 1/rate apart, not in bursts of `steps`.
    cohort = max(1, round(per_s * think))

    def at(s: int, k: int) -> float:
        return s / per_s + (s // cohort) % steps / rate + k * think

    events = sorted((at(s, k), s, k) for s in range(int(per_s * end)) for k in range(steps) if at(s, k) < end)
    schedule = [t for t, _s, _k in events]
    sessions = [(s, k) for _t, s, k in events]

    def make(i: int):
        student, step = sessions[i]
        dial, depth = divmod(step, len(answers) + 1)
        form = {"sessionId": f"ATUid_{run}_{student}_{dial}", "serviceCode": "*384*1234#",
                "phoneNumber": ussd_phone(first + student), "networkCode": "63902",
                "text": "*".join(answers[:depth])}
        return f"/webhooks/africastalking/ussd?token={TOKEN}", FORM, urlencode(form).encode()

    return make, schedule, ramp


def is_explorer(student: int) -> bool:
    return student % EXPLORE_EVERY == 1


def chat_text(step: int, student: int = 0) -> str:
    """What a messaging student sends at `step`: the lesson script, or (an explorer) the same
    onboarding, "Ask questions", then a question each step, varied by student."""
    if is_explorer(student) and step >= MODE_STEP:
        return "2" if step == MODE_STEP else QUESTIONS[(student + step) % len(QUESTIONS)]
    return CHAT_SCRIPT[step] if step < len(CHAT_SCRIPT) else "1"


def sms_body(run: str, i: int, phone: str, text: str) -> bytes:
    return urlencode({"from": phone, "to": "40404", "text": text, "date": "", "id": f"ATPid_{run}_{i}",
                      "linkId": "", "networkCode": "63902"}).encode()


def whatsapp_body(run: str, i: int, phone: str, text: str) -> bytes:
    wa_id = phone.lstrip("+")
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Bench"}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": f"wamid.{run}.{i}", "timestamp": "1717400000",
                      "text": {"body": text}, "type": "text"}]}}]}]}
    return json.dumps(payload).encode()


def signed(body: bytes) -> dict[str, str]:
    sig = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sig}


def chat_request(run: str, students: int, sent: dict[int, tuple[str, str]]):
    """SMS/WhatsApp students; `sent[i]` keeps (channel, phone) so replies can be matched."""

    def make(i: int):
        student, step = i % students, i // students
        phone, text = sms_phone(student), chat_text(step, student)
        if is_whatsapp(student):
            sent[i] = ("whatsapp", phone)
            body = whatsapp_body(run, i, phone, text)
            return "/webhooks/whatsapp", signed(body), body
        sent[i] = ("sms", phone)
        return f"/webhooks/africastalking/sms?token={TOKEN}", FORM, sms_body(run, i, phone, text)

    return make


def sms_only_request(run: str, students: int):
    """Peak inbound: distinct SMS senders, first contact each (store + queue is the whole route)."""

    def make(i: int):
        return (f"/webhooks/africastalking/sms?token={TOKEN}", FORM,
                sms_body(run, i, f"+2547333{i % students:05d}", "Hi"))

    return make


def bare_request(path: str):
    def make(i: int):
        return path, FORM, sms_body("bare", i, f"+2547444{i % 100000:05d}", "Hi")

    return make
