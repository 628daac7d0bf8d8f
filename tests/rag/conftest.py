"""Fixtures for the curriculum tests: the sample packs imported into the test database."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.index import import_pack
from rag.samples import SAMPLES_DIR
from rag.validate import validate_pack_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "packs"


def load(path: Path):
    pack, errors = validate_pack_text(path.read_text(encoding="utf-8"), path.name)
    assert errors == [], errors
    return pack


@pytest.fixture
def samples(rt):
    """The three sample packs, imported; returns {pack id: Pack}."""
    out = {}
    with rt.session() as session:
        for path in sorted(SAMPLES_DIR.glob("*.yaml")):
            pack = load(path)
            import_pack(rt, session, pack)
            out[pack.pack] = pack
    return out
