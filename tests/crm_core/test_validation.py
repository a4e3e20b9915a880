"""Validators and text folding: the formats and scripts our users write in."""

import contextlib
import datetime as dt
import re
from decimal import Decimal

import pytest

from crm_core import ValidationError, text
from crm_core import validation as v


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("0300 1234567", "PK", "+923001234567"),  # Pakistan mobile, national form
        ("+92 21 35123456", "US", "+922135123456"),  # Karachi landline, international
        ("098765 43210", "IN", "+919876543210"),  # India
        ("01712-345678", "BD", "+8801712345678"),  # Bangladesh
        ("077 123 4567", "LK", "+94771234567"),  # Sri Lanka
        ("8 (912) 345-67-89", "RU", "+79123456789"),  # Russia, trunk prefix 8
        ("030 12345678", "DE", "+493012345678"),  # Germany
        ("(415) 555-2671", "US", "+14155552671"),  # United States
        ("٠٣٠٠١٢٣٤٥٦٧", "PK", "+923001234567"),  # Arabic-Indic digits
    ],
)
def test_phone_numbers_normalise_to_e164(raw, region, e164):
    assert v.phone(raw, region) == e164


@pytest.mark.parametrize("raw", ["12", "abc", "+92 300", "0000000000"])
def test_invalid_phone_numbers_are_refused_with_the_reason(raw):
    with pytest.raises(v.Reject, match="phone number"):
        v.phone(raw, "PK")


def test_phone_is_shown_in_its_country_style():
    assert v.format_phone("+923001234567") == "+92 300 1234567"
    assert v.format_phone("+79123456789", "national") == "8 (912) 345-67-89"


def test_email_is_normalised_and_checked_without_dns():
    assert v.email("  Ravi.Kumar@Example.IN ") == "Ravi.Kumar@example.in"
    assert v.email(None) is None
    for bad in ("no-at-sign", "a@", "@b.com", "a b@c.com"):
        with pytest.raises(v.Reject, match="not a valid e-mail"):
            v.email(bad)


def test_country_codes():
    assert v.country("pk") == "PK"
    assert v.country("LKA") == "LK"
    assert v.country("Bangladesh") == "BD"
    with pytest.raises(v.Reject, match="ISO 3166"):
        v.country("XX")


def test_language_and_currency_codes():
    assert v.language("ur") == "ur"
    assert v.language("bn-BD") == "bn_BD"
    assert v.language("sd_PK") == "sd_PK"
    with pytest.raises(v.Reject):
        v.language("xx")
    assert v.currency("pkr") == "PKR"
    with pytest.raises(v.Reject, match="ISO 4217"):
        v.currency("RUR")


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU", "xag", "XDR", "XBA", "XSU", "XUA"])
def test_iso_codes_that_are_no_countrys_money_are_refused(code):
    """An amount in 'no currency', gold or a unit of account is no price: no rate ever
    converts it, and a report would carry it apart forever."""
    with pytest.raises(v.Reject, match=f"is {code.upper()} .*no country's money"):
        v.currency(code)


@pytest.mark.parametrize("code", ["XOF", "XAF", "XCD", "XPF", "PKR", "INR", "BDT", "LKR", "RUB"])
def test_currencies_countries_pay_in_are_taken(code):
    assert v.currency(code.lower()) == code


def test_a_deal_in_no_currency_is_refused_naming_the_field(ws):
    with pytest.raises(ValidationError) as refused:
        ws.pipeline.create("Looms", expected_revenue="100", currency="XXX")
    assert [(e.field, e.value) for e in refused.value.errors] == [("currency", "XXX")]


def test_decimals_are_exact_and_floats_refused():
    assert v.decimal_value("1,500,000.50") == Decimal("1500000.50")
    assert v.decimal_value(12) == Decimal("12.00")
    with pytest.raises(v.Reject, match="float"):
        v.decimal_value(0.1)
    with pytest.raises(v.Reject, match="decimal places"):
        v.decimal_value("1.005")
    with pytest.raises(v.Reject, match="at least 0"):
        v.decimal_value("-1", minimum=Decimal(0))


def test_dates_and_datetimes():
    assert v.date_value("2026-03-01") == dt.date(2026, 3, 1)
    with pytest.raises(v.Reject, match="YYYY-MM-DD"):
        v.date_value("01/03/2026")
    karachi = v.aware_datetime("2026-03-01T10:00+05:00")
    assert karachi == dt.datetime(2026, 3, 1, 5, 0, tzinfo=dt.UTC)
    with pytest.raises(v.Reject, match="no timezone"):
        v.aware_datetime(dt.datetime(2026, 3, 1, 10, 0))


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("STRASSE Straße", "strasse strasse"),
        ("ＩＶＡＮ", "ivan"),  # full-width Latin
        ("ИВАН Петров", "иван петров"),
        ("  عمران   خان ", "عمران خان"),
        ("কর\u200cিম", "করিম"),  # a zero-width non-joiner typed in Bengali
        ("e\u0301", "e"),  # a combining accent composes, then the accent goes
    ],
)
def test_fold_normalises_and_casefolds_every_script(raw, folded):
    assert text.fold(raw) == folded


def test_words_keep_combining_marks_inside_their_word():
    assert text.words("முருகன் செல்வம்") == ["முருகன்", "செல்வம்"]
    assert text.words("আব্দুল করিম") == ["আব্দুল", "করিম"]
    assert text.words("O'Brien-Smith & Co.") == ["o", "brien", "smith", "co"]


ADDRESSES = [
    "imran@indus.example.com",
    "Imran.Khan@Indus.Example.COM",
    "a+tag@indus.example.com",
    "o'brien@indus.example.com",
    "a..b@indus.example.com",
    ".a@indus.example.com",
    "a.@indus.example.com",
    "x" * 65 + "@indus.example.com",
    "user@localhost",
    "user@printer.local",
    "user@-bad.example.com",
    "user@exa_mple.com",
    "user@123.123",
    "কবির@বাংলা.example",
    "ivan@пример.рф",
    '"quoted"@indus.example.com',
    "two@@indus.example.com",
    "no-at-sign",
    "user@münchen.example",
    "USER@MÜNCHEN.EXAMPLE",
]


@pytest.mark.parametrize("warm", [False, True])
def test_email_answers_exactly_as_email_validator_with_or_without_the_domain_cache(warm):
    from email_validator import EmailNotValidError, validate_email

    v._DOMAINS.clear()
    if warm:  # every domain seen once through a valid address first
        for addr in ADDRESSES:
            domain = addr.rpartition("@")[2]
            with contextlib.suppress(v.Reject):
                v.email(f"warm@{domain}")
    for addr in ADDRESSES:
        try:
            expected = validate_email(addr, check_deliverability=False).normalized
        except EmailNotValidError:
            expected = None
        try:
            got = v.email(addr)
        except v.Reject:
            got = None
        assert got == expected, addr


def test_a_phone_is_read_in_each_region_in_turn_and_the_refusal_names_them():
    assert v.phone("01711 234567", "BD", "PK") == "+8801711234567"
    assert v.phone("0300 1234567", "AE", "PK") == "+923001234567"  # no number of AE's length
    # A number of the record's country's length, no valid one there, is a number of
    # that country mistyped: refused, not read as another country's (a sync stored
    # Odoo's US "(614)-177-4937" as the Pakistani +926141774937).
    with pytest.raises(v.Reject, match=r"for region US$"):
        v.phone("(614)-177-4937", "US", "PK")
    with pytest.raises(v.Reject, match=r"for region BD$"):
        v.phone("0300 1234567", "BD", "PK")
    assert v.phone("0300 1234567", None, "XX", "PK") == "+923001234567"  # not regions: skipped
    with pytest.raises(v.Reject, match="for region BD or PK"):
        v.phone("0123", "BD", "PK")
    with pytest.raises(v.Reject, match="for region US"):  # its own country code decides
        v.phone("+1 555 0000001", "BD", "PK")


@pytest.mark.parametrize(
    ("raw", "ext"),
    [
        ("+1 614-555-0142 ext. 345", "345"),
        ("614.555.0199 ext. 12", "12"),
        ("(614) 555-0199 x12", "12"),
        ("+92 300 1234567;ext=5", "5"),
    ],
)
def test_a_phone_with_an_extension_is_refused_naming_it_never_cut(raw, ext):
    # Stored as E.164 the extension was silently dropped (+16145550142): a number
    # that reaches someone else. Refused, it may be kept as written (keep=True).
    with pytest.raises(v.Reject, match=rf"has the extension {ext}\b") as refused:
        v.phone(raw, "US", "PK")
    assert refused.value.keep


def test_phone_readings_give_every_region_a_national_number_is_valid_in():
    readings = v.phone_readings("01711 234567")
    assert "BD" in readings["+8801711234567"]
    assert "DE" in readings["+491711234567"]
    assert v.phone_readings("+92 300 1234567") == {"+923001234567": {None}}
    assert v.phone_readings("12") == {}


def test_a_kept_phone_is_shown_as_written():
    assert v.format_phone("(198)-539-4948") == "(198)-539-4948"
    assert v.format_phone("+1 555 0000001") == "+1 555 0000001"


@pytest.mark.parametrize(
    ("raw", "stored", "changed"),
    [
        ("plain", "plain", None),
        ("a\x00b", "ab", "its NUL characters removed"),
        ("a\ud800b", "a\ufffdb", "lone surrogates replaced by U+FFFD"),
        ("\ud83d\ude00", "😀", "lone surrogates replaced by U+FFFD"),  # a pair: joined
        ("x\tline\x07", "x\tline\x07", None),  # controls are storable: kept
    ],
)
def test_storable_changes_only_what_no_database_stores(raw, stored, changed):
    assert v.storable(raw) == (stored, changed)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("a\x00", "NUL character"),
        ("a\ud800", "lone surrogate (U+D800)"),
        ("a\x1b[0m", "control character U+001B"),
        ("a\x85", "control character U+0085"),
        ("a\nb", "control character U+000A"),
    ],
)
def test_text_refuses_what_is_not_text(raw, reason):
    with pytest.raises(v.Reject, match=re.escape(reason)):
        v.optional_text(raw, 100)
    if raw == "a\nb":
        assert v.optional_text(raw, 100, multiline=True) == "a\nb"


@pytest.mark.parametrize("raw", ["\u200b\u200c", "\u0301\u0301", "\u200d \u034f", "\ufe0f"])
def test_a_required_text_of_nothing_visible_is_refused(raw):
    with pytest.raises(v.Reject, match="only invisible characters or lone accents"):
        v.required_text(raw, 100)


@pytest.mark.parametrize("raw", ["ـ", "-", "€", "٣", "ম", "é", "\u200bA"])
def test_a_required_text_with_one_visible_character_is_taken(raw):
    assert v.required_text(raw, 100)


@pytest.mark.parametrize("raw", ["1e30", "NaN", "Infinity", "1_000", "3٤", "1,5", "0x10", "²"])
def test_exotic_numbers_are_not_numbers(raw):
    with pytest.raises(v.Reject):
        v.decimal_value(raw)
    with pytest.raises(v.Reject):
        v.integer(raw)


def test_digits_of_any_one_script_are_numbers():
    assert v.decimal_value("٣٤") == Decimal("34.00")
    assert v.decimal_value("১,৫০০.৫") == Decimal("1500.50")
    assert v.integer("३") == 3  # Devanagari
    assert v.money("9999999999999.99") == Decimal("9999999999999.99")
    with pytest.raises(v.Reject, match="15 significant digits"):
        v.money("10000000000000")


def test_dates_out_of_range_are_refused():
    assert v.date_value("1800-01-01") == dt.date(1800, 1, 1)
    for raw in ("1799-12-31", "3000-01-01", dt.date.max):
        with pytest.raises(v.Reject, match="out of range"):
            v.date_value(raw)
    with pytest.raises(v.Reject, match="out of range"):
        v.aware_datetime("9999-12-31T23:59-05:00")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("abc", "it holds no number"),
        ("+999 12345", "its country code is unknown"),
        ("1" * 30, "too long"),
    ],
)
def test_an_unreadable_phone_is_refused_in_words_not_the_librarys(raw, why):
    """phonenumbers' own message ("(1) The string supplied did not seem to be a phone
    number.") reached the app's English refusals."""
    with pytest.raises(v.Reject) as refused:
        v.phone(raw, "PK")
    assert str(refused.value) == f"is not a phone number ({why})"
