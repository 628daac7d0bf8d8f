"""Fewer, fuller SMS: what a mode needs to know about the SMS parts a reply will cost.

Over SMS every reply the student has to ask for is a paid message each way, so a mode
flows steps together and sends feedback with the next question when the result still fits
in one reply (the renderer's cap on parts, `Settings.sms_max_segments`; beyond it the rest
waits for MORE, which costs a turn). Optional lines ride in the room the last part has left
(`channels.render.FILL`): they never add a part. Reading too long for one reply is spread
over the replies by `plan_reading`, for the fewest SMS parts in all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from channels.render import DEFAULT_MAX_SEGMENTS, FILL, sms_parts
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


def parts(ctx: ModeContext, reply: Reply, *, reserve: int = 0, whole_lines: bool = False) -> int | None:
    """SMS parts the reply costs (optional lines left out), or None when it would not fit in
    one reply; `reserve` characters are kept free for text added after the mode's;
    `whole_lines`: without cutting a title, a header or an option line across two parts."""
    footer = reply.footer
    if reserve:
        footer = "\n".join(p for p in (footer, " ".join(["x" * 9] * max(1, reserve // 10))) if p)
    return sms_parts(Reply(text=reply.text, options=reply.options, footer=footer), max_segments=max_parts(ctx),
                     whole_lines=whole_lines)


def fits(ctx: ModeContext, reply: Reply, *, reserve: int = 0) -> bool:
    return parts(ctx, reply, reserve=reserve) is not None


def fill(reply: Reply, lines: list[str], *, after: str = "", before: str = "") -> Reply:
    """Offer `lines` (most useful first) for the room left in the reply's last SMS part, placed
    after the text `after`, or before the text `before`, or else at the end of the text."""
    anchor, side = (before, "before") if before else (after, "after")
    reply.meta.setdefault(FILL, []).extend([line, anchor, side] for line in lines if line)
    return reply


# -- reading that does not fit in one reply -----------------------------------------------------
# How a reply may stop inside the reading, best read first: between steps, between lines, after
# a sentence, between two words (then the reply ends with CONTINUED).
STEP, LINE, SENTENCE, WORD = range(4)
SHORT_LINE_CUT = 5  # a reply whose parts must cut a title, header or option line in two
CONTINUED = "..."


@dataclass(frozen=True)
class Cut:
    """Where a reply stops: after `offset` characters of reading text `step` (its whole length
    is a step boundary); the next reply starts there."""

    step: int
    offset: int
    kind: int = STEP


@dataclass(frozen=True)
class _Cost:
    parts: int
    replies: int
    penalty: int
    first: Cut | None

    def key(self) -> tuple[int, int, int]:
        return self.parts, self.replies, self.penalty


def plan_reading(ctx: ModeContext, texts: list[str], heads: list[int], *, start: int = 0,
                 last: Callable[[str], Reply], more: Callable[[str], Reply]) -> Cut | None:
    """How to send the reading `texts` (one per step, each a header of `heads[i]` characters and
    its body) followed by the reply `last(prefix)`: None when all of it fits in one reply, else
    where the first reply (`more(prefix)`, which asks for NEXT) stops.

    The plan is the one with the fewest SMS parts over all the replies it takes, then the fewest
    replies (each one a message the student pays for), then the best-read stops: a reply that
    stops at a step boundary leaves a part half empty when the next step does not fit whole, so
    it may stop inside a step instead, after a line, a sentence or, failing those, a word; never
    right after a step's header. `start`: characters of `texts[0]` already sent."""
    if not texts:
        return None
    memo: dict[tuple[int, int], _Cost] = {}

    def chunk(j: int, off: int, k: int, end: int) -> str:
        return between(texts, j, off, k, end)

    def cost(j: int, off: int, depth: int = 0) -> _Cost:
        if (j, off) in memo:
            return memo[(j, off)]
        whole = _layout(ctx, last(chunk(j, off, len(texts) - 1, len(texts[-1]))))
        if whole is not None:
            memo[(j, off)] = _Cost(whole[0], 1, whole[1], None)
            return memo[(j, off)]
        best: _Cost | None = None
        for cut, (n, pen) in _stops(ctx, texts, heads, j, off, chunk, more, fewer=depth == 0):
            after = (cut.step + 1, 0) if cut.offset >= len(texts[cut.step]) else (cut.step, cut.offset)
            if after[0] >= len(texts):
                alone = _layout(ctx, last("")) or (max_parts(ctx), 0)
                rest = _Cost(alone[0], 1, alone[1], None)
            else:
                rest = cost(*after, depth + 1)
            here = _Cost(n + rest.parts, 1 + rest.replies, cut.kind + pen + rest.penalty, cut)
            if best is None or here.key() <= best.key():  # a tie: the reply that stops later
                best = here
        memo[(j, off)] = best or _Cost(max_parts(ctx), 1, 0, Cut(j, len(texts[j])))
        return memo[(j, off)]

    return cost(0, start).first


def _stops(ctx: ModeContext, texts: list[str], heads: list[int], j: int, off: int, chunk, more, *,
           fewer: bool = True):
    """Where a reply starting at (j, off) can stop, with its (parts, penalty): each step boundary
    that fits, and in the first step that does not fit whole, for each kind of break the last
    place that fits in the reply; with `fewer` (the first reply), also the last that fits in each
    smaller number of parts (a later stop leaves less for the next replies, so no earlier one of
    the same kind and parts can need fewer). Later replies try only the fullest stops, which
    keeps the search small when the reading takes three replies or more."""
    for k in range(j, len(texts)):
        n = _layout(ctx, more(chunk(j, off, k, len(texts[k]))))
        if n is not None:
            yield Cut(k, len(texts[k]), STEP), n
            continue
        low = max(off if k == j else 0, heads[k])
        places = [(i, _kind(texts[k], i)) for i in range(low + 1, len(texts[k])) if texts[k][i].isspace()
                  and not texts[k][i - 1].isspace()]

        def reply_to(i: int, k: int = k) -> Reply:
            text = chunk(j, off, k, i)
            return more(text + CONTINUED if _kind(texts[k], i) == WORD else text)

        seen: set[int] = set()
        for kind in (LINE, SENTENCE, WORD):
            ok = [i for i, c in places if c <= kind]
            for most in range(1 if fewer else max_parts(ctx), max_parts(ctx) + 1):
                i = _last_fitting(ok, lambda i, most=most: (parts(ctx, reply_to(i)) or most + 1) <= most)
                if i is not None and i not in seen:
                    seen.add(i)
                    yield Cut(k, i, _kind(texts[k], i)), _layout(ctx, reply_to(i))
        return


def _layout(ctx: ModeContext, reply: Reply) -> tuple[int, int] | None:
    """(parts, how badly they must break) for a reply that fits, else None."""
    n = parts(ctx, reply)
    if n is None:
        return None
    return n, 0 if n == 1 or parts(ctx, reply, whole_lines=True) == n else SHORT_LINE_CUT


def _kind(text: str, i: int) -> int:
    """What stopping before the whitespace at `text[i]` breaks."""
    if text[i] == "\n":
        return LINE
    if text[i - 1] in ".!?" or (text[i - 1] in ":;" and i > 1 and text[i - 2].isalpha()):
        return SENTENCE
    return WORD


def _last_fitting(places: list[int], fits_at: Callable[[int], bool]) -> int | None:
    """The last place where `fits_at` holds (it holds for a prefix of `places`)."""
    lo, hi, found = 0, len(places) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits_at(places[mid]):
            found, lo = places[mid], mid + 1
        else:
            hi = mid - 1
    return found


def between(texts: list[str], j: int, off: int, k: int, end: int) -> str:
    """The reading from `off` characters into `texts[j]` to `end` characters into `texts[k]`,
    each step's piece on its own line."""
    pieces = [texts[j][off:end] if k == j else texts[j][off:]]
    pieces += texts[j + 1:k]
    if k > j:
        pieces.append(texts[k][:end])
    return "\n".join(p.strip() for p in pieces if p.strip())


def resume_at(text: str, offset: int) -> int:
    """Where the next reply starts in a step's reading text after a reply stopped `offset`
    characters in: at the next word boundary when the pack changed in between and the offset
    now falls inside a word."""
    offset = max(0, min(offset, len(text)))
    if 0 < offset < len(text) and not text[offset].isspace() and not text[offset - 1].isspace():
        nxt = text.find(" ", offset)
        offset = len(text) if nxt < 0 else nxt
    return offset
