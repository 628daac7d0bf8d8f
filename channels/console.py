"""The console channel: outbound messages only land in the message log (demo, simulator, tests)."""

from __future__ import annotations

import uuid

from channels.base import Outgoing, SendResult
from channels.render import render_for
from core.messages import Reply

PROVIDER = "console"


def render(reply: Reply, channel: str, *, limit: int | None = None):
    return render_for(channel, reply, limit=limit)


def send(text: str, to: str) -> SendResult:
    return SendResult(provider_message_id=f"console-{uuid.uuid4().hex}", status="delivered")


class ConsoleAdapter:
    provider = PROVIDER

    def send(self, out: Outgoing) -> SendResult:
        return send(out.text, out.to)
