"""Gettext catalogs (babel) for every string a student or teacher reads, one domain per package.

`python -m locales extract|update|compile|check` (the Makefile's i18n-* targets) keeps them
in step with the code; `locales.catalogs` holds the logic, which the catalog tests reuse.
"""
