"""Staff authentication: argon2 passwords, server-side sessions, CSRF tokens, lock-out.

The cookie carries a random token; the database keeps only its sha256 (a stolen
database row cannot be replayed as a cookie). Every login makes a new session, so a
token planted before login is worthless (no fixation).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core import clock
from core.models import AdminSession, ApiToken, StaffUser

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 10
COOKIE = "somo_admin"
LOGIN_COOKIE = "somo_login"

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both paths cost one argon2 verify.
_DUMMY_HASH = _hasher.hash("not-a-real-password-" + secrets.token_hex(8))


class LoginFailed(Exception):
    """A refused login; the message is safe to show (it never says whether the email exists)."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, email: str, password: str) -> StaffUser:
    """Check a password, counting failures; the fifth failure locks the account for 15 minutes."""
    email = email.strip().lower()
    user = session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email)) if email else None
    if user is None or not user.active or not user.password_hash:
        _verify(_DUMMY_HASH, password)
        raise LoginFailed("Wrong email or password.")
    now = clock.now()
    if user.locked_until is not None and user.locked_until > now:
        raise LoginFailed(locked_message(user, now))
    if not _verify(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            raise LoginFailed(locked_message(user, now))
        raise LoginFailed("Wrong email or password.")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


def locked_message(user: StaffUser, now) -> str:
    minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
    return (f"This account is locked after {MAX_FAILED_LOGINS} failed logins. "
            f"Try again in {minutes} minute(s).")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class NewSession:
    cookie_token: str
    row: AdminSession


def start_session(session: Session, user: StaffUser, old_cookie: str | None = None) -> NewSession:
    """A fresh session for `user`; the session the browser held before (if any) is dropped."""
    if old_cookie:
        session.execute(delete(AdminSession).where(AdminSession.id == token_hash(old_cookie)))
    session.execute(delete(AdminSession).where(AdminSession.staff_user_id == user.id,
                                               AdminSession.expires_at <= clock.now()))
    token = secrets.token_urlsafe(32)
    row = AdminSession(
        id=token_hash(token), staff_user_id=user.id, csrf_token=secrets.token_urlsafe(32),
        expires_at=clock.now() + SESSION_TTL,
    )
    session.add(row)
    session.flush()
    return NewSession(token, row)


def load_session(session: Session, cookie_token: str | None) -> tuple[AdminSession, StaffUser] | None:
    if not cookie_token or len(cookie_token) > 200:
        return None
    row = session.get(AdminSession, token_hash(cookie_token))
    if row is None or row.expires_at <= clock.now():
        return None
    user = session.get(StaffUser, row.staff_user_id)
    if user is None or not user.active:
        return None
    return row, user


def end_session(session: Session, cookie_token: str | None) -> None:
    if cookie_token:
        session.execute(delete(AdminSession).where(AdminSession.id == token_hash(cookie_token)))


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def login_csrf(secret: str, nonce: str) -> str:
    """The login form's CSRF token: bound to a pre-login cookie nonce by an HMAC."""
    return hmac.new(secret.encode(), b"login:" + nonce.encode(), hashlib.sha256).hexdigest()


def new_api_token(session: Session, user: StaffUser, name: str) -> tuple[str, ApiToken]:
    """Make an API token; the plain token is returned once and only its hash is kept."""
    name = name.strip()
    if not name or len(name) > 120:
        raise ValueError("name: required, at most 120 characters")
    token = "somo_" + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=token_hash(token), staff_user_id=user.id)
    session.add(row)
    session.flush()
    return token, row


def user_for_api_token(session: Session, token: str) -> StaffUser | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    if row is None or row.revoked:
        return None
    user = session.get(StaffUser, row.staff_user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = clock.now()
    return user
