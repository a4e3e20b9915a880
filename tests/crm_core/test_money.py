"""Money across currencies: the rate table, conversions against hand-worked figures,
minor units, formatting, and ``ws.rates`` (set, list, import, access) on both backends."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import openpyxl
import pytest

from crm_core.errors import AccessDenied, ValidationError
from crm_core.imports.reading import FileError
from crm_core.money import MissingRate, Rates, format_amount, minor_units, quantize

D = Decimal
JAN1, FEB1, FEB10 = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 2, 10)

# A table relative to USD, as an ERP whose company currency is USD keeps it:
# 1 USD = 0.90 EUR from 1 Jan, 0.92 EUR from 1 Feb; 1 USD = 300 LKR from 1 Jan,
# 310 LKR from 10 Feb.
USD_TABLE = [
    ("EUR", "USD", JAN1, D("0.90")),
    ("EUR", "USD", FEB1, D("0.92")),
    ("LKR", "USD", JAN1, D("300")),
    ("LKR", "USD", FEB10, D("310")),
]


# -- conversions, hand-worked -----------------------------------------------------------
def test_cross_rate_lkr_to_eur_through_the_usd_base_on_the_records_date():
    rates = Rates(USD_TABLE, "EUR")
    # 15 Feb: 1 LKR = 0.92 / 310 EUR; 1,000,000 LKR = 920,000 / 310 = 2,967.741935... EUR
    assert rates.convert(D("1000000"), "LKR", dt.date(2026, 2, 15)) == D("2967.74")
    # 5 Feb: EUR has its 1 Feb rate, LKR still its 1 Jan one: 920,000 / 300 = 3,066.666...
    assert rates.convert(D("1000000"), "LKR", dt.date(2026, 2, 5)) == D("3066.67")
    # 15 Jan: 900,000 / 300 = 3,000 exactly
    assert rates.convert(D("1000000"), "LKR", dt.date(2026, 1, 15)) == D("3000.00")
    assert rates.rate("LKR", dt.date(2026, 1, 15)) == D("0.003")
    # USD itself: 1 USD = 0.92 EUR on 1 Feb; the reporting currency is 1 by definition
    assert rates.convert(D("250.00"), "USD", FEB1) == D("230.00")
    assert rates.rate("EUR", dt.date(1990, 1, 1)) == 1


def test_the_other_way_round_eur_to_lkr_divides():
    rates = Rates(USD_TABLE, "LKR")
    # 15 Feb: 1 EUR = 310 / 0.92 LKR = 336.956521...; 100 EUR = 33,695.65 LKR
    assert rates.convert(D("100"), "EUR", dt.date(2026, 2, 15)) == D("33695.65")
    # 1 USD = 300 LKR on 1 Jan: the base's own row read the other way
    assert rates.convert(D("2.50"), "USD", JAN1) == D("750.00")


def test_a_rate_given_against_the_reporting_currency_and_read_back_inverted():
    # `crmbook rates set EUR 2026-01-31 0.0031 --base PKR`: 1 PKR = 0.0031 EUR
    table = [("EUR", "PKR", dt.date(2026, 1, 31), D("0.0031"))]
    # 1,000 EUR = 1,000 / 0.0031 PKR = 322,580.645161... -> 322,580.65
    assert Rates(table, "PKR").convert(D("1000"), "EUR", dt.date(2026, 3, 1)) == D("322580.65")
    # 50,000 PKR = 155 EUR exactly
    assert Rates(table, "EUR").convert(D("50000"), "PKR", dt.date(2026, 3, 1)) == D("155.00")


def test_no_rate_before_the_date_is_named_never_taken_as_one():
    rates = Rates(USD_TABLE, "EUR")
    with pytest.raises(MissingRate) as caught:
        rates.convert(D("5"), "LKR", dt.date(2025, 12, 31))
    err = caught.value
    assert (err.currency, err.on, err.reporting) == ("LKR", dt.date(2025, 12, 31), "EUR")
    assert str(err).startswith("no exchange rate for LKR on or before 2025-12-31 (to EUR)")
    assert "crmbook rates set LKR" in str(err)
    # A currency the table does not know at all, and a record without a date
    with pytest.raises(MissingRate, match="no exchange rate for RUB on or before 2026-03-01"):
        rates.rate("RUB", dt.date(2026, 3, 1))
    with pytest.raises(MissingRate, match=re.escape("LKR (the record has no date)")):
        rates.convert(D("5"), "LKR", None)
    # try_convert: None, and the misses remembered, each currency from its earliest date
    assert rates.try_convert(D("5"), "LKR", dt.date(2025, 12, 31)) is None
    assert rates.try_convert(D("5"), "LKR", dt.date(2025, 11, 2)) is None
    assert rates.try_convert(D("7"), "RUB", dt.date(2026, 1, 15)) is None
    assert rates.try_convert(D("1000000"), "LKR", dt.date(2026, 1, 15)) == D("3000.00")
    assert rates.missing == {
        ("LKR", dt.date(2025, 12, 31)),
        ("LKR", dt.date(2025, 11, 2)),
        ("RUB", dt.date(2026, 1, 15)),
    }
    assert rates.missing_text() == (
        "no rate for LKR on or before 2025-11-02, RUB on or before 2026-01-15 (to EUR)"
    )
    assert Rates(USD_TABLE, "EUR").missing_text() == ""


def test_a_reporting_currency_missing_from_the_table_is_a_missing_rate():
    rates = Rates(USD_TABLE, "GBP")  # no GBP row: LKR cannot reach it
    with pytest.raises(
        MissingRate, match=re.escape("no exchange rate for GBP on or before 2026-02-15")
    ) as caught:
        rates.convert(D("1"), "LKR", dt.date(2026, 2, 15))
    assert caught.value.missing == "GBP"


def test_kwd_keeps_three_decimals_and_jpy_none_rounding_half_up():
    kwd = Rates([("KWD", "USD", JAN1, D("0.307"))], "KWD")
    # 1.5 USD x 0.307 = 0.4605 KWD -> 0.461 (half up; half-even would give 0.460)
    assert kwd.convert(D("1.5"), "USD", FEB1) == D("0.461")
    # 1,234.56 USD x 0.307 = 379.00992 -> 379.010
    assert str(kwd.convert(D("1234.56"), "USD", FEB1)) == "379.010"
    jpy = Rates([("JPY", "USD", JAN1, D("150.5"))], "JPY")
    # 1 USD = 150.5 JPY -> 151 (half up; half-even would give 150)
    assert jpy.convert(D("1"), "USD", FEB1) == D("151")
    # 10.01 USD = 1,506.505 JPY -> 1,507, written without decimals
    assert str(jpy.convert(D("10.01"), "USD", FEB1)) == "1507"
    # JPY to USD: 100,000 JPY / 150.5 = 664.4518... USD
    usd = Rates([("JPY", "USD", JAN1, D("150.5"))], "USD")
    assert usd.convert(D("100000"), "JPY", FEB1) == D("664.45")


def test_amounts_must_be_exact():
    rates = Rates(USD_TABLE, "EUR")
    with pytest.raises(ValidationError, match="must be a Decimal"):
        rates.convert(0.1, "USD", FEB1)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="finite"):
        rates.convert(D("NaN"), "USD", FEB1)
    assert rates.convert(3, "USD", FEB1) == D("2.76")


# -- minor units and formatting -----------------------------------------------------------
def test_minor_units_from_babel_and_iso_4217():
    assert [minor_units(c) for c in ("JPY", "KWD", "BHD", "OMR", "EUR", "PKR", "LKR")] == [
        0,
        3,
        3,
        3,
        2,
        2,
        2,
    ]
    # CLDR shows IQD and IDR without decimals; their ISO 4217 minor units are 3 and 2
    assert (minor_units("IQD"), minor_units("IDR"), minor_units("jpy")) == (3, 2, 0)
    assert quantize(D("2.5"), "JPY") == D("3")
    assert str(quantize(D("1.2345"), "KWD")) == "1.235"
    assert str(quantize(D("7"), "BHD")) == "7.000"


def test_format_amount_with_babel_and_lakh_crore_grouping():
    assert format_amount(D("123456789.5"), "INR", grouping="indian") == "₹12,34,56,789.50"
    assert format_amount(D("123456789.5"), "INR") == "₹123,456,789.50"
    assert format_amount(D("12345678.9"), "PKR", grouping="auto") == "PKR1,23,45,678.90"
    assert format_amount(D("12345678.9"), "EUR", grouping="auto") == "€12,345,678.90"
    assert format_amount(D("1234.5"), "KWD") == "KWD1,234.500"
    assert format_amount(D("1234.5"), "JPY") == "¥1,235"
    assert format_amount(D("-1234.5"), "EUR", locale="de_DE") == "-1.234,50\xa0€"
    with pytest.raises(ValidationError, match="locale"):
        format_amount(D("1"), "EUR", locale="xx_nowhere")


# -- the workspace's table ----------------------------------------------------------------
def test_set_list_and_load_on_both_backends(ws):
    ws.set_setting("currency", "EUR")
    row = ws.rates.set("LKR", "2026-01-01", "300", base="USD")
    assert (row["currency"], row["base"], row["rate"], row["source"]) == (
        "LKR",
        "USD",
        D("300"),
        "manual",
    )
    ws.rates.set("EUR", dt.date(2026, 1, 1), D("0.90"), base="USD")
    # 15 significant digits are kept exactly on both backends; more are rounded to them
    ws.rates.set("RUB", "2026-01-01", "98.1234567890123", base="USD")
    ws.rates.set("INR", "2026-01-01", "83.12345678901234567", base="USD")
    # without a base: one unit of the reporting currency (EUR)
    ws.rates.set("PKR", "2026-01-02", "310.5")
    frame = ws.rates.list()
    assert frame[["currency", "base", "day"]].values.tolist() == [
        ["EUR", "USD", JAN1],
        ["INR", "USD", JAN1],
        ["LKR", "USD", JAN1],
        ["RUB", "USD", JAN1],
        ["PKR", "EUR", dt.date(2026, 1, 2)],
    ]
    rates = dict(zip(frame["currency"], frame["rate"], strict=True))
    assert rates["RUB"] == D("98.1234567890123")
    assert rates["INR"] == D("83.1234567890123")
    assert ws.rates.list("PKR")["rate"].tolist() == [D("310.5")]
    assert ws.rates.list("USD")["currency"].tolist() == ["EUR", "INR", "LKR", "RUB"]
    # setting the same pair and day again replaces its rate
    ws.rates.set("LKR", "2026-01-01", "301", base="USD")
    assert ws.rates.list("LKR")["rate"].tolist() == [D("301")]
    loaded = ws.rates.load()
    assert loaded.reporting == "EUR"
    # 602,000 LKR = 2,000 USD = 1,800 EUR; 3,105 PKR = 10 EUR
    assert loaded.convert(D("602000"), "LKR", dt.date(2026, 6, 1)) == D("1800.00")
    assert loaded.convert(D("3105"), "PKR", dt.date(2026, 6, 1)) == D("10.00")
    # a report run in another currency: 1,000 EUR = 310,500 PKR
    assert ws.rates.load("pkr").convert(D("1000"), "EUR", FEB1) == D("310500.00")
    ws.rates.remove("LKR", "2026-01-01", base="USD")
    assert ws.rates.list("LKR").empty


def test_bad_rates_are_refused_by_name(ws):
    with pytest.raises(ValidationError) as caught:
        ws.rates.set("EUX", "2026-13-01", "-1", base="USD")
    text = str(caught.value)
    assert "'currency' value 'EUX': is not an ISO 4217 currency code" in text
    assert "'date' value '2026-13-01': is no day of the calendar" in text
    assert "'rate' value '-1': must be more than 0" in text
    for bad in ("0", "abc", 1.5):
        with pytest.raises(ValidationError, match="rate"):
            ws.rates.set("EUR", "2026-01-01", bad, base="USD")
    with pytest.raises(ValidationError, match="is the currency itself"):
        ws.rates.set("USD", "2026-01-01", "1", base="USD")
    with pytest.raises(ValidationError, match="source"):
        ws.rates.set("EUR", "2026-01-01", "1", source="guess", base="USD")
    assert ws.rates.list().empty


@pytest.mark.parametrize("tiny", ["1e-9999", "1e-19", "1E-13", "0.0000000000001"])
def test_a_rate_too_small_to_keep_is_refused_not_stored_as_zero(ws, tiny):
    """The rate column keeps 18 decimal places: 1e-9999 was stored as 0 (and the
    conversions fell back to an older rate without a word)."""
    with pytest.raises(ValidationError) as caught:
        ws.rates.set("CHF", "2026-04-07", tiny, base="USD")
    [error] = caught.value.errors
    assert error.field == "rate" and error.reason.startswith("is too small: a rate must be")
    assert ws.rates.list().empty


def test_rate_limits_are_said_as_they_are(ws):
    ws.rates.set("CHF", "2026-04-07", "0.00000001", base="USD")
    ws.rates.set("JPY", "2026-04-07", "99999999.9999999", base="USD")
    assert ws.rates.list()["rate"].tolist() == [Decimal("1E-8"), Decimal("99999999.9999999")]
    with pytest.raises(ValidationError, match="is too large: a rate must be below 100000000"):
        ws.rates.set("JPY", "2026-04-08", "100000000", base="USD")
    with pytest.raises(ValidationError, match="has more than 18 decimal places"):
        ws.rates.set("EUR", "2026-04-08", "0.1234567890123456789", base="USD")


def test_amounts_written_in_lakh_and_crore_are_read_back(ws):
    """crmbook writes INR, PKR and BDT amounts as 12,34,567.50 where the workspace asks;
    what it writes can be typed back in."""
    ws.pipeline.ensure_default()
    deal = ws.pipeline.create("Looms", expected_revenue="12,34,567.50", currency="INR")
    assert ws.pipeline.get(deal["id"])["expected_revenue"] == Decimal("1234567.50")
    crore = ws.pipeline.create("Mills", expected_revenue="1,23,45,678", currency="PKR")
    assert ws.pipeline.get(crore["id"])["expected_revenue"] == Decimal("12345678")
    for ambiguous in ("1,5", "12,34", "123,45,678"):
        with pytest.raises(ValidationError, match="is not a number"):
            ws.pipeline.create("Bad", expected_revenue=ambiguous, currency="INR")


def test_everyone_reads_managers_and_admins_write(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales", password="bilal-pass-1")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager", password="ayesha-pass")
    ws.rates.set("EUR", "2026-01-01", "0.9", base="USD")
    bilal = ws.as_user("bilal")
    with pytest.raises(AccessDenied, match="may not set exchange rates"):
        bilal.rates.set("EUR", "2026-01-02", "0.91", base="USD")
    with pytest.raises(AccessDenied):
        bilal.rates.remove("EUR", "2026-01-01", base="USD")
    assert bilal.rates.list()["rate"].tolist() == [D("0.9")]
    assert bilal.rates.load("EUR").convert(D("10"), "USD", FEB1) == D("9.00")
    ws.as_user("ayesha").rates.set("EUR", "2026-01-02", "0.91", base="USD")
    assert len(ws.rates.list()) == 2


def test_merge_keeps_what_people_set_and_counts(ws):
    ws.rates.set("EUR", "2026-01-01", "0.95", base="USD")  # typed by hand
    rows = [
        {"currency": "EUR", "base": "USD", "day": JAN1, "rate": D("0.90")},
        {"currency": "LKR", "base": "USD", "day": JAN1, "rate": 300.0},
        {"currency": "XBT", "base": "USD", "day": JAN1, "rate": D("0.00001")},  # ERP's own
        {"currency": "RUB", "base": "USD", "day": JAN1, "rate": D("0")},
    ]
    changes = ws.rates.merge(rows)
    assert changes.as_dict() == {"added": 2, "changed": 0, "unchanged": 0, "kept": 1}
    assert [str(e) for e in changes.refused] == [
        "exchange rate #4 (RUB on 2026-01-01): field 'rate' value Decimal('0'): must be more than 0"
    ]
    again = ws.rates.merge(rows[:3])
    assert again.as_dict() == {"added": 0, "changed": 0, "unchanged": 2, "kept": 1}
    moved = ws.rates.merge([{**rows[1], "rate": D("301")}])
    assert moved.as_dict() == {"added": 0, "changed": 1, "unchanged": 0, "kept": 0}
    frame = ws.rates.list().set_index("currency")
    assert frame.loc["EUR", "rate"] == D("0.95") and frame.loc["EUR", "source"] == "manual"
    assert frame.loc["LKR", "rate"] == D("301") and frame.loc["LKR", "source"] == "erp"
    assert frame.loc["XBT", "rate"] == D("0.00001")
    # a dry run counts and writes nothing
    dry = ws.rates.merge([{**rows[1], "rate": D("305")}], dry_run=True)
    assert dry.changed == 1 and ws.rates.list("LKR")["rate"].tolist() == [D("301")]


# -- import ---------------------------------------------------------------------------------
MESSY = (
    "\ufeffCurrency ; Date ; Rate ; Base\r\n"
    "EUR;2026-01-01;0.90;USD\r\n"
    "\r\n"
    "LKR;2026-01-01;1,234.5;USD\r\n"
    "EUX;2026-01-01;1.2;USD\r\n"
    "GBP;31/01/2026;0.79;USD\r\n"
    "RUB;2026-01-01;0;USD\r\n"
    "INR;2026-01-01;-83;\r\n"
    "PKR;2026-01-01;280;USD\r\n"
    "PKR;2026-01-01;281;USD\r\n"
    "jpy;2026-01-01;150.5;usd\r\n"
)


def test_import_of_a_messy_csv_refuses_it_whole_naming_each_line(ws, tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text(MESSY, encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        ws.rates.import_file(path)
    lines = [(e.record, e.field, e.value, e.reason) for e in caught.value.errors]
    assert lines == [
        ("rates.csv line 5", "currency", "EUX", "is not an ISO 4217 currency code"),
        ("rates.csv line 6", "date", "31/01/2026", "is not a date in YYYY-MM-DD form"),
        ("rates.csv line 7", "rate", "0", "must be more than 0"),
        ("rates.csv line 8", "rate", "-83", "must be more than 0"),
        (
            "rates.csv line 10",
            "rate",
            "281",
            "line 9 gives PKR per USD on 2026-01-01 another rate (280)",
        ),
    ]
    assert ws.rates.list().empty  # nothing written


def test_import_of_a_clean_file_writes_every_row(ws, tmp_path):
    ws.set_setting("currency", "EUR")
    path = tmp_path / "rates.csv"
    good = [line for n, line in enumerate(MESSY.split("\r\n"), 1) if n not in (5, 6, 7, 8, 10)]
    path.write_text("\r\n".join(good).lstrip("\ufeff"), encoding="utf-16")  # BOM, 2 bytes
    changes = ws.rates.import_file(path)
    assert changes.as_dict() == {"added": 4, "changed": 0, "unchanged": 0, "kept": 0}
    frame = ws.rates.list()
    assert frame[["currency", "base", "rate", "source"]].values.tolist() == [
        ["EUR", "USD", D("0.9"), "file"],
        ["JPY", "USD", D("150.5"), "file"],
        ["LKR", "USD", D("1234.5"), "file"],
        ["PKR", "USD", D("280"), "file"],
    ]
    # again: nothing new
    assert ws.rates.import_file(path).as_dict()["unchanged"] == 4
    # 1,234.5 LKR = 1 USD = 0.9 EUR
    assert ws.rates.load().convert(D("1234.5"), "LKR", FEB1) == D("0.90")


def test_import_of_an_xlsx_with_dates_and_small_floats(ws, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["currency", "date", "rate"])
    sheet.append(["EUR", dt.datetime(2026, 1, 31), 0.0031])
    sheet.append(["USD", dt.date(2026, 1, 31), 0.0000355])  # 3.55e-05 as Excel holds it
    path = tmp_path / "rates.xlsx"
    book.save(path)
    changes = ws.rates.import_file(path, base="PKR")
    assert changes.added == 2
    frame = ws.rates.list().set_index("currency")
    assert frame.loc["EUR", "rate"] == D("0.0031") and frame.loc["EUR", "base"] == "PKR"
    assert frame.loc["USD", "rate"] == D("0.0000355")
    # 1,000,000 PKR = 35.50 USD on 1 Feb
    assert ws.rates.load("USD").convert(D("1000000"), "PKR", FEB1) == D("35.50")


def test_import_needs_the_columns(ws, tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("code,value\nEUR,1\n", encoding="utf-8")
    with pytest.raises(FileError, match="no column date, rate"):
        ws.rates.import_file(path)


def test_dates_as_pandas_gives_them():
    import pandas as pd

    rates = Rates(USD_TABLE, "EUR")
    # a Timestamp is looked up by its date; NaT is a record without a date
    assert rates.convert(D("300"), "LKR", pd.Timestamp("2026-01-20 23:59")) == D("0.90")
    assert rates.try_convert(D("300"), "LKR", pd.NaT) is None
    assert rates.missing_text() == "no rate for LKR for records without a date (to EUR)"
    with pytest.raises(ValidationError, match="must be a date"):
        rates.convert(D("1"), "LKR", "2026-01-20")  # type: ignore[arg-type]


def test_a_record_without_a_currency_is_missing_not_a_crash():
    rates = Rates(USD_TABLE, "EUR")
    with pytest.raises(MissingRate, match=re.escape("no currency code ('') to look")):
        rates.convert(D("1"), "", FEB1)
    assert rates.try_convert(D("1"), "", FEB1) is None
    assert rates.try_convert(D("1"), None, FEB1) is None  # type: ignore[arg-type]
    assert rates.try_convert(D("300"), " lkr ", FEB1) == D("0.92")
    assert rates.try_convert(D("1"), "LKR", dt.date(2025, 1, 1)) is None
    assert rates.missing_text() == (
        "no rate for LKR on or before 2025-01-01, records without a currency code (to EUR)"
    )


def test_the_workspace_says_how_amounts_are_grouped(ws):
    assert ws.setting("amount_grouping") == "locale"  # as the user's language groups
    ws.set_setting("amount_grouping", "auto")
    grouping = ws.setting("amount_grouping")
    assert format_amount(D("12345678.9"), "BDT", grouping=grouping) == "BDT1,23,45,678.90"
    assert format_amount(D("12345678.9"), "GBP", grouping=grouping) == "£12,345,678.90"
    assert format_amount(D("12345678.9"), "GBP", locale="bn") == "1,23,45,678.90£"  # its own
    with pytest.raises(ValidationError, match="must be one of locale, western, indian, auto"):
        ws.set_setting("amount_grouping", "lakh")


def test_the_freshest_chain_of_rates_wins_over_a_stale_direct_one():
    table = [
        ("PKR", "EUR", dt.date(2024, 1, 1), D("300")),  # typed once, long ago
        ("EUR", "USD", dt.date(2026, 1, 31), D("0.90")),  # the ERP's, this month
        ("PKR", "USD", dt.date(2026, 1, 31), D("279")),
    ]
    rates = Rates(table, "EUR")
    # 1 Feb 2026: through USD, 1 PKR = 0.90 / 279 EUR; 2,790 PKR = 9.00 EUR (not 9.30)
    assert rates.convert(D("2790"), "PKR", FEB1) == D("9.00")
    # before the ERP's rates exist, the old direct one is all there is: 3,000 / 300
    assert rates.convert(D("3000"), "PKR", dt.date(2025, 6, 1)) == D("10.00")
    # a direct rate as fresh as the chain wins: fewer pairs
    fresh = Rates([*table, ("PKR", "EUR", dt.date(2026, 1, 31), D("310"))], "EUR")
    assert fresh.convert(D("3100"), "PKR", FEB1) == D("10.00")
