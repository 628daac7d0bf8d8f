"""Demo logins for `somo demo` (never for production: the passwords are printed and public)."""

from __future__ import annotations

from sqlalchemy import select

from admin import auth
from core.demo import DEMO_SCHOOL
from core.models import ClassTeacher, Role, School, SchoolClass, StaffUser
from core.runtime import Runtime

DEMO_PASSWORD = "somo-demo-2025"
ACCOUNTS = (
    ("admin@somo.demo", "Platform admin", Role.PLATFORM_ADMIN, None),
    ("head@somo.demo", "Head teacher", Role.SCHOOL_ADMIN, None),
    ("achieng@somo.demo", "Mwalimu Achieng", Role.TEACHER, "+254700000100"),
)


def seed_demo_admin(rt: Runtime) -> list[str]:
    """Create (or reset) the demo staff logins; returns lines to print."""
    if rt.settings.is_production:
        return ["demo logins not created: SOMO_ENV is production"]
    notes = []
    with rt.session() as session:
        school = session.scalar(select(School).where(School.name == DEMO_SCHOOL))
        for email, name, role, phone in ACCOUNTS:
            user = session.scalar(select(StaffUser).where(StaffUser.email == email))
            if user is None and phone:  # the demo CSV made this teacher without an email
                user = session.scalar(select(StaffUser).where(StaffUser.phone == phone))
            if user is None:
                user = StaffUser(email=email)
                session.add(user)
            user.email, user.name, user.role, user.active = email, name, role.value, True
            user.school_id = None if role == Role.PLATFORM_ADMIN else (school.id if school else None)
            user.password_hash = auth.hash_password(DEMO_PASSWORD)
            user.failed_logins, user.locked_until = 0, None
            notes.append(f"admin login ({role.value.replace('_', ' ')}): {email} / {DEMO_PASSWORD}")
        session.flush()
        if school is not None:
            teacher = session.scalar(select(StaffUser).where(StaffUser.email == "achieng@somo.demo"))
            for klass in session.scalars(select(SchoolClass).where(SchoolClass.school_id == school.id)):
                if session.get(ClassTeacher, (klass.id, teacher.id)) is None:
                    session.add(ClassTeacher(class_id=klass.id, staff_user_id=teacher.id))
    return notes
