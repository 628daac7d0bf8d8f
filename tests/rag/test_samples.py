"""The sample packs meet the bar the issue sets, and `somo demo` loads them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.models import Chunk
from rag.samples import load_sample_packs, sample_paths
from rag.schema import LocalizedStr, Pack
from rag.validate import LOCALIZED_FIELDS, warnings_for
from tests.rag.conftest import load

PACKS = {p.stem: load(p) for p in sample_paths()}


def test_three_countries():
    assert set(PACKS) == {"ke-cbc-g6-math", "ug-ncdc-p5-science", "zm-ecz-g7-math"}
    assert {p.country for p in PACKS.values()} == {"KE", "UG", "ZM"}
    assert PACKS["ke-cbc-g6-math"].topic("fractions-add") is not None


@pytest.mark.parametrize("pack_id", sorted(PACKS))
def test_each_pack_has_enough_topics_and_questions(pack_id):
    pack = PACKS[pack_id]
    assert pack.pack == pack_id
    assert len(pack.topics) >= 4
    assert warnings_for(pack) == []
    for topic in pack.topics:
        levels = [q.difficulty for q in topic.questions]
        assert len(levels) >= 9 and all(levels.count(d) >= 2 for d in (1, 2, 3)), topic.id
        assert len(pack.text(topic.reference, pack.default_language).split()) >= 150, topic.id
        for q in [*topic.teach.practice, *topic.teach.quiz, *topic.questions]:
            assert q.answer.strip()


def _localized(node, path=""):
    from pydantic import BaseModel

    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            value = getattr(node, name)
            if name in LOCALIZED_FIELDS and value is not None:
                yield f"{path}.{name}", value
            else:
                yield from _localized(value, f"{path}.{name}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _localized(item, f"{path}[{i}]")


def test_kenyan_pack_is_complete_in_english_and_kiswahili():
    pack: Pack = PACKS["ke-cbc-g6-math"]
    assert pack.languages == ["en", "sw"]
    strings: list[tuple[str, LocalizedStr]] = list(_localized(pack))
    assert len(strings) > 100
    missing = [path for path, v in strings if not isinstance(v, dict) or set(v) != {"en", "sw"}]
    assert missing == []


def test_load_sample_packs_is_idempotent(rt):
    notes = load_sample_packs(rt)
    assert len(notes) == 3 and notes[0].startswith("curriculum pack ke-cbc-g6-math: 4 topics, ")
    with rt.session() as session:
        first = session.scalar(select(func.max(Chunk.id)))
    assert load_sample_packs(rt) == notes
    with rt.session() as session:
        assert session.scalar(select(func.max(Chunk.id))) == first  # unchanged packs are not re-imported
