"""The clock: one place to ask for the time, so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def freeze(at: datetime | None) -> None:
    """Fix the clock at `at` (None lets it run again). For tests."""
    global _frozen
    _frozen = at if at is None or at.tzinfo else at.replace(tzinfo=UTC)
