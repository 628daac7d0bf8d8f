"""USSD screens: `CON `/`END ` prefix, numbered options, and pagination within the operator's limit.

Every screen, prefix included, must fit the limit of the student's network (a setting
per network code), or the operator cuts it. What does not fit goes to `Rendered.rest`
and the screen offers `98 More`; the conversation engine shows the rest when the
student sends 98. `0 Back` and `00 Menu` are offered on continued pages.
"""

from __future__ import annotations

import re

from channels.base import Rendered
from channels.sms import fold_gsm
from core.i18n import translator
from core.messages import Reply

DEFAULT_LIMIT = 160
MIN_LIMIT = 40  # below this no useful screen fits; a smaller setting is a configuration error

MORE_KEY, BACK_KEY, MENU_KEY = "98", "0", "00"


def nav_labels(lang: str) -> dict[str, str]:
    _ = translator(lang, "channels").gettext
    return {MORE_KEY: f"{MORE_KEY} {_('More')}", BACK_KEY: f"{BACK_KEY} {_('Back')}", MENU_KEY: f"{MENU_KEY} {_('Menu')}"}


def body_of(reply: Reply) -> str:
    """The reply as USSD shows it: text, numbered options, footer; folded into GSM-7."""
    return fold_gsm(reply.full_text())


def render_ussd(reply: Reply, *, limit: int | None = None, lang: str = "en") -> Rendered:
    limit = limit or DEFAULT_LIMIT
    if limit < MIN_LIMIT:
        raise ValueError(f"USSD screen limit {limit} is below the minimum of {MIN_LIMIT} characters")
    labels = nav_labels(lang)
    page = int(reply.meta.get("ussd_page", 0) or 0)
    body = body_of(reply)
    prefix = "END " if reply.end_session else "CON "
    nav = [labels[BACK_KEY], labels[MENU_KEY]] if page > 0 else []
    screen = _compose(prefix, body, nav)
    if len(screen) <= limit:
        return Rendered(messages=[screen])
    # Too long: a continuing screen with 98 More; a final answer keeps the session open until read.
    nav = [labels[MORE_KEY], *nav] if page > 0 else [labels[MORE_KEY], labels[MENU_KEY]]
    room = limit - len(_compose("CON ", "", nav)) - 1  # the newline before the navigation line
    head, rest = cut_words(body, room)
    return Rendered(messages=[_compose("CON ", head, nav)], rest=rest or None)


def _compose(prefix: str, body: str, nav: list[str]) -> str:
    lines = [body] if body else []
    if nav:
        lines.append("  ".join(nav))
    return prefix + "\n".join(lines)


_WORDS = re.compile(r"\S+|\s+")


def cut_words(text: str, room: int) -> tuple[str, str]:
    """The longest head of `text` within `room` characters ending at a word boundary, and the rest.

    A single word longer than the room is cut inside; no character is lost.
    """
    if len(text) <= room:
        return text, ""
    head = ""
    pos = 0
    for match in _WORDS.finditer(text):
        tok = match.group(0)
        if not tok.isspace() and len((head + tok).rstrip()) > room:
            break
        head += tok
        pos = match.end()
    head = head.rstrip()
    if not head.strip():
        return text[:room], text[room:].lstrip(" ")
    return head, text[pos:].strip()
