"""Every catalog of every domain compiles, has no untranslated English or Kiswahili entry and
no placeholder mismatch; code strings are all catalogued; Luganda, Bemba and Nyanja cover
onboarding, menus and commands. The checker itself is shown to catch each fault."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from conversation.catalog_rules import REQUIRED
from core.i18n import translator
from locales import catalogs

ROOT = Path(__file__).resolve().parents[2]


def test_every_catalog_is_complete_and_compiles():
    problems = catalogs.check_all({"conversation": REQUIRED})
    assert not problems, "\n".join(map(str, problems))


def test_there_are_catalogs_for_every_language_of_the_conversation():
    for lang in catalogs.LANGS:
        assert catalogs.po_path(lang, "conversation").exists()
    assert set(catalogs.domains_present()) >= {"conversation"}


@pytest.mark.parametrize("lang", ["lg", "bem", "ny"])
def test_required_strings_are_translated_and_the_rest_falls_back_to_english(lang):
    t = translator(lang, "conversation")
    for msgid in REQUIRED:
        assert t.gettext(msgid) != msgid, (lang, msgid)
    assert t.gettext("This subject has no topics yet.") == "This subject has no topics yet."  # English fallback


def _write(tmp_path: Path, lang: str, entries: list[tuple[str, str]]) -> Path:
    catalog = Catalog(locale=lang, domain="demo")
    for msgid, msgstr in entries:
        catalog.add(msgid, msgstr, flags=("python-format",) if "%(" in msgid else ())
    path = tmp_path / "demo.po"
    catalogs.write(path, catalog)
    return path


def test_the_checker_catches_untranslated_kiswahili(tmp_path):
    path = _write(tmp_path, "sw", [("Hello", "Habari"), ("Goodbye", "")])
    assert [p.message for p in catalogs.check_catalog(path, "sw")] == ["untranslated: 'Goodbye'"]
    assert catalogs.check_catalog(path, "lg") == []  # other languages may fall back to English
    assert [p.message for p in catalogs.check_catalog(path, "lg", {"Goodbye"})] == [
        "required entry untranslated: 'Goodbye'"]


def test_the_checker_catches_a_placeholder_mismatch(tmp_path):
    path = _write(tmp_path, "sw", [("Hi %(name)s", "Habari %(jina)s")])
    problems = catalogs.check_catalog(path, "sw")
    assert problems and "name" in problems[0].message


def test_the_checker_catches_a_catalog_that_does_not_compile(tmp_path):
    path = tmp_path / "broken.po"
    path.write_text('garbage line\nmsgid "Hello"\nmsgstr "Habari"\n', encoding="utf-8")
    problems = catalogs.check_catalog(path, "sw")
    assert problems and problems[0].message.startswith("does not compile")


def test_python_m_locales_check_and_compile(tmp_path):
    check = subprocess.run([sys.executable, "-m", "locales", "check", "--domain", "conversation"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "0 problem(s)" in check.stdout, check.stderr
    compiled = subprocess.run([sys.executable, "-m", "locales", "compile", "--domain", "conversation", "--lang", "sw"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert compiled.returncode == 0, compiled.stderr
    mo = ROOT / "locales" / "sw" / "LC_MESSAGES" / "conversation.mo"
    from babel.support import Translations

    with mo.open("rb") as fh:
        assert Translations(fp=fh).gettext("Main menu") == "Menyu kuu"
    bad = subprocess.run([sys.executable, "-m", "locales", "update", "--domain", "nosuch"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown domain" in bad.stderr


def test_extract_finds_the_code_strings():
    extracted = {m.id for m in catalogs.extract("conversation") if m.id}
    assert {"Choose your language:", "Main menu", "Mathematics"} <= extracted
    teachers = {m.id for m in catalogs.extract("teachers") if m.id}
    assert teachers and not teachers & extracted  # conversation/teachers speaks its own domain
