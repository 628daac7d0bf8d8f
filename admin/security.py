"""Security headers for every admin and simulator page.

Student messages are attacker-controlled text: besides Jinja's autoescaping, the
Content-Security-Policy allows no inline script or style, so an escaped-but-missed
`<script>` still cannot run.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cache-control": "no-store",
}
HSTS = "max-age=31536000; includeSubDomains"
STATIC_CACHE = "public, max-age=86400"


def header_pairs(https: bool) -> list[tuple[bytes, bytes]]:
    pairs = [(k.encode(), v.encode()) for k, v in HEADERS.items()]
    if https:
        pairs.append((b"strict-transport-security", HSTS.encode()))
    return pairs


def is_https(scope: Scope, public_base_url: str) -> bool:
    """TLS is on when this request came over https (uvicorn honours X-Forwarded-Proto) or the
    deployment's public URL is https (TLS ends at a proxy we trust)."""
    return scope.get("scheme") == "https" or public_base_url.startswith("https://")


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers to every response it wraps (static files too)."""

    def __init__(self, app: ASGIApp, public_base_url: str = "") -> None:
        self.app = app
        self.public_base_url = public_base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = header_pairs(is_https(scope, self.public_base_url))
        if "/static/" in scope.get("path", ""):
            # CSS and JS are cached (a slow phone connection should not fetch them per page); pages are not.
            extra = [(k, v) for k, v in extra if k != b"cache-control"] + [(b"cache-control", STATIC_CACHE.encode())]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(p for p in extra if p[0] not in names)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
