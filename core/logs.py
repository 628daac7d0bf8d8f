"""Structured logs: JSON lines, a request id on every line, phone numbers masked, secrets scrubbed.

Re-exported by `core.observability`; import from there. The redaction runs as a filter on
our handler and rewrites the record itself, so no handler that sees the record after it
(a file, a test's caplog) can leak what it removed.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from core.phone import mask

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("somo_request_id", default=None)


def new_request_id() -> str:
    """128 random bits as 32 hex digits, like `uuid4().hex`, from the `random` module (reseeded
    in a forked child). uuid4 reads os.urandom, a system call made with the GIL let go; on the
    event loop, which makes every request's id, taking the GIL back meant waiting for a
    webhook thread (py-spy of the API workers at 250 USSD screens/s: 16 % of the loop's
    request samples were in uuid4, 3 % with the GIL held). An id names a request in the
    logs; it guards nothing."""
    return f"{random.getrandbits(128):032x}"


def current_request_id() -> str | None:
    return REQUEST_ID.get()


@contextmanager
def request_id_scope(request_id: str | None) -> Iterator[str | None]:
    """Run a block (a request, a job) under `request_id`, restoring the previous one after."""
    token = REQUEST_ID.set(request_id)
    try:
        yield request_id
    finally:
        REQUEST_ID.reset(token)


# E.164-looking numbers (+254712345612, 254712345612, whatsapp:+2547…) and local mobile
# numbers (0712345612); not digits inside longer words or ids.
_PHONE = re.compile(r"(?<![\w.])(?:\+?[1-9]\d{8,14}|0\d{9})(?![\w])")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}")
_TOKEN_PARAM = re.compile(r"(?i)\b(token|api_key|apikey|password|secret|signature)=([^&\s\"']+)")
SCRUBBED = "[secret]"

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "request_id"}


def mask_phones(text: str) -> str:
    return _PHONE.sub(lambda m: mask(m.group(0)), text)


class SecretScrubber:
    """Replaces every configured secret value (the Settings' SecretStr fields) and bearer tokens."""

    def __init__(self, settings: Any | None = None, extra_secrets: tuple[str, ...] = ()) -> None:
        values = set(extra_secrets)
        if settings is not None:
            for name in type(settings).model_fields:
                value = getattr(settings, name, None)
                if isinstance(value, SecretStr):
                    values.add(value.get_secret_value())
        # Longest first, so a secret that contains another is removed whole.
        self.secrets = sorted((v for v in values if v and len(v) >= 4), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, SCRUBBED)
        text = _BEARER.sub(lambda m: f"{m.group(1)} {SCRUBBED}", text)
        return _TOKEN_PARAM.sub(lambda m: f"{m.group(1)}={SCRUBBED}", text)


class RedactFilter(logging.Filter):
    """Masks phone numbers and scrubs secrets in the message, extra fields and traceback."""

    def __init__(self, scrubber: SecretScrubber) -> None:
        super().__init__()
        self.scrub = scrubber

    def clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return mask_phones(self.scrub(value))
        if isinstance(value, dict):
            return {k: self.clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.clean(v) for v in value]
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_somo_clean", False):
            return True
        record.msg, record.args = self.clean(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
            record.exc_info = None  # the cleaned text is what gets printed
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and not key.startswith("_"):
                setattr(record, key, self.clean(value))
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        record._somo_clean = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, then any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            body["exc"] = record.exc_text
        return json.dumps(body, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")


def configure_logging(settings: Any, stream=None) -> logging.Handler:
    """Install Somo's handler on the root logger (idempotent: replaces only our own handler).

    uvicorn's loggers are pointed at the root so their lines are JSON and redacted too.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_somo", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._somo = True  # type: ignore[attr-defined]
    handler.addFilter(RedactFilter(SecretScrubber(settings)))
    handler.setFormatter(JsonFormatter() if settings.log_json else TextFormatter())
    root.addHandler(handler)
    root.setLevel(getattr(logging, str(settings.log_level).upper(), logging.INFO))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "rq.worker"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    return handler
