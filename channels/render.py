"""Rendering a Reply for a channel: the one entry point the gateway, the console and the
benchmarks call, so the console shows exactly what a phone would."""

from __future__ import annotations

from channels.base import Rendered
from channels.sms import (
    SINGLE,
    TOKENS,
    Meter,
    SmsSplit,
    encoding_of,
    fold_gsm,
    is_gsm,
    segment_info,
    split_sms,
)
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
    text = fold_gsm(reply.full_text())
    split = split_sms(text, max_parts=cap, more_hint=hint)
    optional: frozenset[str] = frozenset()
    if split.rest is None and reply.meta.get(FILL):
        text, split, optional = _fill(reply, split, cap, hint)
    if split.rest is None and len(split.parts) > 1:
        laid = _by_lines(text.strip(), optional)
        if laid is not None and len(laid[0]) <= len(split.parts):
            split = SmsSplit(parts=laid[0], encodings=[encoding_of(p) for p in laid[0]])
    encodings = set(split.encodings)
    encoding = "ucs2" if "ucs2" in encodings else "gsm7"
    segments = sum(segment_info(p)[0] for p in split.parts)
    return Rendered(messages=split.parts, rest=split.rest, segments=segments, encoding=encoding)


def sms_parts(reply: Reply, *, max_segments: int = DEFAULT_MAX_SEGMENTS, whole_lines: bool = False) -> int | None:
    """The SMS parts `render_sms` sends for the reply, optional lines left out, or None when some
    of it would wait for MORE. Only counts (the fewest parts is the plain split's number; where
    the parts break does not change it), so a mode can weigh many candidate replies cheaply.
    `whole_lines`: the parts it takes without cutting a short line (`SHORT_LINE`)."""
    text = fold_gsm(reply.full_text())
    cap = max(1, max_segments)
    if whole_lines:
        n = _count_whole_lines(text.strip())
        return n if n is not None and n <= cap else None
    split = split_sms(text, max_parts=cap, more_hint="")
    return None if split.rest else len(split.parts)


def _count_whole_lines(text: str) -> int | None:
    """The fewest single-segment parts that cut no short line: a short line that does not fit in
    the room left starts a new part, a longer one fills the part word by word (a greedy fill is
    the fewest for a fixed set of places to break). None if a word or short line does not fit
    in a part."""
    n, meter = 1, Meter()
    for line in text.split("\n"):
        sep = "\n" if meter.septets or meter.units else ""
        grown = meter.plus(sep + line)
        if grown.fits():
            meter = grown
            continue
        if Meter(line).septets <= SHORT_LINE:
            if not Meter(line).fits():
                return None
            n, meter = n + 1, Meter(line)
            continue
        for i, word in enumerate(line.split()):
            sep = ("\n" if i == 0 else " ") if meter.septets or meter.units else ""
            grown = meter.plus(sep + word)
            if grown.fits():
                meter = grown
            elif Meter(word).fits():
                n, meter = n + 1, Meter(word)
            else:
                return None
    return n


# What a break between two parts costs the reader (each part is a separate SMS, which may
# arrive out of order): none between lines; after a sentence; between two words of a
# paragraph; more inside an optional line the fill added; most inside any other short line
# (a title, a step's header, an option), which then reads as two lines.
BREAK_LINE, BREAK_SENTENCE, BREAK_WORD, BREAK_OPTIONAL_LINE, BREAK_SHORT_LINE = 0, 1, 2, 4, 8
SHORT_LINE = 60  # septets: a line this short is a title, header, option or note, not a paragraph


def _by_lines(text: str, optional: frozenset[str] = frozenset()) -> tuple[list[str], int] | None:
    """The fewest single-segment parts, broken where they read best (`BREAK_*`, least in total):
    between lines where it costs no extra part, else after a sentence, else between the words
    of a paragraph, else inside an `optional` line (one the fill added: better sent in two
    parts than not at all); any other short line (`SHORT_LINE`) is cut only when nothing else
    keeps the count. Also how many of those short lines it cuts. None if a single word does
    not fit in a part (the plain split cuts it)."""
    tokens = TOKENS.findall(text)  # word, gap, word, ..., word
    n = (len(tokens) + 1) // 2
    septets, units, foreign = [0], [0], [0]  # prefix sums over tokens
    for tok in tokens:
        m = Meter(tok)
        septets.append(septets[-1] + m.septets)
        units.append(units[-1] + m.units)
        foreign.append(foreign[-1] + (0 if m.gsm else 1))
    cost = _break_costs(tokens, septets, optional)
    gsm_room, ucs2_room = SINGLE["gsm7"], SINGLE["ucs2"]
    count, penalty, upto = [0] * (n + 1), [0] * (n + 1), [n] * (n + 1)  # from word a on: the best layout
    for a in range(n - 1, -1, -1):
        lo = 2 * a
        s0, u0, f0 = septets[lo], units[lo], foreign[lo]
        best_n = best_c = -1
        b = a
        while b < n:  # the part a..b, as long as it fits in one segment
            hi = 2 * b + 1
            if (septets[hi] - s0 > gsm_room) if foreign[hi] == f0 else (units[hi] - u0 > ucs2_room):
                break
            k, c = count[b + 1], penalty[b + 1] + cost[b]
            if best_n < 0 or k < best_n or (k == best_n and c <= best_c):  # a tie: the fuller part
                best_n, best_c, upto[a] = k, c, b
            b += 1
        if best_n < 0:
            return None
        count[a], penalty[a] = best_n + 1, best_c
    parts, a, short = [], 0, 0
    while a < n:
        b = upto[a]
        parts.append("".join(tokens[2 * a:2 * b + 1]).strip())
        short += cost[b] == BREAK_SHORT_LINE
        a = b + 1
    return (parts, short) if parts else None


def _break_costs(tokens: list[str], septets: list[int], optional: frozenset[str]) -> list[int]:
    """`BREAK_*` of a break after each word (0 after the last)."""
    words, gaps = tokens[0::2], tokens[1::2]
    starts = [0] + [i + 1 for i, gap in enumerate(gaps) if "\n" in gap]  # first word of each line
    ends = [s - 1 for s in starts[1:]] + [len(words) - 1]
    cost, line = [], 0
    for i, gap in enumerate(gaps):
        first, last = 2 * starts[line], 2 * ends[line] + 1
        if "\n" in gap:
            cost.append(BREAK_LINE)
            line += 1
        elif septets[last] - septets[first] > SHORT_LINE:
            cost.append(BREAK_SENTENCE if words[i][-1] in ".!?" else BREAK_WORD)
        elif "".join(tokens[first:last]) in optional:
            cost.append(BREAK_OPTIONAL_LINE)
        else:
            cost.append(BREAK_SHORT_LINE)
    return [*cost, BREAK_LINE]


def _short_cuts(text: str, n_parts: int, optional: frozenset[str]) -> int:
    """How many short lines (not `optional`) the best layout of `text` in `n_parts` parts cuts."""
    if n_parts <= 1 or _count_whole_lines(text.strip()) == n_parts:
        return 0
    laid = _by_lines(text.strip(), optional)
    return laid[1] if laid is not None else n_parts


def _fill(reply: Reply, split: SmsSplit, cap: int, hint: str) -> tuple[str, SmsSplit, frozenset[str]]:
    """Add each optional line (in priority order) that keeps the reply to the parts it already
    costs, all GSM-7 and nothing left for MORE. Lines are whole: the split never cuts a word.
    A line whose anchor is not in the text (the text was rebuilt) is left out, and so is a
    line that would make the parts cut a short line of the reply's own (a title, a header, an
    option) that they did not cut without it. Returns the text with the lines kept, its plain
    split and the lines kept."""
    gsm = all(e == "gsm7" for e in split.encodings)
    kept: list[tuple[int, str]] = []
    best = (fold_gsm(reply.full_text()), split)
    short = _short_cuts(best[0], len(split.parts), frozenset())
    for entry in reply.meta[FILL]:
        line, anchor, side = (entry, "", "after") if isinstance(entry, str) else (list(entry) + ["", "after"])[:3]
        line = fold_gsm(str(line or "")).strip()
        at = _position(reply.text, str(anchor or ""), side)
        if not line or at is None or (gsm and not is_gsm(line)) or line in reply.text or line in (k for _, k in kept):
            continue
        text = _insert(reply.text, [*kept, (at, line)])
        full = fold_gsm(Reply(text=text, options=reply.options, footer=reply.footer).full_text())
        candidate = split_sms(full, max_parts=cap, more_hint=hint)
        if candidate.rest is None and len(candidate.parts) <= len(split.parts) and (
                not gsm or all(e == "gsm7" for e in candidate.encodings)) and (
                _short_cuts(full, len(candidate.parts), frozenset(k for _, k in [*kept, (at, line)])) <= short):
            kept.append((at, line))
            best = (full, candidate)
    return (*best, frozenset(k for _, k in kept))


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
