"""`somo chat`: type as a student, see each reply exactly as the channel renders it."""

from __future__ import annotations

import uuid
from typing import TextIO

from core import clock
from core.messages import Inbound
from core.phone import InvalidPhone, to_e164
from core.runtime import get_runtime
from gateway.pipeline import handle_console


def run_chat(channel: str, phone: str, stdin: TextIO, stdout: TextIO) -> int:
    rt = get_runtime()
    try:
        sender = to_e164(phone, rt.settings.default_country)
    except InvalidPhone as exc:
        from gateway.cli import CliError

        raise CliError(f"--phone: {exc}") from exc
    session_id = f"chat-{uuid.uuid4().hex[:12]}" if channel == "ussd" else None
    stdout.write(f"Talking to Somo over {channel} as {sender}. Ctrl-D to leave.\n")
    first = channel == "ussd"
    while True:
        if first:
            text = ""  # a USSD session opens with an empty dial
            first = False
        else:
            stdout.write("> ")
            stdout.flush()
            line = stdin.readline()
            if not line:
                break
            text = line.rstrip("\n")
        inbound = Inbound(
            channel=channel, provider="console", provider_message_id=f"chat-{uuid.uuid4().hex}", sender=sender,
            recipient="console", text=text, received_at=clock.now(), ussd_session_id=session_id,
        )
        for reply in handle_console(rt, inbound):
            stdout.write(_frame(channel, reply) + "\n")
            if channel == "ussd" and reply.startswith("END"):
                session_id = f"chat-{uuid.uuid4().hex[:12]}"
                first = True
        stdout.flush()
    return 0


def _frame(channel: str, text: str) -> str:
    width = 32 if channel == "ussd" else 40
    bar = "-" * width
    return f"{bar}\n{text}\n{bar}"
