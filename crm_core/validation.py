"""Validators for built-in and custom fields.

Each validator takes a raw value and returns the value to store, or raises
:class:`Reject` with the reason. Services collect rejections into one
:class:`~crm_core.errors.ValidationError` that names record, field, value and reason.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

from crm_core import text


class Reject(ValueError):
    """A single value was refused; the message is the reason."""


def required_text(value: Any, max_len: int) -> str:
    """Non-empty text, NFC-normalised and stripped, at most ``max_len`` characters."""
    out = optional_text(value, max_len)
    if out is None:
        raise Reject("is required")
    return out


def optional_text(value: Any, max_len: int) -> str | None:
    """Text or None, NFC-normalised and stripped, at most ``max_len`` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Reject(f"must be text, not {type(value).__name__}")
    out = text.clean(value)
    if out is not None and len(out) > max_len:
        raise Reject(f"is longer than {max_len} characters")
    return out


# A plain ASCII local part (RFC 5322 dot-atom), which email-validator keeps as given.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
# Domains email-validator accepted, as it normalised them: most addresses of a base
# share a few domains, and checking a domain is most of the cost of a check.
_DOMAINS: dict[str, str] = {}


def email(value: Any) -> str | None:
    """A syntactically valid e-mail address (no DNS lookup), normalised.

    The rules are email-validator's. An address whose local part is a plain ASCII
    dot-atom and whose domain it has already accepted is answered from that verdict.
    """
    raw = optional_text(value, 320)
    if raw is None:
        return None
    local, at, domain = raw.rpartition("@")
    plain = bool(at) and len(local) <= 64 and len(raw) <= 254 and _DOT_ATOM.match(local)
    if plain and domain in _DOMAINS:
        return f"{local}@{_DOMAINS[domain]}"
    try:
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Reject(f"is not a valid e-mail address ({exc})") from None
    if plain and checked.local_part == local:
        if len(_DOMAINS) > 10_000:
            _DOMAINS.clear()
        _DOMAINS[domain] = checked.domain
    return checked.normalized


def phone(value: Any, region: str) -> str | None:
    """A phone number normalised to E.164.

    Numbers without a ``+`` country prefix are read in ``region`` (the workspace's
    default, e.g. ``PK`` reads ``0300 1234567`` as ``+923001234567``).
    """
    raw = optional_text(value, 40)
    if raw is None:
        return None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise Reject(f"is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        where = phonenumbers.region_code_for_number(parsed) or region
        raise Reject(f"is not a valid phone number for region {where}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str | None, style: str = "international") -> str:
    """Show an E.164 number the way its country writes it (``+92 300 1234567``)."""
    if not e164:
        return ""
    parsed = phonenumbers.parse(e164, None)
    fmt = {
        "international": phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        "national": phonenumbers.PhoneNumberFormat.NATIONAL,
    }[style]
    return phonenumbers.format_number(parsed, fmt)


def country(value: Any) -> str | None:
    """An ISO 3166-1 alpha-2 country code (alpha-3 and English names are converted)."""
    raw = optional_text(value, 100)
    if raw is None:
        return None
    found = None
    if len(raw) == 2:
        found = pycountry.countries.get(alpha_2=raw.upper())
    elif len(raw) == 3:
        found = pycountry.countries.get(alpha_3=raw.upper())
    if found is None:
        try:
            found = pycountry.countries.lookup(raw)
        except LookupError:
            found = None
    if found is None:
        raise Reject("is not an ISO 3166 country code")
    return str(found.alpha_2)


def region(value: Any) -> str:
    """A phone-numbering region: an ISO country code that phonenumbers knows."""
    code = country(value)
    if code is None or code not in phonenumbers.SUPPORTED_REGIONS:
        raise Reject("is not a phone region (use an ISO country code such as PK, IN, RU)")
    return code


def currency(value: Any) -> str:
    """An ISO 4217 currency code such as PKR, INR, BDT, LKR, RUB, EUR or USD."""
    raw = optional_text(value, 3)
    if raw is None or pycountry.currencies.get(alpha_3=raw.upper()) is None:
        raise Reject("is not an ISO 4217 currency code")
    return raw.upper()


def language(value: Any) -> str | None:
    """A language tag: ISO 639 code, optionally with a region (``ur``, ``ur_PK``, ``bn-BD``)."""
    raw = optional_text(value, 16)
    if raw is None:
        return None
    lang, _, reg = raw.replace("-", "_").partition("_")
    lang = lang.lower()
    known = (
        pycountry.languages.get(alpha_2=lang)
        if len(lang) == 2
        else pycountry.languages.get(alpha_3=lang)
    )
    if known is None:
        raise Reject("is not an ISO 639 language code")
    if reg:
        return f"{lang}_{country(reg)}"
    return lang


def date_value(value: Any) -> dt.date | None:
    """A calendar date (a ``date`` or an ISO ``YYYY-MM-DD`` string)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        raise Reject("must be a date, not a date and time")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise Reject("is not a date in YYYY-MM-DD form") from None
    raise Reject(f"must be a date, not {type(value).__name__}")


def aware_datetime(value: Any) -> dt.datetime | None:
    """A timezone-aware datetime (or ISO string with offset), returned in UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise Reject("is not an ISO date and time") from None
    if not isinstance(value, dt.datetime):
        raise Reject(f"must be a date and time, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise Reject("has no timezone; give one, e.g. 2026-05-01T10:00+05:00")
    return value.astimezone(dt.UTC)


def decimal_value(
    value: Any, places: int = 2, minimum: Decimal | None = None, maximum: Decimal | None = None
) -> Decimal | None:
    """An exact decimal (floats are refused: they cannot hold money exactly)."""
    if value is None or value == "":
        return None
    if isinstance(value, (bool, float)):
        raise Reject("must be a Decimal, int or numeric string, not a float")
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise Reject("is not a number") from None
    if not number.is_finite():
        raise Reject("is not a finite number")
    quantum = Decimal(1).scaleb(-places)
    if number != number.quantize(quantum):
        raise Reject(f"has more than {places} decimal places")
    if minimum is not None and number < minimum:
        raise Reject(f"must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise Reject(f"must be at most {maximum}")
    return number.quantize(quantum)


def integer(value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number within bounds."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Reject("must be a whole number")
    try:
        number = int(value)
    except ValueError:
        raise Reject("must be a whole number") from None
    if minimum is not None and number < minimum:
        raise Reject(f"must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise Reject(f"must be at most {maximum}")
    return number


def boolean(value: Any) -> bool:
    """True or False (also the strings true/false/yes/no/1/0)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "1"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "no", "0"}:
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise Reject("must be true or false")


def one_of(value: Any, choices: tuple[str, ...] | list[str]) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise Reject(f"must be one of {', '.join(choices)}")
    return str(value)
