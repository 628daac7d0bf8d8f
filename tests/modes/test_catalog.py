"""Every string the modes show is in the en and sw catalogs, translated, with the same fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def _msgids() -> set[str]:
    found = extract_from_dir(str(ROOT / "modes"), method_map=[("**.py", "python")], keywords={"_": None})
    return {msg for _fn, _line, msg, _c, _ctx in found}


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_catalog_complete(lang):
    with (ROOT / "locales" / lang / "LC_MESSAGES" / "modes.po").open("rb") as fh:
        catalog = read_po(fh)
    ids = _msgids()
    assert len(ids) > 20
    for msgid in sorted(ids):
        entry = catalog.get(msgid)
        assert entry is not None and entry.string, f"{lang}: {msgid!r} is not translated"
        fields = set(re.findall(r"\{(\w+)\}", msgid))
        assert set(re.findall(r"\{(\w+)\}", entry.string)) == fields, f"{lang}: {msgid!r} changes its fields"
