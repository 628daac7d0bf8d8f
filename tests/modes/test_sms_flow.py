"""sms_flow.plan_reading: how reading that does not fit in one SMS reply is spread over the
replies the student asks for with NEXT. Checked against every plan that stops once (at any
word), and by replaying its plans to the end: every word once, in order, each reply within
the part cap."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from core.messages import Option, Reply
from modes import sms_flow
from modes.sms_flow import CONTINUED, SENTENCE, WORD, between, plan_reading, resume_at

QUESTION = "Step 4/6 Practice\nWhat is 1/4 + 2/4?"


def _ctx(cap: int = 3):
    """What the planner reads from a ModeContext: the part cap of the settings."""
    return SimpleNamespace(runtime=SimpleNamespace(settings=SimpleNamespace(sms_max_segments=cap)))


def last(prefix: str) -> Reply:
    return Reply("\n".join(p for p in (prefix, QUESTION) if p), expects_answer=True, footer="Reply HINT for a hint.")


def more(prefix: str) -> Reply:
    return Reply(prefix, options=[Option("1", "Next")])


def _step(n: int, body: str) -> tuple[str, int]:
    head = f"Step {n}/6 Reading"
    return f"{head}\n{body}", len(head)


def _replay(ctx, texts: list[str], heads: list[int]) -> list[Reply]:
    """The replies a student gets pressing NEXT until the question, as teach sends them."""
    replies, off = [], 0
    while True:
        if not texts:  # the last reply ended with the reading: NEXT brings the question alone
            return [*replies, last("")]
        cut = plan_reading(ctx, texts, heads, start=off, last=last, more=more)
        if cut is None:
            replies.append(last(between(texts, 0, off, len(texts) - 1, len(texts[-1]))))
            return replies
        shown = between(texts, 0, off, cut.step, cut.offset)
        replies.append(more(shown + (CONTINUED if cut.kind == WORD else "")))
        whole = cut.offset >= len(texts[cut.step])
        texts, heads = texts[cut.step + (1 if whole else 0):], heads[cut.step + (1 if whole else 0):]
        off = 0 if whole else cut.offset
        assert len(replies) < 20


def _parts(ctx, replies: list[Reply]) -> int:
    counted = [sms_flow.parts(ctx, r) for r in replies]
    assert None not in counted  # no reply waits for MORE
    return sum(counted)


def _words(replies: list[Reply]) -> list[str]:
    text = " ".join(r.text for r in replies).replace(CONTINUED, " ")
    return text.split()


def test_all_of_it_in_one_reply_when_it_fits():
    texts, heads = zip(_step(1, "Short."), _step(2, "Also short."), strict=True)
    assert plan_reading(_ctx(), list(texts), list(heads), last=last, more=more) is None


def test_a_reply_stops_after_a_sentence_inside_a_step_when_stopping_between_steps_costs_a_part():
    intro = " ".join(["Fractions are parts of a whole thing."] * 4)
    explanation = " ".join(["Add the tops and keep the bottom the same."] * 3)
    example = "Amina eats 1/5 of a mango. " + " ".join(["Then she eats 2/5 more of it."] * 4)
    texts, heads = map(list, zip(_step(1, intro), _step(2, explanation), _step(3, example), strict=True))
    ctx = _ctx()
    by_steps = min(  # the best a reply that stops only between steps can do
        _parts(ctx, [more(between(texts, 0, 0, k, len(texts[k]))), last(between(texts, k + 1, 0, 2, len(texts[2])))])
        for k in range(2) if sms_flow.parts(ctx, more(between(texts, 0, 0, k, len(texts[k])))))
    cut = plan_reading(ctx, texts, heads, last=last, more=more)
    assert cut is not None and cut.step == 2 and cut.kind == SENTENCE and 0 < cut.offset < len(texts[2])
    assert texts[2][:cut.offset].endswith(".")
    replies = _replay(ctx, texts, heads)
    assert len(replies) == 2 and _parts(ctx, replies) == by_steps - 1
    assert _words(replies) == " ".join([*texts, QUESTION]).split()


def test_a_reply_never_stops_right_after_a_steps_header():
    ctx = _ctx(cap=1)
    texts, heads = map(list, zip(_step(1, "word " * 29 + "end."), _step(2, "more " * 20 + "end."), strict=True))
    for reply in _replay(ctx, texts, heads):
        assert not reply.text.endswith("Reading")


def test_a_stale_stop_from_a_changed_pack_starts_at_the_next_word():
    text = "Step 2/6 Explanation\nAdd the tops and keep the bottom."
    assert resume_at(text, text.index("tops")) == text.index("tops")  # not inside a word: as it is
    assert resume_at(text, text.index("tops") + 2) == text.index(" and")
    assert resume_at(text, 10_000) == len(text) and resume_at(text, -3) == 0


_body = st.lists(st.sampled_from(["Add", "the", "tops.", "Keep", "bottom,", "then", "simplify!", "1/4", "2/4",
                                  "denominators", "a", "LCM"]), min_size=5, max_size=90).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(st.lists(_body, min_size=1, max_size=3), st.integers(1, 3))
def test_property_no_single_stop_anywhere_needs_fewer_parts_and_every_word_comes_once(bodies, cap):
    ctx = _ctx(cap)
    texts, heads = map(list, zip(*(_step(n, b) for n, b in enumerate(bodies, 1)), strict=True))
    replies = _replay(ctx, texts, heads)
    assert _words(replies) == " ".join([*texts, QUESTION]).split()
    total = _parts(ctx, replies)
    for k, text in enumerate(texts):  # every plan of two replies: a stop at any word of any step
        for i in [len(text), *(i for i in range(heads[k] + 1, len(text)) if text[i] == " ")]:
            whole = i == len(text)
            first = sms_flow.parts(ctx, more(between(texts, 0, 0, k, i) + ("" if whole else CONTINUED)))
            nxt = (k + 1, 0) if whole else (k, i)
            rest = between(texts, *nxt, len(texts) - 1, len(texts[-1])) if nxt[0] < len(texts) else ""
            then = sms_flow.parts(ctx, last(rest))
            if first is not None and then is not None:
                assert total <= first + then, (k, i, total, first, then)
