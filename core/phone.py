"""Phone numbers: E.164 normalisation and masking for logs."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

SUPPORTED_COUNTRIES = ("KE", "UG", "ZM")


class InvalidPhone(ValueError):
    pass


def to_e164(raw: str, default_region: str = "KE") -> str:
    """Normalise `raw` (e.g. '0712 345 678', '+254712345678', 'whatsapp:+2547…', '2547…') to E.164."""
    return _to_e164(raw, default_region)


@lru_cache(maxsize=50_000)  # every webhook parses its sender: a USSD session posts the same number each step
def _to_e164(raw: str, default_region: str) -> str:
    text = (raw or "").strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:"):]
    text = re.sub(r"[\s\-().]", "", text)
    if not text:
        raise InvalidPhone("empty phone number")
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.isdigit() and len(text) > 10 and not text.startswith("0"):
        text = "+" + text  # WhatsApp wa_id and similar: country code without '+'
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone(f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_valid_for(e164: str, country: str) -> bool:
    try:
        number = phonenumbers.parse(e164, country)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) == country


@lru_cache(maxsize=50_000)  # every stored inbound asks it (the contact upsert), as often as to_e164
def country_of(e164: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None


def mask(phone: str | None) -> str:
    """'+254712345612' -> '+2547******12' (keeps country code and the last two digits)."""
    if not phone:
        return ""
    digits = phone.lstrip("+")
    if len(digits) <= 6:
        return "+" + "*" * len(digits) if phone.startswith("+") else "*" * len(digits)
    head = digits[:4]
    return ("+" if phone.startswith("+") else "") + head + "*" * (len(digits) - 6) + digits[-2:]


_PHONE_IN_TEXT = re.compile(r"\+?\d[\d \-]{7,}\d")


def mask_in_text(text: str) -> str:
    return _PHONE_IN_TEXT.sub(lambda m: mask(re.sub(r"[ \-]", "", m.group(0))), text)
