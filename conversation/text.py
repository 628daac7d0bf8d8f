"""What the student reads: catalog lookups in the `conversation` domain, and numbers, dates
and times formatted by babel for the student's language (English forms where babel has no
data for a locale)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.numbers import format_decimal

from core.i18n import BABEL_LOCALES, COUNTRY_LANGUAGES, LANGUAGES, translator

DOMAIN = "conversation"
COUNTRY_TZ = {"KE": "Africa/Nairobi", "UG": "Africa/Kampala", "ZM": "Africa/Lusaka"}


def N_(msgid: str) -> str:
    """Marks a string for extraction; translated later with `gettext_for(lang)`."""
    return msgid


def gettext_for(lang: str) -> Callable[[str], str]:
    return translator(lang if lang in LANGUAGES else "en", DOMAIN).gettext


def babel_locale(lang: str) -> str:
    code = BABEL_LOCALES.get(lang, "en")
    try:
        Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return "en"
    return code


def number(value: int | float, lang: str) -> str:
    return format_decimal(value, locale=babel_locale(lang))


def day(value: datetime, lang: str, country: str | None = None) -> str:
    tz = ZoneInfo(COUNTRY_TZ.get(country or "", "Africa/Nairobi"))
    return format_date(value.astimezone(tz), format="medium", locale=babel_locale(lang))


def time_of_day(value: datetime, lang: str, country: str | None = None) -> str:
    tz = ZoneInfo(COUNTRY_TZ.get(country or "", "Africa/Nairobi"))
    return format_time(value.astimezone(tz), format="short", locale=babel_locale(lang))


def offered_languages(country: str | None, default_country: str = "KE") -> tuple[str, ...]:
    """The languages a number from `country` is offered (Kenya en/sw, Uganda en/lg, Zambia en/bem/ny)."""
    return COUNTRY_LANGUAGES.get(country or "", COUNTRY_LANGUAGES.get(default_country, ("en", "sw")))


def language_name(lang: str) -> str:
    """The language's own name for itself ('Kiswahili', 'Luganda', 'Ichibemba'), so anyone can find theirs."""
    try:
        return Locale.parse(babel_locale(lang)).get_display_name(babel_locale(lang)).capitalize() \
            if lang != "en" else "English"
    except (UnknownLocaleError, ValueError):
        return lang


# Common subject names, translated through the catalog when a pack names them in English.
SUBJECTS = (N_("Mathematics"), N_("Science"), N_("English"), N_("Kiswahili"), N_("Social Studies"),
            N_("Agriculture"), N_("Religious Education"), N_("Biology"), N_("Chemistry"), N_("Physics"))


def subject_title(subject: str, lang: str) -> str:
    return gettext_for(lang)(subject) if subject in SUBJECTS else subject
