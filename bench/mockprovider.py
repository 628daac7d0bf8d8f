"""A loopback stand-in for the providers' send APIs and an OpenAI-compatible LLM, for benchmarks.

Africa's Talking (`POST …/version1/messaging`), Meta WhatsApp Cloud (`POST …/<id>/messages`),
Twilio (`POST …/Messages.json`) and `POST …/chat/completions` are answered as the real
services answer a success. Each send is recorded with its arrival time (wall clock, so the
load generator can match it to the inbound message that caused it); `GET /_records`
returns them and empties the list. Run by `bench.flow` as its own uvicorn process:

    uvicorn bench.mockprovider:app --host 127.0.0.1 --port P
"""

from __future__ import annotations

import itertools
import json
import time
from urllib.parse import parse_qs

_ids = itertools.count(1)
_records: list[dict] = []
LLM_ANSWER = "Add the numerators and keep the denominator: 1/5 + 2/5 = 3/5."


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send, status: int, payload: dict) -> None:
    raw = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]})
    await send({"type": "http.response.body", "body": raw})


def _record(provider: str, to: str, text: str, message_id: str) -> None:
    """`id` is the provider message id we answer with: the sender stores it on its outbound row,
    so a benchmark can tie this record to the inbound message the row replies to."""
    _records.append({"provider": provider, "to": to, "text": text, "t": time.time(), "id": message_id})


def _africastalking(body: bytes) -> dict:
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    recipients = []
    for to in form.get("to", "").split(","):
        message_id = f"ATXid_{next(_ids)}"
        _record("africastalking", to.strip(), form.get("message", ""), message_id)
        recipients.append({"statusCode": 101, "number": to.strip(), "status": "Success", "cost": "KES 0.8000",
                           "messageId": message_id})
    return {"SMSMessageData": {"Message": f"Sent to {len(recipients)}/{len(recipients)}", "Recipients": recipients}}


def _meta(body: bytes) -> dict:
    data = json.loads(body or b"{}")
    text = (data.get("text") or {}).get("body") or json.dumps(data.get("interactive") or {})
    to = str(data.get("to", ""))
    message_id = f"wamid.bench{next(_ids)}"
    _record("meta", "+" + to.lstrip("+"), text, message_id)
    return {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": message_id}]}


def _twilio(body: bytes) -> dict:
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    to = form.get("To", "").removeprefix("whatsapp:")
    sid = f"SM{next(_ids):032d}"
    _record("twilio", to, form.get("Body", ""), sid)
    return {"sid": sid, "status": "queued", "to": form.get("To"), "body": form.get("Body")}


def _llm(body: bytes) -> dict:
    data = json.loads(body or b"{}")
    prompt_chars = sum(len(str(m.get("content", ""))) for m in data.get("messages", []))
    prompt_tokens, completion_tokens = max(1, prompt_chars // 4), max(1, len(LLM_ANSWER) // 4)
    _records.append({"provider": "llm", "to": "", "text": "", "t": time.time(),
                     "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens})
    return {"id": f"chatcmpl-{next(_ids)}", "object": "chat.completion", "created": int(time.time()),
            "model": data.get("model", "bench"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": LLM_ANSWER}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    path, method = scope["path"], scope["method"]
    body = await _body(receive)
    if method == "GET" and path == "/_records":
        taken = list(_records)
        _records.clear()
        return await _answer(send, 200, {"records": taken})
    if method == "POST" and path.endswith("/messaging"):
        return await _answer(send, 201, _africastalking(body))
    if method == "POST" and path.endswith("/messages"):
        return await _answer(send, 200, _meta(body))
    if method == "POST" and path.endswith("/Messages.json"):
        return await _answer(send, 201, _twilio(body))
    if method == "POST" and path.endswith("/chat/completions"):
        return await _answer(send, 200, _llm(body))
    return await _answer(send, 404, {"error": f"the bench's mock provider has no route {method} {path}"})
