"""`somo admin create-user` and `somo admin create-token`.

Every failure prints one line saying what was wrong and exits non-zero (2).
"""

from __future__ import annotations

import getpass
import sys

from sqlalchemy import func, select


def _fail(message: str) -> int:
    print(f"somo admin: {message}", file=sys.stderr)
    return 2


def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("password: the two entries differ")
    return first


def _school(session, ref: str | None):
    from core.models import School

    if not ref:
        return None
    school = session.get(School, int(ref)) if ref.isdigit() else None
    school = school or session.scalar(select(School).where(func.lower(School.name) == ref.strip().lower()))
    if school is None:
        raise ValueError(f"school: no school {ref!r} (give its exact name or id)")
    return school


def cmd_create_user(args) -> int:
    from admin import audit, staff
    from core.runtime import get_runtime

    try:
        password = _read_password(args)
        with get_runtime().session() as session:
            school = _school(session, args.school)
            user = staff.create(session, email=args.email, role=args.role, school=school, password=password,
                                name=args.name or "", phone=args.phone or "")
            audit.record(session, None, "staff.create", obj=user, after={"email": user.email, "role": user.role,
                                                                        "via": "cli"})
            print(f"created {user.role.replace('_', ' ')} {user.email} (id {user.id})")
    except (ValueError, staff.StaffInvalid) as exc:
        return _fail(str(exc))
    return 0


def cmd_create_token(args) -> int:
    from admin import audit, auth
    from core.models import StaffUser
    from core.runtime import get_runtime

    with get_runtime().session() as session:
        user = session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == args.email.strip().lower()))
        if user is None or not user.active:
            return _fail(f"email: no active staff account {args.email!r}")
        try:
            token, row = auth.new_api_token(session, user, args.name)
        except ValueError as exc:
            return _fail(str(exc))
        audit.record(session, user, "api_token.create", obj=row, after={"name": row.name, "via": "cli"})
    print(token)
    return 0


def register(subparsers) -> None:
    from admin.staff import ROLES

    p = subparsers.add_parser("admin", help="web admin accounts and API tokens")
    sub = p.add_subparsers(dest="admin_command", required=True)
    c = sub.add_parser("create-user", help="make a staff login (the first platform admin, say)")
    c.add_argument("--email", required=True)
    c.add_argument("--role", choices=ROLES, default="platform_admin")
    c.add_argument("--school", help="school name or id (school admins and teachers)")
    c.add_argument("--name", default="")
    c.add_argument("--phone", default="")
    c.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    c.set_defaults(func=cmd_create_user)
    t = sub.add_parser("create-token", help="make an API token for /api/v1 (printed once)")
    t.add_argument("--email", required=True, help="the staff account the token acts as")
    t.add_argument("--name", required=True, help="what the token is for")
    t.set_defaults(func=cmd_create_token)
