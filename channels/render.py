"""Rendering a Reply for a channel: the one entry point the gateway, the console and the
benchmarks call, so the console shows exactly what a phone would."""

from __future__ import annotations

from channels.base import Rendered
from channels.sms import fold_gsm, segment_info, split_sms
from channels.ussd import render_ussd
from channels.whatsapp import META_TEXT_LIMIT, TWILIO_TEXT_LIMIT, more_hint, render_whatsapp
from core.messages import Reply

DEFAULT_MAX_SEGMENTS = 3


def render_sms(reply: Reply, *, max_segments: int = DEFAULT_MAX_SEGMENTS, lang: str = "en") -> Rendered:
    """GSM-7-folded text split into single-segment parts; beyond `max_segments`, MORE."""
    text = fold_gsm(reply.full_text())
    split = split_sms(text, max_parts=max(1, max_segments), more_hint=fold_gsm(more_hint(lang)))
    encodings = set(split.encodings)
    encoding = "ucs2" if "ucs2" in encodings else "gsm7"
    segments = sum(segment_info(p)[0] for p in split.parts)
    return Rendered(messages=split.parts, rest=split.rest, segments=segments, encoding=encoding)


def render_for(
    channel: str,
    reply: Reply,
    *,
    limit: int | None = None,
    provider: str | None = None,
    lang: str | None = None,
    max_segments: int | None = None,
) -> Rendered:
    """`limit`: the USSD screen limit, or the WhatsApp text limit (default: by provider)."""
    lang = lang or reply.meta.get("lang") or "en"
    if channel == "ussd":
        return render_ussd(reply, limit=limit, lang=lang)
    if channel == "whatsapp":
        default = META_TEXT_LIMIT if provider == "meta" else TWILIO_TEXT_LIMIT
        return render_whatsapp(reply, limit=limit or default, lang=lang, interactive=provider == "meta")
    if channel in ("sms", "console"):
        return render_sms(reply, max_segments=max_segments or DEFAULT_MAX_SEGMENTS, lang=lang)
    raise ValueError(f"unknown channel {channel!r}: expected sms, ussd or whatsapp")
