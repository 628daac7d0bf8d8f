"""Extracting, updating, compiling and checking the gettext catalogs with babel.

A domain is what `translator(lang, domain)` names (by default the package's name):
`conversation` strings are extracted from the files that use it, go to
locales/conversation.pot, and are translated in locales/<lang>/LC_MESSAGES/conversation.po.
English catalogs carry the English text (msgstr = msgid), so "untranslated English" means
an entry someone forgot; Kiswahili must be complete; Luganda, Bemba and Nyanja may leave
entries empty (gettext then falls back to English), except the required ones.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract as extract_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).resolve().parent
ROOT = LOCALES.parent
MAPPING = LOCALES / "babel.cfg"
LANGS = ("en", "sw", "lg", "bem", "ny")
COMPLETE = ("en", "sw")  # every entry translated
# Where strings live. A file's strings belong to the domain it names (`translator(lang,
# "teachers")`, `DOMAIN = "conversation"`), else to its package's domain: the gateway says
# a few things in `channels`, admin's teacher pages in `teachers`.
SOURCES = ("core", "channels", "conversation", "modes", "rag", "admin", "gateway")
_NAMES_DOMAIN = re.compile(r'translator\([^)]*"([a-z]+)"\s*\)|DOMAIN\s*=\s*"([a-z]+)"')
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def po_path(lang: str, domain: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{domain}.po"


def pot_path(domain: str) -> Path:
    return LOCALES / f"{domain}.pot"


def file_domains(path: Path) -> set[str]:
    if path.suffix != ".py":
        return {path.relative_to(ROOT).parts[0]}
    text = path.read_text(encoding="utf-8", errors="replace")
    named = {a or b for a, b in _NAMES_DOMAIN.findall(text)}
    return named or {path.relative_to(ROOT).parts[0]}


def _source_files() -> list[Path]:
    files = []
    for package in SOURCES:
        root = ROOT / package
        if root.is_dir():
            files += sorted(root.rglob("*.py")) + sorted(root.rglob("templates/**/*.html"))
    return files


def _messages(path: Path):
    method = "python" if path.suffix == ".py" else "jinja2"
    options = {} if method == "python" else {"extensions": "jinja2.ext.i18n"}
    with path.open("rb") as fh:
        yield from extract_file(method, fh, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",), options=options,
                                strip_comment_tags=True)


def domains_present() -> list[str]:
    """Domains that code uses (with strings) or that have a catalog on disk."""
    found = {p.stem for p in LOCALES.glob("*/LC_MESSAGES/*.po")}
    for path in _source_files():
        if any(True for _ in _messages(path)):
            found |= file_domains(path)
    return sorted(found)


def extract(domain: str) -> Catalog:
    catalog = Catalog(project="Somo", domain=domain, charset="utf-8")
    for path in _source_files():
        if domain not in file_domains(path):
            continue
        rel = str(path.relative_to(ROOT))
        for lineno, message, comments, context in _messages(path):
            catalog.add(message, None, [(rel, lineno)], auto_comments=comments, context=context)
    return catalog


def read(path: Path, *, strict: bool = False) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, abort_invalid=strict)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(fh, catalog, width=110, sort_output=True, omit_header=False)


def write_template(domain: str) -> Path:
    path = pot_path(domain)
    write(path, extract(domain))
    return path


def update(domain: str, lang: str) -> Path:
    """Bring locales/<lang>/LC_MESSAGES/<domain>.po in step with the code (English fills itself)."""
    template = extract(domain)
    path = po_path(lang, domain)
    catalog = read(path) if path.exists() else Catalog(locale=lang, domain=domain, project="Somo", charset="utf-8")
    catalog.update(template, no_fuzzy_matching=True)
    if lang == "en":
        for message in catalog:
            if message.id and not message.string:
                message.string = message.id
    catalog.obsolete.clear()
    write(path, catalog)
    return path


def compile_po(path: Path) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, read(path))
    return buf.getvalue()


def check_catalog(path: Path, lang: str, required: set[str] | None = None) -> list[Problem]:
    """Parse, compile, placeholders, and (en/sw) completeness of one catalog."""
    rel = _rel(path)
    try:
        catalog = read(path, strict=True)
        compile_po(path)
    except Exception as exc:  # noqa: BLE001 - any parse or compile failure is the finding
        return [Problem(rel, f"does not compile: {exc}")]
    problems = []
    for message, errors in catalog.check():
        problems += [Problem(rel, f"{message.id!r}: {err}") for err in errors]
    for message in catalog:
        if not message.id:
            continue
        empty = not (all(message.string) if isinstance(message.string, tuple) else message.string)
        if lang in COMPLETE and empty:
            problems.append(Problem(rel, f"untranslated: {message.id!r}"))
        elif required and message.id in required and empty:
            problems.append(Problem(rel, f"required entry untranslated: {message.id!r}"))
        if message.fuzzy and lang in COMPLETE:
            problems.append(Problem(rel, f"fuzzy: {message.id!r}"))
    return problems


def missing_from_catalogs(domain: str) -> list[Problem]:
    """Strings in the domain's code that no English or Kiswahili catalog holds.

    A package may borrow another domain (the gateway says a few things in `channels`), so a
    string counts as catalogued when any catalog of the language has it.
    """
    wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in extract(domain) if m.id}
    problems = []
    for lang in COMPLETE if wanted else ():
        have: set[str] = set()
        for path in (LOCALES / lang / "LC_MESSAGES").glob("*.po"):
            have |= {m.id if isinstance(m.id, str) else m.id[0] for m in read(path) if m.id}
        rel = str(po_path(lang, domain).relative_to(ROOT))
        problems += [Problem(rel, f"not in any {lang} catalog: {msgid!r}") for msgid in sorted(wanted - have)]
    return problems


def check_all(required: dict[str, set[str]] | None = None) -> list[Problem]:
    required = required or {}
    problems: list[Problem] = []
    for path in sorted(LOCALES.glob("*/LC_MESSAGES/*.po")):
        lang, domain = path.parent.parent.name, path.stem
        problems += check_catalog(path, lang, required.get(domain) if lang not in COMPLETE else None)
    for domain in domains_present():
        problems += missing_from_catalogs(domain)
    return problems
