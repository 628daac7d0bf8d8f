"""Learner PINs on a shared phone: four digits, stored only as an argon2 hash."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Cheap parameters: a 4-digit PIN keeps siblings apart, it is not a password.
_hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
_PIN = re.compile(r"^\d{4}$")


def is_pin(text: str) -> bool:
    return bool(_PIN.match((text or "").strip()))


def hash_pin(pin: str) -> str:
    if not is_pin(pin):
        raise ValueError("a PIN is exactly four digits")
    return _hasher.hash(pin.strip())


def verify_pin(pin_hash: str | None, pin: str) -> bool:
    if not pin_hash or not is_pin(pin):
        return False
    try:
        return _hasher.verify(pin_hash, pin.strip())
    except (VerificationError, InvalidHashError):
        return False
