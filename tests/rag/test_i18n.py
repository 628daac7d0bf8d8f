"""The rag catalogs are complete in English and Kiswahili, and every msgid used is in them."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from core.i18n import LOCALES_DIR

SOURCES = Path(__file__).resolve().parents[2] / "rag"


def catalog(lang: str):
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "rag.po").open("rb") as fh:
        return read_po(fh)


def test_catalogs_complete():
    for lang in ("en", "sw"):
        cat = catalog(lang)
        ids = [m.id for m in cat if m.id]
        assert ids and all(m.string for m in cat if m.id), lang
    en_ids = {m.id for m in catalog("en") if m.id}
    assert en_ids == {m.id for m in catalog("sw") if m.id}
    for m in catalog("sw"):
        if m.id:
            assert set(re.findall(r"{\w+}", m.id)) == set(re.findall(r"{\w+}", m.string)), m.id


def test_every_message_used_in_code_is_in_the_catalog():
    used = set()
    for path in SOURCES.glob("*.py"):
        used |= set(re.findall(r'\b_\("([^"]+)"\)', path.read_text()))
    from rag.answering import SECTION_NAMES

    used |= set(SECTION_NAMES.values())
    known = {m.id for m in catalog("en") if m.id}
    assert used and used <= known, used - known
