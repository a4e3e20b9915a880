"""Validators for built-in and custom fields.

Each validator takes a raw value and returns the value to store, or raises
:class:`Reject` with the reason. Services collect rejections into one
:class:`~crm_core.errors.ValidationError` that names record, field, value and reason.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

from crm_core import text
from crm_core.models.base import money_value
from crm_core.money import minor_units, quantize


class Reject(ValueError):
    """A single value was refused; the message is the reason.

    ``keep`` says whether a text that arrived from elsewhere (an ERP, a file) may be
    kept as written despite this refusal, marked as not validated: true for what a
    person could not have typed (a phone that is no valid number, a name too long),
    false when there is nothing to keep (a required value missing).
    """

    def __init__(self, reason: str, *, keep: bool = True):
        super().__init__(reason)
        self.keep = keep


# Characters no text field stores: C0 and C1 controls, DEL, surrogate code points
# (which cannot be encoded as UTF-8, so no database can store them) and the invisible
# direction controls (embeddings, overrides, isolates: U+202A-U+202E, U+2066-U+2069):
# one reorders how the rest of its line is shown ("evil\u202egnp.exe" shows as
# "evilexe.png"; a note's "PKR \u202e000,05" reads "PKR 50,000" to the next user).
# Urdu and Arabic need none of them; the marks U+200E/U+200F (LRM, RLM) stay allowed.
# Multi-line fields (notes, descriptions) also take tab, line feed and carriage return.
DIRECTION_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_NOT_TEXT = re.compile(f"[\x00-\x1f\x7f-\x9f{DIRECTION_CONTROLS}\ud800-\udfff]")
_NOT_TEXT_MULTILINE = re.compile(
    f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{DIRECTION_CONTROLS}\ud800-\udfff]"
)
# What a database cannot store at all: NUL (PostgreSQL refuses it in text, SQLite's
# text functions stop at it) and surrogates.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refuse_character(ch: str) -> Reject:
    code = f"U+{ord(ch):04X}"
    if "\ud800" <= ch <= "\udfff":
        return Reject(f"contains a lone surrogate ({code}), which is not text")
    if ch == "\x00":
        return Reject("contains a NUL character (U+0000)")
    if "\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069":
        return Reject(
            f"contains the invisible direction control {code}, which reorders how the text is shown"
        )
    return Reject(f"contains the control character {code}")


def check_text(value: str, multiline: bool = False) -> None:
    """Refuse text holding a character no field stores: NUL, another control
    character (tab and line breaks are allowed in multi-line fields) or a surrogate."""
    found = (_NOT_TEXT_MULTILINE if multiline else _NOT_TEXT).search(value)
    if found is not None:
        raise _refuse_character(found.group())


def storable(value: str) -> tuple[str, str | None]:
    """``value`` as a database can store it, and what had to change (None: nothing).

    NUL characters are removed; a surrogate pair is joined into the character it
    encodes, a lone surrogate becomes U+FFFD. Everything else is left as it is.
    """
    if _UNSTORABLE.search(value) is None:
        return value, None
    notes = []
    if "\x00" in value:
        notes.append("its NUL characters removed")
        value = value.replace("\x00", "")
    if _UNSTORABLE.search(value) is not None:
        notes.append("lone surrogates replaced by U+FFFD")
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value, " and ".join(notes)


def query_text(value: Any) -> str | None:
    """A search value: text a database can be asked about (None passes)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Reject(f"must be text, not {type(value).__name__}")
    found = _UNSTORABLE.search(value)
    if found is not None:
        raise _refuse_character(found.group())
    return value


def required_text(value: Any, max_len: int, multiline: bool = False) -> str:
    """Non-empty text, NFC-normalised and stripped, at most ``max_len`` characters,
    with something to see: a letter, digit, punctuation or symbol (a name of zero-width
    joiners or lone combining accents would show as a blank)."""
    out = optional_text(value, max_len, multiline)
    if out is None:
        raise Reject("is required", keep=False)
    if not any(unicodedata.category(ch)[0] in "LNPS" for ch in out):
        raise Reject("is required: it holds only invisible characters or lone accents", keep=False)
    return out


def optional_text(value: Any, max_len: int, multiline: bool = False) -> str | None:
    """Text or None, NFC-normalised and stripped, at most ``max_len`` characters.

    Control characters are refused (tab and line breaks only in ``multiline`` text),
    NUL and surrogates everywhere.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise Reject(f"must be text, not {type(value).__name__}")
    check_text(value, multiline)
    out = text.clean(value)
    if out is not None and len(out) > max_len:
        raise Reject(f"is longer than {max_len} characters")
    return out


# A plain ASCII local part (RFC 5322 dot-atom), which email-validator keeps as given.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
# Domains email-validator accepted, as it normalised them: most addresses of a base
# share a few domains, and checking a domain is most of the cost of a check.
_DOMAINS: dict[str, str] = {}
# Domains it refused after a plain local part, with its reason: with such a local part
# the domain is what was wrong, whatever the local part (an ERP's base repeats them:
# "intranet.local", "example.test").
_BAD_DOMAINS: dict[str, str] = {}


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
    if plain and domain in _BAD_DOMAINS:
        raise Reject(_BAD_DOMAINS[domain])
    try:
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        reason = f"is not a valid e-mail address ({exc})"
        if plain:
            if len(_BAD_DOMAINS) > 10_000:
                _BAD_DOMAINS.clear()
            _BAD_DOMAINS[domain] = reason
        raise Reject(reason) from None
    if plain and checked.local_part == local:
        if len(_DOMAINS) > 10_000:
            _DOMAINS.clear()
        _DOMAINS[domain] = checked.domain
    return checked.normalized


#: Why phonenumbers could not read a number, in this module's words (its own
#: messages are worded for developers: "(1) The string supplied did not seem to be a
#: phone number.").
_PARSE_PROBLEMS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "its country code is unknown",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "it holds no number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


def phone(value: Any, *regions: str | None) -> str | None:
    """A phone number normalised to E.164.

    A number without a ``+`` country prefix is read in each of ``regions`` in turn
    (the record's own country first, then the workspace's default; one that is not a
    phone region is skipped) and the first reading that is a valid number wins: with
    ``PK``, ``0300 1234567`` is ``+923001234567``; with ``BD, PK``, ``01711 234567`` is
    ``+8801711234567``. A number that has the length of a region's landline or mobile
    numbers but is no valid one there is not read in the later regions: with ``US,
    PK``, ``(614) 177-4937`` is refused as no valid US number, not taken for the
    Pakistani ``+926141774937``.

    A number with an extension (``+1 614-555-0142 ext. 345``, ``x12``, ``;ext=5``) is
    refused, naming the extension: a phone holds one E.164 number, which has no room
    for it, and a number without it reaches someone else. Refused as a value that came
    from elsewhere may be (``keep``), it is kept as written and marked, never stored
    without its extension; and it is no key a record is matched by
    (:mod:`crm_core.keys`).
    """
    raw = optional_text(value, 40)
    if raw is None:
        return None
    tried: list[str | None] = [r for r in dict.fromkeys(regions) if r in _PHONE_REGIONS]
    parsed = None
    problem: phonenumbers.NumberParseException | None = None
    for region in tried or [None]:
        try:
            candidate = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException as exc:
            problem = problem or exc
            continue
        if candidate.extension:
            raise Reject(
                f"has the extension {candidate.extension}, which a phone number here cannot "
                "hold: enter the number without it and put the extension in the notes"
            )
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
        parsed = parsed or candidate
        if phonenumbers.is_possible_number_for_type(candidate, _LANDLINE_OR_MOBILE):
            tried = tried[: tried.index(region) + 1]  # a number of there, mistyped
            break
    if parsed is None:
        why = _PARSE_PROBLEMS.get(problem.error_type, "unreadable") if problem else "unreadable"
        raise Reject(f"is not a phone number ({why})")
    if not raw.startswith(("+", "\uff0b")):  # read in the regions tried
        where = " or ".join(r for r in tried if r is not None)
    else:  # written with its country code: that code's region, whatever the record's
        code = parsed.country_code or 0
        where = phonenumbers.region_code_for_country_code(code)
        where = f"+{code}" if where == "ZZ" else where
    raise Reject(f"is not a valid phone number for region {where or 'unknown'}")


_PHONE_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
_LANDLINE_OR_MOBILE = phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE
_E164 = re.compile(r"\+[0-9]{2,15}")


def phone_readings(value: str) -> dict[str, set[str | None]]:
    """Every E.164 number ``value`` can be read as, with the regions reading it so.

    A number written with its ``+`` country prefix has one reading, for any region
    (None). A national-format number is read in every phone region; what a search
    then matches is each reading on records of its region. (Reading one number in
    every region takes some 15 ms: the answers are remembered.)
    """
    raw = text.clean(value)
    if raw is None or len(raw) > 40:
        return {}
    return {e164: set(regions) for e164, regions in _readings(raw)}


@functools.lru_cache(maxsize=4096)
def _readings(raw: str) -> tuple[tuple[str, frozenset[str | None]], ...]:
    found: dict[str, set[str | None]] = {}
    if raw.startswith(("+", "\uff0b")):
        try:
            number = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException:
            return ()
        if phonenumbers.is_valid_number(number):
            found[phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)] = {None}
        return tuple((e164, frozenset(regions)) for e164, regions in found.items())
    for region in sorted(_PHONE_REGIONS):
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            found.setdefault(e164, set()).add(region)
    return tuple((e164, frozenset(regions)) for e164, regions in found.items())


def format_phone(e164: str | None, style: str = "international") -> str:
    """Show an E.164 number the way its country writes it (``+92 300 1234567``).

    A phone kept as its source wrote it (not a valid number) is shown as it is.
    """
    if not e164:
        return ""
    if not _E164.fullmatch(e164):
        return e164
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
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


@functools.cache
def _legal_tenders() -> frozenset[str]:
    """The currencies some country pays in today (CLDR's territory currencies, as Babel
    ships them): XOF and XCD are among them, gold (XAU) and 'no currency' (XXX) not."""
    from babel.core import get_global

    return frozenset(
        code
        for entries in get_global("territory_currencies").values()
        for code, _start, end, tender in entries
        if tender and end is None
    )


def currency(value: Any) -> str:
    """An ISO 4217 currency code such as PKR, INR, BDT, LKR, RUB, EUR or USD.

    ISO's X codes that are no country's money are refused: precious metals (XAU),
    units of account (XDR), the testing code XTS and XXX, 'no currency': no rate ever
    converts them, and an amount in one is no price."""
    raw = optional_text(value, 3)
    found = pycountry.currencies.get(alpha_3=raw.upper()) if raw else None
    if found is None:
        raise Reject("is not an ISO 4217 currency code")
    code = str(found.alpha_3)
    if code.startswith("X") and code not in _legal_tenders():
        raise Reject(f"is {code} ({found.name}), which is no country's money")
    return code


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


#: The dates crmbook keeps: any real business date, with room on both sides so that
#: every period computed from one (a month, a quarter, a shift of time zone) is a date
#: too. A year such as 0226 or 20260 is a typing mistake, refused with this range.
DATE_MIN = dt.date(1800, 1, 1)
DATE_MAX = dt.date(2999, 12, 31)
_DATE_RANGE = f"is out of range: dates run from {DATE_MIN} to {DATE_MAX}"


#: A date written YYYY-MM-DD (ASCII digits), whether or not it is a day of the calendar.
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: Why a date in the YYYY-MM-DD form is refused when the calendar has no such day.
NO_DAY = "is no day of the calendar"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def date_value(value: Any) -> dt.date | None:
    """A calendar date (a ``date`` or an ISO ``YYYY-MM-DD`` string) within
    :data:`DATE_MIN`..:data:`DATE_MAX`."""
    if _blank(value):
        return None
    if isinstance(value, dt.datetime):
        raise Reject("must be a date, not a date and time")
    if isinstance(value, str):
        check_text(value)
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            if _ISO_DAY.fullmatch(value.strip()):  # 2026-02-30: the form, but no day
                raise Reject(NO_DAY) from None
            raise Reject("is not a date in YYYY-MM-DD form") from None
    if not isinstance(value, dt.date):
        raise Reject(f"must be a date, not {type(value).__name__}")
    if not DATE_MIN <= value <= DATE_MAX:
        raise Reject(_DATE_RANGE)
    return value


def _no_day(iso: str) -> bool:
    """Whether ``iso`` (YYYY-MM-DD) names no day of the calendar (2026-02-30)."""
    try:
        dt.date.fromisoformat(iso)
    except ValueError:
        return True
    return False


def aware_datetime(value: Any) -> dt.datetime | None:
    """A timezone-aware datetime (or ISO string with offset), returned in UTC, on a
    date within :data:`DATE_MIN`..:data:`DATE_MAX`."""
    if _blank(value):
        return None
    if isinstance(value, str):
        check_text(value)
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            if _ISO_DAY.match(value.strip()) and _no_day(value.strip()[:10]):
                raise Reject(NO_DAY) from None
            raise Reject("is not an ISO date and time") from None
    if not isinstance(value, dt.datetime):
        raise Reject(f"must be a date and time, not {type(value).__name__}")
    try:
        if value.tzinfo is None or value.utcoffset() is None:
            raise Reject("has no timezone; give one, e.g. 2026-05-01T10:00+05:00")
        utc = value.astimezone(dt.UTC)
    except OverflowError:
        # 9999-12-31T23:59-05:00 is in year 10000 in UTC: beyond any date type.
        raise Reject(_DATE_RANGE) from None
    if not DATE_MIN <= utc.date() <= DATE_MAX:
        raise Reject(_DATE_RANGE)
    return utc


# Numbers written as text: an optional sign, digits (of any one script: 34, ٣٤ and
# ৩৪ are all thirty-four), optionally grouped with commas by thousands (1,234,567) or
# by lakh and crore (12,34,567, as crmbook writes INR, PKR and BDT amounts where the
# workspace asks), and for decimals a point and the fraction. Arabic thousands
# (U+066C) and decimal (U+066B) separators read as comma and point. Anything else
# (exponents such as 1e30, NaN, Infinity, Python's 1_000, spaces inside, a comma as
# decimal separator) is refused: each is either not a number a person writes or
# ambiguous.
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d{1,2}(?:,\d{2})*,\d{3}|\d+)?(?:\.\d*)?")
_ARABIC_SEPARATORS = str.maketrans("\u066c\u066b", ",.")


def _ascii_digits(raw: str) -> str:
    """``raw`` with its digits in ASCII; refuses digits of two scripts in one number."""
    zeros = {ord(ch) - int(ch) for ch in raw if ch.isdecimal()}
    if len(zeros) > 1:
        raise Reject("mixes digits of different scripts")
    if not zeros or zeros == {ord("0")}:
        return raw
    zero = zeros.pop()
    return "".join(str(ord(ch) - zero) if ch.isdecimal() else ch for ch in raw)


def _number_text(value: str, grammar: re.Pattern[str]) -> str:
    raw = value.strip().translate(_ARABIC_SEPARATORS)
    if not grammar.fullmatch(raw) or not any(ch.isdecimal() for ch in raw):
        raise Reject("is not a number")
    return _ascii_digits(raw).replace(",", "")


def exact_number(value: Any) -> Decimal | None:
    """A finite Decimal from text (see ``_DECIMAL``), an int or a Decimal; None if blank;
    floats refused. No limit on its digits: callers say what fits."""
    return _decimal(value)


def _decimal(value: Any) -> Decimal | None:
    """A finite Decimal from text (see ``_DECIMAL``), an int or a Decimal; None if blank."""
    if _blank(value):
        return None
    if isinstance(value, (bool, float)):
        raise Reject("must be a Decimal, int or numeric string, not a float")
    if isinstance(value, str):
        number = Decimal(_number_text(value, _DECIMAL))
    elif isinstance(value, Decimal | int):
        number = Decimal(value)
    else:
        raise Reject(f"must be a number, not {type(value).__name__}")
    if not number.is_finite():
        raise Reject("is not a finite number")
    return number


def decimal_value(
    value: Any, places: int = 2, minimum: Decimal | None = None, maximum: Decimal | None = None
) -> Decimal | None:
    """An exact decimal (floats are refused: they cannot hold money exactly).

    Text is read as described at ``_DECIMAL`` (``1,500,000.50``; ``١٥٠٠``); a
    ``Decimal`` must be finite. At most 28 significant digits (decimal arithmetic's).
    """
    number = _decimal(value)
    if number is None:
        return None
    if number.adjusted() + places >= 28:
        raise Reject("is too large (more than 28 significant digits)")
    quantum = Decimal(1).scaleb(-places)
    try:
        exact = number.quantize(quantum)
    except InvalidOperation:  # pragma: no cover - excluded by the check above
        raise Reject("has too many digits") from None
    if number != exact:
        raise Reject(f"has more than {places} decimal places")
    if minimum is not None and number < minimum:
        raise Reject(f"must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise Reject(f"must be at most {maximum}")
    return exact


#: Money is kept exactly below this amount: 15 significant digits with the cents, all
#: that SQLite (which holds NUMERIC as a double) keeps exactly. PostgreSQL could keep
#: more; the limit is the same on both so a workspace moves between them unchanged. A
#: currency with more minor units has a lower limit (:func:`currency_amount`).
MONEY_LIMIT = Decimal(10) ** 13


def money(value: Any, minimum: Decimal | None = Decimal(0)) -> Decimal | None:
    """An amount of money below :data:`MONEY_LIMIT` (None if blank), as given: whether
    its decimals fit its currency is :func:`currency_amount`'s to say (it needs the
    currency, which another field may give)."""
    number = _decimal(value)
    if number is None:
        return None
    if abs(number) >= MONEY_LIMIT:
        raise Reject(
            "is too large: amounts are kept exactly only below 10,000,000,000,000 "
            "(15 significant digits with the cents)"
        )
    if minimum is not None and number < minimum:
        raise Reject(f"must be at least {minimum}")
    return number


def currency_amount(amount: Decimal, currency: str, *, rounded: bool = False) -> Decimal:
    """``amount`` in ``currency``'s minor units (KWD 3 decimals, JPY none), as a Money
    column keeps it (:func:`~crm_core.models.base.money_value`).

    Typed by a person (or read from a file), an amount with more decimals than its
    currency has is refused, naming the currency's decimals: ``1.2345`` KWD is no
    amount a Kuwaiti invoice can carry. ``rounded`` (what an ERP sends, where the
    books already rounded it and a float may add a binary tail) rounds half up to
    the currency's minor units instead.
    """
    places = minor_units(currency)
    limit = Decimal(10) ** (15 - max(2, places))
    if not amount.is_finite():
        raise Reject("is not a finite number")
    if abs(amount) >= limit:
        raise Reject(
            f"is too large: {currency} amounts are kept exactly only below {limit:,} "
            f"(15 significant digits with the {places} decimals)"
        )
    exact = quantize(amount, currency)
    if abs(exact) >= limit:  # 999.9995 KWD rounds up to the limit
        raise Reject(f"is too large: {currency} amounts are kept exactly only below {limit:,}")
    if exact != amount and not rounded:
        given = -min(0, int(amount.as_tuple().exponent))  # as written: 1500.50 has two
        have = f"{places} decimal place{'s' if places != 1 else ''}" if places else "none"
        raise Reject(
            f"has {given} decimal place{'s' if given != 1 else ''}, but {currency} "
            f"amounts have {have} (such as {exact})"
        )
    return money_value(exact)


def integer(value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number within bounds (text: an optional sign and digits of one script)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Reject("must be a whole number")
    if isinstance(value, str):
        try:
            value = _number_text(value, _INTEGER)
        except Reject:
            raise Reject("must be a whole number") from None
    number = int(value)
    if minimum is not None and number < minimum:
        raise Reject(f"must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise Reject(f"must be at most {maximum}")
    return number


#: Record ids are 32-bit on PostgreSQL: anything outside 1..MAX_ID names no record.
MAX_ID = 2**31 - 1


def is_id(value: Any) -> bool:
    """Whether ``value`` could be a record's id (an int, not a bool, in 1..MAX_ID)."""
    return type(value) is int and 0 < value <= MAX_ID


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
    if not isinstance(value, str) or value not in choices:
        raise Reject(f"must be one of {', '.join(choices)}")
    return value
