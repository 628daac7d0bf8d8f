"""Translations from gettext catalogs under locales/, one domain per package.

Catalogs are read from the .po files (compiled .mo files are used when present), so an
edited catalog takes effect without a build step. Every string a person reads goes
through `translator(lang, domain)`.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from pathlib import Path

from babel.support import Translations

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = ("en", "sw", "lg", "bem", "ny")
LANGUAGE_NAMES = {"en": "English", "sw": "Kiswahili", "lg": "Luganda", "bem": "Bemba", "ny": "Nyanja"}
COUNTRY_LANGUAGES = {"KE": ("en", "sw"), "UG": ("en", "lg"), "ZM": ("en", "bem", "ny")}
BABEL_LOCALES = {"en": "en", "sw": "sw", "lg": "lg", "bem": "bem", "ny": "ny"}


def _load_po(path: Path) -> gettext.NullTranslations:
    import io

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as fh:
        catalog = read_po(fh)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


@lru_cache(maxsize=64)
def translator(lang: str, domain: str = "messages") -> gettext.NullTranslations:
    """Translations for `lang` in `domain`, falling back to English, then to the msgid."""
    chain: list[str] = [lang] if lang != "en" else []
    chain.append("en")
    result: gettext.NullTranslations | None = None
    for code in chain:
        po = LOCALES_DIR / code / "LC_MESSAGES" / f"{domain}.po"
        if not po.exists():
            continue
        t = _load_po(po)
        if result is None:
            result = t
        else:
            result.add_fallback(t)
    return result or gettext.NullTranslations()


def gettext_for(lang: str, domain: str = "messages"):
    return translator(lang, domain).gettext


def reload() -> None:
    translator.cache_clear()
