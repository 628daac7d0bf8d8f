"""The audit log is append-only: rows are added in the action's transaction, never changed or
removed. Enforced for every session (ORM changes and bulk UPDATE/DELETE statements alike), so
neither a bug nor an erasure can rewrite history; an erasure is itself recorded."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from core.models import AuditLog


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _no_changed_rows(session: Session, _context, _instances) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditLog) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditLogIsAppendOnly(f"audit_log row {obj.id}: rows may be added, never changed or deleted")


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_changes(state) -> None:
    if (state.is_update or state.is_delete) and any(
        getattr(m, "class_", None) is AuditLog for m in state.all_mappers
    ):
        raise AuditLogIsAppendOnly("audit_log: bulk UPDATE/DELETE refused; the log is append-only")
