"""Jinja2 for the admin: autoescaping always on, a few filters, one render helper."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from core.phone import mask

TEMPLATES = Path(__file__).resolve().parent / "templates"

env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=True,  # every template, whatever its name: student text is attacker-controlled
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def _heat(value: float | None) -> str:
    """A CSS class for a mastery cell (classes, not inline styles: the CSP forbids those)."""
    if value is None:
        return "heat-none"
    return f"heat-{max(0, min(10, round(value * 10)))}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{round(value * 100)}%"


env.filters.update(when=_when, heat=_heat, pct=_pct, mask=mask)

NAV = [
    ("dashboard", "/admin/", "Dashboard", False),
    ("schools", "/admin/schools", "Schools", False),
    ("classes", "/admin/classes", "Classes", False),
    ("students", "/admin/students", "Students", False),
    ("enrol", "/admin/enrol", "Import CSV", True),
    ("teachers", "/admin/teachers", "Teachers", True),
    ("curriculum", "/admin/curriculum", "Curriculum", False),
    ("broadcasts", "/admin/broadcasts", "Broadcasts", False),
    ("progress", "/admin/progress", "Progress", False),
    ("messages", "/admin/messages", "Messages", False),
    ("audit", "/admin/audit", "Audit log", True),
    ("tokens", "/admin/tokens", "API tokens", False),
]


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200,
           who: Any = None, active: str = "") -> HTMLResponse:
    """Render a page; `who` (an admin.deps.Auth) adds the user, the navigation and the CSRF token."""
    ctx: dict[str, Any] = {"request": request, "who": who, "active": active, "csrf": who.csrf if who else ""}
    if who is not None:
        ctx["nav"] = [n for n in NAV if not (n[3] and who.scope.is_teacher)]
    else:
        ctx["nav"] = []
    ctx.update(context or {})
    html = env.get_template(name).render(**ctx)
    return HTMLResponse(html, status_code=status)
