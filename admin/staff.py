"""Staff accounts: the checks shared by the teachers page and `somo admin create-user`."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin import auth
from core.models import Role, School, StaffUser
from core.phone import InvalidPhone, to_e164

_EMAIL = re.compile(r"^[^@\s]{1,100}@[^@\s]{1,100}\.[^@\s]{2,}$")
ROLES = tuple(r.value for r in Role)


class StaffInvalid(ValueError):
    """Bad input for a staff account; the message starts with the field name."""


def check_email(session: Session, email: str, current: StaffUser | None = None) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email):
        raise StaffInvalid(f"email: not an email address: {email!r}")
    clash = session.scalar(select(StaffUser.id).where(func.lower(StaffUser.email) == email))
    if clash is not None and (current is None or clash != current.id):
        raise StaffInvalid(f"email: {email} already has an account")
    return email


def check_phone(session: Session, phone: str, country: str, current: StaffUser | None = None) -> str | None:
    if not (phone or "").strip():
        return None
    try:
        e164 = to_e164(phone, country)
    except InvalidPhone as exc:
        raise StaffInvalid(f"phone: {exc}") from exc
    clash = session.scalar(select(StaffUser.id).where(StaffUser.phone == e164))
    if clash is not None and (current is None or clash != current.id):
        raise StaffInvalid(f"phone: {e164} already belongs to another staff account")
    return e164


def check_role(role: str, school: School | None) -> str:
    if role not in ROLES:
        raise StaffInvalid(f"role: must be one of {', '.join(ROLES)}, got {role!r}")
    if role != Role.PLATFORM_ADMIN.value and school is None:
        raise StaffInvalid(f"school: a {role.replace('_', ' ')} needs a school")
    return role


def create(session: Session, *, email: str, role: str, school: School | None, password: str, name: str = "",
           phone: str = "") -> StaffUser:
    role = check_role(role, school)
    email = check_email(session, email)
    try:
        password_hash = auth.hash_password(password)
    except ValueError as exc:
        raise StaffInvalid(str(exc)) from exc
    user = StaffUser(
        email=email, name=(name or "").strip()[:120], role=role, password_hash=password_hash,
        school_id=school.id if school and role != Role.PLATFORM_ADMIN.value else None,
        phone=check_phone(session, phone, school.country if school else "KE"),
    )
    session.add(user)
    session.flush()
    return user
