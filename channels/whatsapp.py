"""WhatsApp rendering: numbered text for any provider, interactive buttons and lists for Meta.

Meta takes up to 4,096 characters of text; Twilio takes 1,600. A reply with 1-3
short options becomes reply buttons (title <= 20), up to 10 becomes a list (row
title <= 24, description <= 72) when rendered for Meta; everything else, and every
reply through Twilio, is numbered text so a typed "2" still works.
"""

from __future__ import annotations

from typing import Any

from channels.base import Rendered
from channels.ussd import cut_words
from core.i18n import translator
from core.messages import Option, Reply

META_TEXT_LIMIT = 4096
TWILIO_TEXT_LIMIT = 1600
INTERACTIVE_BODY_LIMIT = 1024
BUTTON_TITLE_LIMIT = 20
MAX_BUTTONS = 3
LIST_ROW_TITLE_LIMIT = 24
LIST_ROW_DESCRIPTION_LIMIT = 72
LIST_BUTTON_LIMIT = 20
MAX_LIST_ROWS = 10


def more_hint(lang: str) -> str:
    return translator(lang, "channels").gettext("Reply MORE for more")


def render_whatsapp(reply: Reply, *, limit: int | None = None, lang: str = "en", interactive: bool = False) -> Rendered:
    """Numbered text within `limit`; with `interactive`, also the Meta interactive payload when it fits."""
    limit = limit or META_TEXT_LIMIT
    text = reply.full_text()
    rest = None
    if len(text) > limit:
        hint = "\n" + more_hint(lang)
        head, rest = cut_words(text, limit - len(hint))
        text = head + hint
    payload = meta_interactive(reply, lang) if interactive and rest is None else None
    return Rendered(messages=[text], rest=rest or None, payloads=[payload] if payload else None)


def option_reply_id(option: Option) -> str:
    """The id a tapped button or row carries back: the option's stable id, else its key."""
    return (option.id or option.key)[:200]


def meta_interactive(reply: Reply, lang: str = "en") -> dict[str, Any] | None:
    """The `interactive` object for Meta, or None when the reply is better as text."""
    options = reply.options
    if not options or len(options) > MAX_LIST_ROWS:
        return None
    body = "\n".join(p for p in (reply.text.strip(), reply.footer.strip()) if p)
    if not body or len(body) > INTERACTIVE_BODY_LIMIT:
        return None
    if len(options) <= MAX_BUTTONS and all(len(o.label) <= BUTTON_TITLE_LIMIT for o in options):
        buttons = [{"type": "reply", "reply": {"id": option_reply_id(o), "title": o.label}} for o in options]
        return {"type": "button", "body": {"text": body}, "action": {"buttons": buttons}}
    _ = translator(lang, "channels").gettext
    rows = []
    for o in options:
        row: dict[str, Any] = {"id": option_reply_id(o), "title": _short(o.label, LIST_ROW_TITLE_LIMIT)}
        if len(o.label) > LIST_ROW_TITLE_LIMIT:
            row["description"] = _short(o.label, LIST_ROW_DESCRIPTION_LIMIT)
        rows.append(row)
    button = _short(_("Choose"), LIST_BUTTON_LIMIT)
    return {"type": "list", "body": {"text": body}, "action": {"button": button, "sections": [{"rows": rows}]}}


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"
