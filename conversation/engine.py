"""Entry point of the conversation engine (minimal foundation version; the conversation
issue replaces the body, keeping the signature)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.messages import Inbound, Option, Reply
from core.runtime import Runtime


def handle(runtime: Runtime, session: Session, inbound: Inbound, *, contact_id: int) -> Reply:
    """Answer one inbound message from a known contact. Called once per stored inbound row."""
    text = inbound.text.strip()
    if not text:
        return Reply(
            "Welcome to Somo.", options=[Option("1", "Learn"), Option("2", "Help")], footer="Reply STOP to stop."
        )
    return Reply(f"You said: {text[:100]}", footer="Reply MENU for the menu.")
