"""Rendering a Reply for a channel. (Minimal foundation version: the channels issue adds
GSM-7 folding, exact segment counting, USSD pagination and WhatsApp interactive messages.)"""

from __future__ import annotations

from channels.base import Rendered
from core.messages import Reply


def render_for(channel: str, reply: Reply, *, limit: int | None = None) -> Rendered:
    text = reply.full_text()
    if channel == "ussd":
        prefix = "END " if reply.end_session else "CON "
        body = text[: (limit or 160) - len(prefix)]
        return Rendered(messages=[prefix + body])
    return Rendered(messages=[text], segments=max(1, -(-len(text) // 153)), encoding="gsm7")
