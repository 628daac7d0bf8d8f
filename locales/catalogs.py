"""Extracting, updating, compiling and checking the gettext catalogs with babel.

A domain is a package: `conversation` strings are extracted from conversation/, go to
locales/conversation.pot, and are translated in locales/<lang>/LC_MESSAGES/conversation.po.
English catalogs carry the English text (msgstr = msgid), so "untranslated English" means
an entry someone forgot; Kiswahili must be complete; Luganda, Bemba and Nyanja may leave
entries empty (gettext then falls back to English), except the required ones.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).resolve().parent
ROOT = LOCALES.parent
MAPPING = LOCALES / "babel.cfg"
LANGS = ("en", "sw", "lg", "bem", "ny")
COMPLETE = ("en", "sw")  # every entry translated
# Packages whose strings are catalogued (the domain is the package name); sub-packages with
# a domain of their own are left out of their parent's extraction.
DOMAINS: dict[str, tuple[str, tuple[str, ...]]] = {
    "conversation": ("conversation", ("conversation/teachers",)),
    "teachers": ("conversation/teachers", ()),
    "modes": ("modes", ()),
    "channels": ("channels", ()),
    "rag": ("rag", ()),
    "admin": ("admin", ()),
    "gateway": ("gateway", ()),
}
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


def domains_present() -> list[str]:
    """Domains with a source package or any catalog on disk."""
    found = {d for d, (pkg, _) in DOMAINS.items() if (ROOT / pkg).is_dir()}
    found |= {p.stem for p in LOCALES.glob("*/LC_MESSAGES/*.po")}
    return sorted(found)


def _method_map() -> list[tuple[str, str]]:
    return [("**.py", "python"), ("**/templates/**.html", "jinja2")]


def extract(domain: str) -> Catalog:
    package, excluded = DOMAINS.get(domain, (domain, ()))
    source = ROOT / package
    catalog = Catalog(project="Somo", domain=domain, charset="utf-8")
    if not source.is_dir():
        return catalog
    for filename, lineno, message, comments, context in extract_from_dir(
        source, method_map=_method_map(), options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords=KEYWORDS, comment_tags=("TRANSLATORS:",), strip_comment_tags=True,
    ):
        rel = f"{package}/{filename}"
        if any(rel.startswith(prefix + "/") for prefix in excluded):
            continue
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
