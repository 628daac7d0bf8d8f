"""`python -m locales extract|update|compile|check [--domain D]... [--lang L]...`

extract  write locales/<domain>.pot from the code
update   merge the code's strings into locales/<lang>/LC_MESSAGES/<domain>.po (English fills itself)
compile  write the .mo next to each .po (the app reads .po directly; .mo is for other tools)
check    report untranslated English/Kiswahili entries, strings missing from catalogs, bad placeholders
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from locales import catalogs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m locales", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["extract", "update", "compile", "check"])
    parser.add_argument("--domain", action="append", help="a domain (package); default every domain present")
    parser.add_argument("--lang", action="append", help=f"a language; default {', '.join(catalogs.LANGS)}")
    args = parser.parse_args(argv)
    domains = args.domain or catalogs.domains_present()
    unknown = [d for d in domains if d not in catalogs.domains_present()]
    if unknown:
        print(f"locales: unknown domain(s) {', '.join(unknown)}; known: {', '.join(catalogs.domains_present())}",
              file=sys.stderr)
        return 2
    langs = args.lang or list(catalogs.LANGS)
    if args.action == "extract":
        for domain in domains:
            print(catalogs.write_template(domain).relative_to(catalogs.ROOT))
    elif args.action == "update":
        for domain in domains:
            for lang in langs:
                print(catalogs.update(domain, lang).relative_to(catalogs.ROOT))
    elif args.action == "compile":
        failed = 0
        for domain in domains:
            for lang in langs:
                path = catalogs.po_path(lang, domain)
                if not path.exists():
                    continue
                try:
                    path.with_suffix(".mo").write_bytes(catalogs.compile_po(path))
                    print(path.with_suffix(".mo").relative_to(catalogs.ROOT))
                except Exception as exc:  # noqa: BLE001
                    print(f"locales: {path.relative_to(catalogs.ROOT)}: {exc}", file=sys.stderr)
                    failed += 1
        return 1 if failed else 0
    else:
        from conversation.catalog_rules import REQUIRED

        problems = [p for p in catalogs.check_all({"conversation": REQUIRED}) if Path(p.path).stem in domains]
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} problem(s)")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
