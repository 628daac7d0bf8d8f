"""The admin's pages, one router per resource."""

from __future__ import annotations

import importlib

MODULES = ("login", "dashboard", "schools", "classes", "students", "enrol", "teachers", "curriculum",
           "broadcasts", "progress", "messages", "audit", "tokens")


def routers() -> list:
    return [importlib.import_module(f"admin.views.{name}").router for name in MODULES]
