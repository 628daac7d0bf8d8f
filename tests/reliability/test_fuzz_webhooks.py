"""Hypothesis over every inbound parser, through the HTTP routes where there is one: Africa's
Talking forms (USSD, SMS, delivery, opt-out, session end), Twilio signed forms, Meta signed JSON,
the console, raw bytes, USSD `text` histories and enrolment CSV. Whatever arrives, the answer
is a 2xx or a 4xx with a reason, never a 500, and a refused body stores nothing.

Examples per test: the hypothesis profile (150 in `make test`, SOMO_FUZZ_EXAMPLES in `make fuzz`).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from channels import africastalking as at
from channels.base import InvalidPayload
from core.enrolment import CsvFormatError, import_rows, parse_csv
from core.models import Message
from gateway.app import create_app
from gateway.security import meta_signature
from tests.gateway.conftest import fixture
from tests.reliability.conftest import AT_TOKEN, FORM, ussd_form

AT_FIELDS = ["sessionId", "serviceCode", "phoneNumber", "networkCode", "text", "from", "to", "date", "id", "linkId",
             "status", "failureReason", "retryCount", "senderId", "input", "durationInMillis", "errorMessage"]
TWILIO_FIELDS = ["From", "To", "Body", "MessageSid", "SmsSid", "NumMedia", "MessageStatus", "ErrorCode",
                 "ButtonPayload", "ButtonText", "ProfileName", "WaId"]
NASTY = st.sampled_from(["", "\x00", "\ud800", "*", "**", "1*", "*1", "+254711000111", "0711000111", "+999", "💥",
                         "'; DROP TABLE messages; --", "<script>alert(1)</script>", "9" * 40, "CON ", "END ",
                         "2017-05-03T06:04:45Z", "not-a-date", "Success", "Failed", "\u202e", " " * 300])
VALUE = st.one_of(NASTY, st.text(max_size=300))


def form_of(fields: list[str]):
    base = st.fixed_dictionaries({}, optional={k: VALUE for k in fields})
    extra = st.dictionaries(st.text(max_size=20), VALUE, max_size=3)
    return st.tuples(base, extra).map(lambda pair: {**pair[1], **pair[0]})


def encode(form: dict[str, str]) -> bytes:
    return urlencode(form, encoding="utf-8", errors="surrogatepass").encode()


@pytest.fixture
def client(gw_rt, at_api):
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="twilio.test").mock(return_value=httpx.Response(201, json=fixture("twilio:create_answer")))
        mock.route(host="graph.test").mock(return_value=httpx.Response(200, json=fixture("meta:send_answer")))
        with TestClient(create_app(gw_rt), raise_server_exceptions=RAISE, client=("196.201.214.200", 1)) as c:
            yield c


def inbound_count(rt) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(Message))


def check(res, rt=None, before: int | None = None) -> None:
    assert res.status_code < 500, (res.status_code, res.text[:300])
    if 400 <= res.status_code < 500:
        body = res.json()
        assert body.get("error") or body.get("detail"), body  # says what was wrong
        if rt is not None and before is not None:
            assert inbound_count(rt) == before  # a refused body stores nothing


@pytest.mark.parametrize("route", ["ussd", "sms", "delivery", "optout", "ussd/events"])
def test_fuzz_africastalking_forms(client, gw_rt, route):
    @given(form=form_of(AT_FIELDS))
    def run(form):
        before = inbound_count(gw_rt)
        res = client.post(f"/webhooks/africastalking/{route}" + AT_TOKEN, content=encode(form), headers=FORM)
        check(res, gw_rt, before)
        if route == "ussd" and res.status_code == 200:
            assert res.text.startswith(("CON ", "END "))

    run()


@pytest.mark.parametrize("route", ["messages", "status"])
def test_fuzz_twilio_signed_forms(client, gw_rt, route):
    @given(form=form_of(TWILIO_FIELDS))
    def run(form):
        form = {k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in form.items()
                if "\ud800" not in k}
        path = f"/webhooks/twilio/{route}"
        signature = RequestValidator("twilio-auth-token").compute_signature("https://somo.example.org" + path, form)
        before = inbound_count(gw_rt)
        check(client.post(path, content=encode(form), headers=FORM | {"X-Twilio-Signature": signature}), gw_rt, before)

    run()


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | VALUE,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=12)


def mutate(payload, path: list, value):
    """Replace the node at `path` (indices taken modulo the container size) with `value`."""
    if not path or not isinstance(payload, (dict, list)) or not payload:
        return value
    keys = list(payload) if isinstance(payload, dict) else list(range(len(payload)))
    key = keys[path[0] % len(keys)]
    payload[key] = mutate(payload[key], path[1:], value)
    return payload


@given(path=st.lists(st.integers(0, 20), max_size=8), value=JSON,
       kind=st.sampled_from(["text", "button_reply", "list_reply", "statuses"]))
def test_fuzz_meta_signed_json(client, gw_rt, path, value, kind):
    body = json.dumps(mutate(fixture(f"meta:{kind}"), path, value)).encode()  # \uXXXX escapes, lone surrogates too
    before = inbound_count(gw_rt)
    res = client.post("/webhooks/whatsapp", content=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": meta_signature("meta-app-secret", body)})
    check(res, gw_rt, before)


@given(body=st.one_of(st.binary(max_size=400), JSON.map(lambda v: json.dumps(v).encode())),
       route=st.sampled_from(["/webhooks/console", "/webhooks/whatsapp", "/webhooks/twilio/messages",
                              "/webhooks/africastalking/sms" + AT_TOKEN, "/webhooks/africastalking/ussd" + AT_TOKEN]))
def test_fuzz_raw_bytes_on_every_route(client, gw_rt, body, route):
    before = inbound_count(gw_rt)
    res = client.post(route, content=body, headers={"Content-Type": "application/json"})
    check(res, gw_rt, before)


@given(payload=st.fixed_dictionaries({"phone": st.one_of(NASTY, st.just("+254711000888")),
                                      "text": VALUE, "channel": st.sampled_from(["sms", "ussd", "whatsapp", "fax"])},
                                     optional={"session_id": VALUE, "message_id": VALUE}))
def test_fuzz_console(client, payload):
    body = json.dumps(payload).encode()  # a lone surrogate travels as its \\ud800 escape
    check(client.post("/webhooks/console", content=body, headers={"Content-Type": "application/json"}))


@given(steps=st.lists(st.one_of(st.sampled_from(["1", "2", "98", "0", "00", "", "SKIP", "Amina"]), st.text(max_size=40)),
                      max_size=8))
def test_fuzz_ussd_text_histories(steps):
    """The parser takes any `*` history: the engine gets the newest input, and distinct
    histories are distinct steps (a long session is not cut into false duplicates)."""
    full = "*".join(steps)
    inbound = at.parse_ussd(dict(fixture("africastalking:ussd_dial"), text=full))
    assert inbound.text == (full.rsplit("*", 1)[-1] if full else "")
    assert len(inbound.provider_message_id) <= 160
    longer = at.parse_ussd(dict(fixture("africastalking:ussd_dial"), text=full + "*1"))
    assert longer.provider_message_id != inbound.provider_message_id


def test_a_long_ussd_session_keeps_answering_new_steps(client, gw_rt):
    """Past 160 characters of history, each new step is still a new step (not the last screen again)."""
    history = "*".join(["1"] + ["Amina"] * 40)
    screens = []
    for extra in ("1", "2"):
        res = client.post("/webhooks/africastalking/ussd" + AT_TOKEN, content=ussd_form(
            "+254711000888", "ATUid_long", f"{history}*{extra}"), headers=FORM)
        assert res.status_code == 200
        screens.append(res.text)
    with gw_rt.session() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) == 2


RAISE = False  # True to see a server traceback while debugging
CSV_HEADER = "school,class,grade,name,phone,role,language,channel"


@given(rows=st.lists(st.lists(st.one_of(VALUE, st.sampled_from(["Kibera Primary", "P5 Blue", "6", "Amina",
                                                                "0711000111", "student", "teacher", "sw", "ussd"])),
                              min_size=0, max_size=10), max_size=6),
       header=st.one_of(st.just(CSV_HEADER), VALUE))
def test_fuzz_enrolment_csv(gw_rt, rows, header):
    text = "\n".join([header, *(",".join(f'"{c}"' if "," in c else c for c in row) for row in rows)])
    try:
        result = parse_csv(text)
    except CsvFormatError as exc:
        assert str(exc).startswith("line 1: header")
        return
    assert all(err.line >= 2 and err.field for err in result.errors)  # each bad row said by line and field
    try:
        with gw_rt.session() as session:
            import_rows(session, result)
    except InvalidPayload:  # pragma: no cover - never expected from CSV
        raise
