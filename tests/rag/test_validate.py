"""Bad packs (each rule broken once) are rejected with the exact path of each error."""

from __future__ import annotations

import pytest

from rag.validate import PackInvalid, check_pack, validate_pack_text
from tests.rag.conftest import FIXTURES, load

BAD = sorted((FIXTURES / "bad").glob("*.yaml"))


def expected(path) -> list[str]:
    return [line.removeprefix("# expect: ").rstrip("\n") for line in path.read_text().splitlines(True)
            if line.startswith("# expect: ")]


def test_there_is_a_bad_pack_for_every_rule():
    assert len(BAD) >= 20
    assert all(expected(p) for p in BAD), "every bad pack names the error it must produce"


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_pack_is_rejected_with_exact_paths(path):
    pack, errors = validate_pack_text(path.read_text(encoding="utf-8"), path.name)
    assert pack is None
    assert errors == expected(path)


def test_error_messages_name_the_place():
    text = (FIXTURES / "bad" / "missing-answer.yaml").read_text()
    _, errors = validate_pack_text(text, "x.yaml")
    assert errors == ["topics[0].questions[0].answer: required"]
    _, errors = validate_pack_text((FIXTURES / "bad" / "bad-difficulty.yaml").read_text(), "x.yaml")
    assert errors == ["topics[0].questions[1].difficulty: must be at most 3, got 4"]


def test_several_errors_in_one_pack_are_all_reported():
    text = (FIXTURES / "good" / "tiny-math.yaml").read_text()
    text = text.replace("country: KE", "country: kenya").replace('answer: "15"', "answer: 15").replace(
        "grade: 6", "grade: 6\nauthr: me")
    _, errors = validate_pack_text(text, "x.yaml")
    assert len(errors) == 3
    assert {e.split(":")[0] for e in errors} == {"country", "topics[0].questions[2].answer", "authr"}


def test_good_pack_passes():
    pack = load(FIXTURES / "good" / "tiny-math.yaml")
    assert pack.pack == "tiny-math"
    assert check_pack(pack) == []


@pytest.mark.parametrize("text", ["", "   ", "just a string", "42", "[]"])
def test_not_a_pack_at_all(text):
    pack, errors = validate_pack_text(text, "x.yaml")
    assert pack is None and len(errors) == 1
    assert errors[0].startswith("(pack): x.yaml must hold one YAML mapping")


def test_yaml_tags_are_refused():
    pack, errors = validate_pack_text("pack: !!python/object/apply:os.system ['echo hi']\n", "x.yaml")
    assert pack is None and errors[0].startswith("(yaml)")


def test_pack_invalid_carries_errors():
    exc = PackInvalid("x.yaml", ["a: required", "b: unknown key"])
    assert exc.errors == ["a: required", "b: unknown key"]
    assert "x.yaml: 2 error(s)" in str(exc)


# --- property tests: bad input never crashes the validator, and every error names a place ----------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

GOOD_TEXT = (FIXTURES / "good" / "tiny-math.yaml").read_text()
PATH_RE = __import__("re").compile(r"^(\(yaml\) .+|\S[^\n]*?: .+)", __import__("re").S)


@given(st.text(max_size=400))
def test_fuzz_any_text_gives_a_pack_or_errors(text):
    pack, errors = validate_pack_text(text, "fuzz.yaml")
    assert (pack is None) == bool(errors)
    assert all(PATH_RE.match(e) for e in errors), errors


@given(st.integers(min_value=0, max_value=len(GOOD_TEXT.splitlines()) - 1), st.sampled_from(["drop", "dup", "junk"]))
def test_fuzz_damaged_good_pack_reports_paths(line_no, how):
    lines = GOOD_TEXT.splitlines()
    if how == "drop":
        del lines[line_no]
    elif how == "dup":
        lines.insert(line_no, lines[line_no])
    else:
        lines[line_no] = lines[line_no] + " ]{:"
    pack, errors = validate_pack_text("\n".join(lines) + "\n", "fuzz.yaml")
    assert (pack is None) == bool(errors)
    assert all(PATH_RE.match(e) for e in errors), errors
