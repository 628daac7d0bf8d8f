"""CSV enrolment for the admin: the same columns and parser as `somo enrol`, plus the checks an
admin page needs (the school must be in the user's scope, the class must already exist)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin.scope import Scope
from core.enrolment import EnrolResult, RowError, import_rows, parse_csv
from core.models import School, SchoolClass


def check(session: Session, scope: Scope, text: str, *, default_country: str) -> EnrolResult:
    """Parse and validate every row without writing anything (the preview)."""
    schools = {s.name.lower(): s for s in session.scalars(scope.schools())}
    result = parse_csv(text, default_country=default_country,
                       school_countries={name: s.country for name, s in schools.items()})
    good = []
    for row in result.rows:
        school = schools.get(row.school.lower())
        if school is None:
            reason = "unknown school" if scope.is_platform else "not your school"
            result.errors.append(RowError(row.line, "school", f"{reason}: {row.school!r}"))
            continue
        klass = session.scalar(select(SchoolClass).where(
            SchoolClass.school_id == school.id, func.lower(SchoolClass.name) == row.class_name.lower()
        ))
        if klass is None:
            result.errors.append(RowError(
                row.line, "class", f"unknown class {row.class_name!r} in {school.name}; add it on the Classes page first"
            ))
            continue
        row.school, row.class_name = school.name, klass.name
        good.append(row)
    result.rows = good
    result.errors.sort(key=lambda e: (e.line, e.field))
    return result


def run(session: Session, scope: Scope, text: str, *, default_country: str) -> EnrolResult:
    """Validate again (the file may have been edited since the preview) and import the good rows."""
    result = check(session, scope, text, default_country=default_country)
    only = None if scope.is_platform else scope.user.school_id
    import_rows(session, result, only_school_id=only)
    result.errors.sort(key=lambda e: (e.line, e.field))
    return result


def school_ids(session: Session, result: EnrolResult) -> set[int]:
    names = {row.school for row in result.rows}
    return set(session.scalars(select(School.id).where(School.name.in_(names)))) if names else set()
