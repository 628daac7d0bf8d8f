"""The audit trail: one append-only AuditLog row per admin action, in the action's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.models import AuditLog, StaffUser


def record(
    session: Session,
    user: StaffUser | None,
    action: str,
    *,
    obj: Any = None,
    object_type: str | None = None,
    object_id: Any = None,
    school_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditLog:
    """Write the row in the caller's transaction, so the action and its record commit together."""
    if obj is not None:
        object_type = object_type or type(obj).__name__.lower()
        object_id = object_id if object_id is not None else getattr(obj, "id", None)
        if school_id is None:
            school_id = getattr(obj, "school_id", None)
    row = AuditLog(
        actor=(user.email or user.name or f"staff:{user.id}") if user else "system",
        actor_staff_id=user.id if user else None,
        school_id=school_id if school_id is not None else (user.school_id if user else None),
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        before=_jsonable(before),
        after=_jsonable(after),
        ip=(ip or None) and ip[:64],
    )
    session.add(row)
    return row


def _jsonable(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in fields}
