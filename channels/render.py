"""Rendering a Reply for a channel: the one entry point the gateway, the console and the
benchmarks call, so the console shows exactly what a phone would."""

from __future__ import annotations

from channels.base import Rendered
from channels.sms import Meter, SmsSplit, encoding_of, fold_gsm, is_gsm, segment_info, split_sms
from channels.ussd import render_ussd
from channels.whatsapp import META_TEXT_LIMIT, TWILIO_TEXT_LIMIT, more_hint, render_whatsapp
from core.messages import Reply

DEFAULT_MAX_SEGMENTS = 3

# Reply.meta key for SMS "room already paid for": optional lines, most useful first, that go
# into the reply only when they fit in the parts it already takes (never an extra part). Each
# entry is a line (placed at the end of Reply.text, before the options) or [line, anchor, side]:
# placed "after" or "before" the first occurrence of `anchor` in Reply.text.
FILL = "sms_fill"


def render_sms(reply: Reply, *, max_segments: int = DEFAULT_MAX_SEGMENTS, lang: str = "en") -> Rendered:
    """GSM-7-folded text split into single-segment parts; beyond `max_segments`, MORE."""
    hint = fold_gsm(more_hint(lang))
    cap = max(1, max_segments)
    split = _split(fold_gsm(reply.full_text()), cap, hint)
    if split.rest is None and reply.meta.get(FILL):
        split = _fill(reply, split, cap, hint)
    encodings = set(split.encodings)
    encoding = "ucs2" if "ucs2" in encodings else "gsm7"
    segments = sum(segment_info(p)[0] for p in split.parts)
    return Rendered(messages=split.parts, rest=split.rest, segments=segments, encoding=encoding)


def _split(text: str, cap: int, hint: str) -> SmsSplit:
    """The fewest parts (`split_sms`); then, when nothing waits for MORE, the same number of
    parts broken between lines where it can be: each part is a separate SMS, which may
    arrive out of order, so a short line (a step's title, an option) is not cut in two."""
    split = split_sms(text, max_parts=cap, more_hint=hint)
    if split.rest is None and len(split.parts) > 1:
        parts = _by_lines(text.strip())
        if parts is not None and len(parts) <= len(split.parts):
            return SmsSplit(parts=parts, encodings=[encoding_of(p) for p in parts])
    return split


def _by_lines(text: str) -> list[str] | None:
    """Parts that start a line that fits in one part on a new part rather than cut it; a
    longer line (a paragraph) fills the part it starts in, word by word. None if a single
    word does not fit in a part (the plain split handles that)."""
    parts: list[str] = []
    cur, meter = "", Meter()
    for line in text.split("\n"):
        sep = "\n" if cur else ""
        grown = meter.plus(sep + line)
        if grown.fits():
            cur, meter = cur + sep + line, grown
            continue
        if Meter(line.strip()).fits():
            parts.append(cur)
            cur = line.strip()
            meter = Meter(cur)
            continue
        for n, word in enumerate(line.split()):
            sep = ("\n" if n == 0 else " ") if cur else ""
            grown = meter.plus(sep + word)
            if grown.fits():
                cur, meter = cur + sep + word, grown
            elif Meter(word).fits():
                parts.append(cur)
                cur, meter = word, Meter(word)
            else:
                return None
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()] or None


def _fill(reply: Reply, split: SmsSplit, cap: int, hint: str) -> SmsSplit:
    """Add each optional line (in priority order) that keeps the reply to the parts it already
    costs, all GSM-7 and nothing left for MORE. Lines are whole: the split never cuts a word.
    A line whose anchor is not in the text (the text was rebuilt) is left out."""
    gsm = all(e == "gsm7" for e in split.encodings)
    kept: list[tuple[int, str]] = []
    best = split
    for entry in reply.meta[FILL]:
        line, anchor, side = (entry, "", "after") if isinstance(entry, str) else (list(entry) + ["", "after"])[:3]
        line = fold_gsm(str(line or "")).strip()
        at = _position(reply.text, str(anchor or ""), side)
        if not line or at is None or (gsm and not is_gsm(line)) or line in reply.text or line in (k for _, k in kept):
            continue
        text = _insert(reply.text, [*kept, (at, line)])
        full = Reply(text=text, options=reply.options, footer=reply.footer).full_text()
        candidate = _split(fold_gsm(full), cap, hint)
        if candidate.rest is None and len(candidate.parts) <= len(split.parts) and (
                not gsm or all(e == "gsm7" for e in candidate.encodings)):
            kept.append((at, line))
            best = candidate
    return best


def _position(text: str, anchor: str, side: str) -> int | None:
    if not anchor:
        return len(text.rstrip())
    i = text.find(anchor)
    if i < 0:
        return None
    return i if side == "before" else i + len(anchor)


def _insert(text: str, lines: list[tuple[int, str]]) -> str:
    """`text` with each line on its own line at its position (same position: in the given order)."""
    out, last = [], 0
    for at in sorted({at for at, _ in lines}):
        out.append(text[last:at].strip("\n"))
        out.extend(line for pos, line in lines if pos == at)
        last = at
    out.append(text[last:].strip("\n"))
    return "\n".join(p for p in out if p)


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
