"""Rendering a Reply per channel: USSD screens, SMS parts, WhatsApp text and Meta interactive."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.render import FILL, render_for, sms_parts
from channels.sms import count_segments, split_sms
from channels.whatsapp import meta_interactive
from core.messages import Option, Reply

LONG = " ".join(["Photosynthesis is how green plants use sunlight to make food."] * 6)


def test_ussd_short_menu_is_one_screen_with_numbered_options():
    reply = Reply("Welcome to Somo", options=[Option("1", "Learn"), Option("2", "Practice")])
    rendered = render_for("ussd", reply, limit=160)
    assert rendered.messages == ["CON Welcome to Somo\n1. Learn\n2. Practice"]
    assert rendered.rest is None


def test_ussd_end_screen():
    assert render_for("ussd", Reply("Bye", end_session=True)).messages == ["END Bye"]


def test_ussd_long_text_paginates_with_98_more():
    reply = Reply(LONG, options=[Option("1", "Next")])
    rendered = render_for("ussd", reply, limit=160)
    (screen,) = rendered.messages
    assert len(screen) <= 160 and screen.startswith("CON ")
    assert screen.endswith("98 More  00 Menu")
    assert rendered.rest.endswith("1. Next")
    body = screen.removeprefix("CON ").rsplit("\n", 1)[0]
    assert (body + " " + rendered.rest).split() == reply.full_text().split()


def test_ussd_continued_page_offers_back_and_menu():
    rendered = render_for("ussd", Reply("the rest", meta={"ussd_page": 1}))
    assert rendered.messages == ["CON the rest\n0 Back  00 Menu"]


def test_ussd_in_kiswahili_and_limit_per_network():
    rendered = render_for("ussd", Reply(LONG), limit=182, lang="sw")
    assert len(rendered.messages[0]) <= 182 and rendered.messages[0].endswith("98 Zaidi  00 Menyu")


def test_ussd_limit_too_small_is_refused():
    with pytest.raises(ValueError, match="below the minimum"):
        render_for("ussd", Reply("x"), limit=10)


def test_unknown_channel_is_refused():
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        render_for("fax", Reply("x"))


text_words = st.lists(st.text(alphabet="abcdefghij€[]üà", min_size=1, max_size=40), max_size=80)


@given(text_words, st.integers(min_value=40, max_value=200), st.integers(min_value=0, max_value=4),
       st.booleans(), st.integers(min_value=0, max_value=2))
def test_property_ussd_screen_within_limit_and_loses_no_word(ws, limit, n_options, end, page):
    reply = Reply(" ".join(ws), options=[Option(str(i + 1), f"option {i + 1}") for i in range(n_options)],
                  end_session=end, meta={"ussd_page": page})
    rendered = render_for("ussd", reply, limit=limit)
    (screen,) = rendered.messages
    assert len(screen) <= limit
    assert screen.startswith(("CON ", "END "))
    nav = ("98 More", "0 Back", "00 Menu")
    body_lines = [ln for ln in screen[4:].split("\n") if not ln.startswith(nav)]
    shown = "\n".join(body_lines)
    joined = (shown + " " + (rendered.rest or "")).split()
    assert "".join(joined) == "".join(reply.full_text().split())


def test_sms_render_counts_segments_and_folds():
    rendered = render_for("sms", Reply("It’s “fine” — really…"))
    assert rendered.messages == ['It\'s "fine" - really...']
    assert (rendered.segments, rendered.encoding) == (1, "gsm7")


def test_sms_render_caps_segments_and_continues_with_more():
    rendered = render_for("sms", Reply(LONG * 3), max_segments=2)
    assert len(rendered.messages) == 2 and rendered.segments == 2
    assert rendered.messages[-1].endswith("Reply MORE for more")
    assert rendered.rest


def test_whatsapp_twilio_is_numbered_text_within_1600():
    reply = Reply(LONG * 6, options=[Option("1", "Yes")])
    rendered = render_for("whatsapp", reply, provider="twilio")
    assert len(rendered.messages[0]) <= 1600 and rendered.messages[0].endswith("Reply MORE for more")
    assert rendered.payloads is None and rendered.rest.endswith("1. Yes")


def test_whatsapp_meta_buttons_for_three_short_options():
    reply = Reply("Pick one", options=[Option("1", "Teach", "teach"), Option("2", "Practice"), Option("3", "Exam")])
    rendered = render_for("whatsapp", reply, provider="meta")
    assert rendered.messages == ["Pick one\n1. Teach\n2. Practice\n3. Exam"]
    assert rendered.payloads == [{
        "type": "button", "body": {"text": "Pick one"},
        "action": {"buttons": [
            {"type": "reply", "reply": {"id": "teach", "title": "Teach"}},
            {"type": "reply", "reply": {"id": "2", "title": "Practice"}},
            {"type": "reply", "reply": {"id": "3", "title": "Exam"}},
        ]},
    }]


def test_whatsapp_meta_list_for_many_or_long_options():
    options = [Option(str(i), f"Topic number {i} with a long name") for i in range(1, 8)]
    payload = meta_interactive(Reply("Choose a topic", options=options), "sw")
    assert payload["type"] == "list" and payload["action"]["button"] == "Chagua"
    rows = payload["action"]["sections"][0]["rows"]
    assert len(rows) == 7 and all(len(r["title"]) <= 24 for r in rows)
    assert rows[0]["description"] == "Topic number 1 with a long name"


def test_whatsapp_meta_falls_back_to_text_past_ten_options():
    options = [Option(str(i), f"T{i}") for i in range(1, 12)]
    assert meta_interactive(Reply("Choose", options=options)) is None


# -- SMS: optional lines in the room already paid for -------------------------------------------
def test_sms_fill_uses_the_room_of_the_last_part_in_priority_order():
    reply = Reply("Correct!\nStep 5/6 Quiz\nWhich is equal to 1/2 + 1/4?", options=[Option("1", "2/6")],
                  meta={FILL: [["x" * 150, "Correct!", "after"],  # would need a second part: left out
                               ["Adding fractions: 40% mastered", "Correct!", "after"],
                               ["Reply MENU to stop.", "Step 5/6 Quiz", "before"],
                               "last line"]})
    rendered = render_for("sms", reply)
    assert rendered.messages == ["Correct!\nAdding fractions: 40% mastered\nReply MENU to stop.\nStep 5/6 Quiz\n"
                                 "Which is equal to 1/2 + 1/4?\nlast line\n1. 2/6"]
    assert render_for("sms", Reply(reply.text, reply.options)).segments == rendered.segments == 1


def test_sms_fill_never_adds_a_part_nor_fills_a_reply_that_waits_for_more():
    full = Reply("word " * 31, meta={FILL: ["a short line"]})  # 155 characters: no room for it
    assert render_for("sms", full).messages == [("word " * 31).strip()]
    long = Reply("word " * 200, meta={FILL: ["a short line"]})  # beyond 3 parts: MORE, no fill
    rendered = render_for("sms", long)
    assert rendered.rest and all("short line" not in m for m in rendered.messages)


def test_sms_fill_skips_a_ucs2_line_a_lost_anchor_and_a_line_already_there():
    reply = Reply("Hello\nStep 1", meta={FILL: ["Karibu 😀", ["after the title", "Title", "after"], "Step 1", "ok"]})
    assert render_for("sms", reply).messages == ["Hello\nStep 1\nok"]


def _made_of_whole_lines(words: list[str], lines: list[list[str]]) -> bool:
    """`words` is the concatenation of some of `lines` (each whole), in their order."""
    if not words:
        return True
    return any(ln and words[:len(ln)] == ln and _made_of_whole_lines(words[len(ln):], lines[i + 1:])
               for i, ln in enumerate(lines))


@given(st.lists(st.text(alphabet="abcdefghij ", min_size=1, max_size=12), min_size=1, max_size=60),
       st.lists(st.text(alphabet="klmnopq rs", min_size=1, max_size=70), max_size=5), st.integers(1, 4))
def test_property_sms_fill_keeps_the_parts_and_every_word(ws, lines, cap):
    text = "\n".join(w for w in ws if w.strip()) or "a"
    bare = render_for("sms", Reply(text), max_segments=cap)
    filled = render_for("sms", Reply(text, meta={FILL: lines}), max_segments=cap)
    assert len(filled.messages) == len(bare.messages) and filled.rest == bare.rest
    assert all(len(m) <= 160 for m in filled.messages)
    if bare.rest is not None:  # waiting for MORE: nothing added
        assert filled.messages == bare.messages
        return
    words = " ".join(filled.messages).split()
    assert [w for w in words if w[0] in "abcdefghij"] == text.split()  # its own words, in order
    extra = [w for w in words if w[0] in "klmnopqrs"]
    assert _made_of_whole_lines(extra, [ln.split() for ln in lines])  # optional lines whole, never cut


def test_sms_parts_break_between_lines_when_that_costs_no_extra_part():
    text = "Step 1/6 Introduction\n" + "word " * 25 + "\nStep 2/6 Explanation\nShort."
    plain = split_sms(text, max_parts=3)
    assert len(plain.parts) == 2 and "Step 2/6 Explanation" not in "\n".join(plain.parts)  # cut in two
    rendered = render_for("sms", Reply(text))
    assert rendered.messages == ["Step 1/6 Introduction\n" + ("word " * 25).strip(), "Step 2/6 Explanation\nShort."]
    tight = "a\n" + "word " * 31 + "\nb"  # breaking at the lines would take a third part: the plain split
    assert render_for("sms", Reply(tight)).messages == split_sms(tight, max_parts=3).parts


@given(st.lists(st.text(alphabet="abcde €\n", min_size=1, max_size=50), min_size=1, max_size=30),
       st.integers(1, 4))
def test_property_sms_parts_no_more_than_the_plain_split_and_every_word_in_order(chunks, cap):
    text = "".join(chunks).strip() or "a"
    plain = split_sms(text, max_parts=cap, more_hint="Reply MORE for more")
    rendered = render_for("sms", Reply(text), max_segments=cap)
    assert len(rendered.messages) == len(plain.parts) and rendered.rest == plain.rest
    assert all(count_segments(m) == 1 for m in rendered.messages)
    if plain.rest is None:
        assert " ".join(rendered.messages).split() == text.split()


def _paragraph(n: int, sentence: str = "Add the tops and keep the bottom.") -> str:
    """Sentences (words of a paragraph) cut to exactly `n` characters, ending on a whole word."""
    text = " ".join([sentence] * (n // len(sentence) + 2))
    text = text[:n + 1].rsplit(" ", 1)[0]
    return text + "x" * (n - len(text))


def test_sms_parts_break_after_a_sentence_rather_than_inside_one_when_the_count_is_the_same():
    text = "Step 2/6 Explanation\n" + _paragraph(250)
    plain = split_sms(text, max_parts=3)
    assert len(plain.parts) == 2 and not plain.parts[0].endswith(".")  # the plain split cuts a sentence
    rendered = render_for("sms", Reply(text))
    assert len(rendered.messages) == 2 and rendered.messages[0].endswith("bottom.")
    assert " ".join(rendered.messages).split() == text.split()


def test_sms_parts_cut_no_title_or_header_line_when_another_break_keeps_the_count():
    text = _paragraph(145) + "\nStep 2/6 Explanation\n" + _paragraph(139)
    plain = split_sms(text, max_parts=3)
    assert len(plain.parts) == 2 and plain.parts[0].endswith("Step 2/6")  # the header cut in two
    rendered = render_for("sms", Reply(text))
    assert len(rendered.messages) == 2 and rendered.messages[1].startswith("Step 2/6 Explanation\n")


def test_sms_fill_leaves_out_a_line_that_would_cut_a_header_in_two():
    first, header, last = _paragraph(120), "Step 2/6 Explanation", _paragraph(140)
    note = "Adding fractions: 40% on"  # 24 characters
    bare = render_for("sms", Reply(f"{first}\n{header}\n{last}"))
    assert bare.messages == [f"{first}\n{header}", last]
    with_note = split_sms(f"{first}\n{note}\n{header}\n{last}", max_parts=3)
    assert len(with_note.parts) == 2 and with_note.parts[0].endswith("Step 2/6")  # it fits only so
    reply = Reply(f"{first}\n{header}\n{last}", meta={FILL: [[note, first, "after"], "ok"]})
    assert render_for("sms", reply).messages == [f"{first}\n{header}", f"{last}\nok"]


def test_sms_fill_keeps_an_optional_line_it_has_to_cut_rather_than_drop_it():
    """Where the only two-part layout cuts the optional line itself, it still goes (at a word):
    better in two SMS than not at all; the reply's own lines stay whole."""
    score = "Quiz: 1/1. " + _paragraph(109, "Round by looking at the next digit.")
    recap = _paragraph(120, "Each place is ten times the place on its right.")
    note = "Whole numbers: place value: 55% mastered"
    rendered = render_for("sms", Reply(f"{score}\n{recap}", meta={FILL: [[note, score, "after"]]}))
    assert len(rendered.messages) == len(render_for("sms", Reply(f"{score}\n{recap}")).messages) == 2
    assert rendered.messages == [f"{score}\nWhole numbers: place value: 55%", f"mastered\n{recap}"]


def test_sms_parts_count_without_cutting_a_short_line():
    text = _paragraph(150) + "\nStep 2/6 Explanation\n" + _paragraph(140)
    assert sms_parts(Reply(text)) == 2  # only by cutting the header
    assert sms_parts(Reply(text), whole_lines=True) == 3
    assert sms_parts(Reply(text), max_segments=2, whole_lines=True) is None
    assert sms_parts(Reply("word " * 200)) is None  # beyond three parts: MORE


@given(st.lists(st.one_of(st.text(alphabet="abcde ", min_size=1, max_size=40),
                          st.text(alphabet="vwxyz  ", min_size=61, max_size=200)), min_size=1, max_size=12),
       st.integers(1, 4))
def test_property_sms_parts_cut_no_short_line_when_some_layout_of_as_many_parts_keeps_them(lines, cap):
    lines = [" ".join(ln.split()) for ln in lines if ln.strip()] or ["a"]
    text = "\n".join(lines)
    plain = sms_parts(Reply(text), max_segments=cap)
    rendered = render_for("sms", Reply(text), max_segments=cap)
    assert len(rendered.messages) == (plain or cap) and all(count_segments(m) == 1 for m in rendered.messages)
    if plain is not None and sms_parts(Reply(text), max_segments=cap, whole_lines=True) == plain:
        shown = [ln for m in rendered.messages for ln in m.split("\n")]
        for line in lines:
            if len(line) <= 60:
                assert line in shown, (line, rendered.messages)
