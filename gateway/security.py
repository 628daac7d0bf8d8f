"""Webhook authenticity: Twilio and Meta signatures, Africa's Talking token and IP allow-list.

A failed check is a 403 with nothing stored, and a warning in the log. A provider
whose secret is not configured is switched off: its webhooks are refused, so an
unconfigured deployment cannot be fed forged traffic.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Mapping

from twilio.request_validator import RequestValidator

from core.settings import Settings
from gateway.errors import Forbidden

log = logging.getLogger("somo.gateway.security")


def _refuse(provider: str, path: str, reason: str) -> Forbidden:
    log.warning("webhook refused", extra={"provider": provider, "path": path, "reason": reason})
    return Forbidden(f"{provider} webhook refused: {reason}")


def verify_africastalking(settings: Settings, path: str, token: str | None, client_ip: str | None) -> None:
    """AT does not sign callbacks: a secret `?token=` and, when set, a source-IP allow-list."""
    expected = settings.at_webhook_token.get_secret_value()
    if not expected:
        raise _refuse("africastalking", path, "AT_WEBHOOK_TOKEN is not set")
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise _refuse("africastalking", path, "bad or missing token")
    allowed = [p.strip() for p in settings.at_allowed_ips.split(",") if p.strip()]
    if allowed and not ip_allowed(client_ip, allowed):
        raise _refuse("africastalking", path, f"source address {client_ip} is not allowed")


def ip_allowed(client_ip: str | None, allowed: list[str]) -> bool:
    if not client_ip:
        return False
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            log.warning("bad AT_ALLOWED_IPS entry", extra={"entry": entry})
    return False


def public_url(settings: Settings, path: str, query: str = "") -> str:
    """The URL the provider called, rebuilt from PUBLIC_BASE_URL (proxies rewrite host and scheme)."""
    return settings.public_base_url + path + (f"?{query}" if query else "")


def verify_twilio(settings: Settings, path: str, query: str, params: Mapping[str, str], signature: str | None) -> None:
    token = settings.twilio_auth_token.get_secret_value()
    if not token:
        raise _refuse("twilio", path, "TWILIO_AUTH_TOKEN is not set")
    if not signature:
        raise _refuse("twilio", path, "missing X-Twilio-Signature")
    if not RequestValidator(token).validate(public_url(settings, path, query), dict(params), signature):
        raise _refuse("twilio", path, "X-Twilio-Signature does not match")


def meta_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_meta(settings: Settings, path: str, body: bytes, header: str | None) -> None:
    """`X-Hub-Signature-256` is an HMAC-SHA256 of the raw body with the app secret."""
    secret = settings.whatsapp_app_secret.get_secret_value()
    if not secret:
        raise _refuse("meta", path, "WHATSAPP_APP_SECRET is not set")
    if not header or not header.startswith("sha256="):
        raise _refuse("meta", path, "missing X-Hub-Signature-256")
    if not hmac.compare_digest(header.strip().lower(), meta_signature(secret, body)):
        raise _refuse("meta", path, "X-Hub-Signature-256 does not match")


def verify_meta_handshake(settings: Settings, mode: str | None, token: str | None) -> None:
    expected = settings.whatsapp_verify_token.get_secret_value()
    if not expected:
        raise _refuse("meta", "/webhooks/whatsapp", "WHATSAPP_VERIFY_TOKEN is not set")
    if mode != "subscribe" or not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise _refuse("meta", "/webhooks/whatsapp", "bad hub.mode or hub.verify_token")


# Every answer that is not an admin page (those carry the full set, CSP included; see
# admin.security): webhooks, /api/v1, health. Nothing here is meant to be framed, sniffed,
# cached by a proxy or to leak its URL (Africa's Talking's token rides in the query).
BASE_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]


class BaseHeaders:
    """Pure ASGI middleware (no per-request task, unlike BaseHTTPMiddleware): adds BASE_HEADERS
    a response does not already set."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                message["headers"] = headers + [p for p in BASE_HEADERS if p[0] not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)
