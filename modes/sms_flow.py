"""Fewer, fuller SMS: what a mode needs to know about the SMS parts a reply will cost.

Over SMS every reply the student has to ask for is a paid message each way, so a mode
flows steps together and sends feedback with the next question when the result still fits
in one reply (the renderer's cap on parts, `Settings.sms_max_segments`; beyond it the rest
waits for MORE, which costs a turn). Optional lines ride in the room the last part has left
(`channels.render.FILL`): they never add a part.
"""

from __future__ import annotations

from channels.render import DEFAULT_MAX_SEGMENTS, FILL, render_sms
from core.messages import Reply
from modes.base import ModeContext

SMS_CHANNELS = ("sms", "console")  # console renders exactly as SMS does
# A finished lesson's reply is followed by the main menu (added by the engine after the mode):
# room kept for it when deciding whether the end of a lesson fits in one reply.
MENU_RESERVE = 120


def flows(ctx: ModeContext) -> bool:
    """Over SMS the reading steps flow together, unless a teacher paces the lesson: then the
    class moves step by step with the teacher's NEXT, as on the other channels."""
    return ctx.channel in SMS_CHANNELS and not ctx.class_paced


def max_parts(ctx: ModeContext) -> int:
    """The parts a reply may take before MORE, as the delivery renders it (`render_for`)."""
    return max(1, ctx.runtime.settings.sms_max_segments or DEFAULT_MAX_SEGMENTS)


def parts(ctx: ModeContext, reply: Reply, *, reserve: int = 0) -> int | None:
    """SMS parts the reply costs (optional lines left out), or None when it would not fit in
    one reply; `reserve` characters are kept free for text added after the mode's."""
    footer = reply.footer
    if reserve:
        footer = "\n".join(p for p in (footer, " ".join(["x" * 9] * max(1, reserve // 10))) if p)
    plain = Reply(text=reply.text, options=reply.options, footer=footer)
    rendered = render_sms(plain, max_segments=max_parts(ctx), lang=ctx.lang)
    return None if rendered.rest else len(rendered.messages)


def fits(ctx: ModeContext, reply: Reply, *, reserve: int = 0) -> bool:
    return parts(ctx, reply, reserve=reserve) is not None


def fill(reply: Reply, lines: list[str], *, after: str = "", before: str = "") -> Reply:
    """Offer `lines` (most useful first) for the room left in the reply's last SMS part, placed
    after the text `after`, or before the text `before`, or else at the end of the text."""
    anchor, side = (before, "before") if before else (after, "after")
    reply.meta.setdefault(FILL, []).extend([line, anchor, side] for line in lines if line)
    return reply
