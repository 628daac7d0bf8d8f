"""Reading webhook bodies at the boundary: size cap, strict UTF-8, form and JSON parsing.

Everything here runs before any row is written, so a bad body leaves nothing behind.
The body is read once, as bytes, because signatures are computed over the raw bytes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from gateway.errors import BadRequest, PayloadTooLarge


async def raw_body(request: Request) -> bytes:
    """The request body, refused with 413 past `webhook_max_body_bytes` (declared or actual)."""
    limit = request.app.state.runtime.settings.webhook_max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("Content-Length: not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"body: {declared} bytes is over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body: over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


RawBody = Annotated[bytes, Depends(raw_body)]


def decode_utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body: not UTF-8 (invalid byte at offset {exc.start})") from exc


def parse_form(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body; percent-escapes must decode to UTF-8 too."""
    text = decode_utf8(body)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=200)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body: a form value is not UTF-8 once decoded ({exc.reason})") from exc
    except ValueError as exc:
        raise BadRequest(f"body: not a form ({exc})") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise BadRequest(f"{key[:40]}: contains a NUL byte")
        form[key] = value
    return form


def parse_json(body: bytes) -> Any:
    text = decode_utf8(body)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"body: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    bad = unstorable_text(data)
    if bad is not None:
        raise BadRequest(bad)
    return data


def unstorable_text(value: Any, path: str = "body") -> str | None:
    """Where a JSON value holds text PostgreSQL cannot store: a NUL (`\\u0000`) or a lone UTF-16
    surrogate (`\\ud800`), both legal JSON escapes. None when every string is clean."""
    if isinstance(value, str):
        if "\x00" in value:
            return f"{path}: contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path}: contains a lone surrogate (not valid Unicode text)"
        return None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        where = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"
        bad = unstorable_text(key, f"{path} key") if isinstance(key, str) else None
        bad = bad or unstorable_text(item, where)
        if bad is not None:
            return bad
    return None
