"""A missing exchange rate is named by the currency whose rate is missing, with a command
that adds it: the reporting currency itself when only it lacks a rate that early.

The table is kept against USD, as an ERP whose company currency is USD keeps it:
1 USD = 300 LKR and 0.90 EUR from 1 January 2026, 0.75 GBP only from 1 June 2026.
An LKR invoice of 1 March cannot be converted to GBP: LKR has its rate, GBP has none
before June. Adding an LKR rate would change nothing; a GBP rate (against USD) does.
"""

import datetime as dt
from decimal import Decimal

import pytest
from typer.testing import CliRunner

import crm_core
from crm_core.cli import app
from crm_core.money import MissingRate, Rates
from crm_core.money.rates import missing_words
from tests.crm_core.reports.books import posted

D = Decimal
MARCH1 = dt.date(2026, 3, 1)
TABLE = [
    ("LKR", "USD", dt.date(2026, 1, 1), D("300")),
    ("EUR", "USD", dt.date(2026, 1, 1), D("0.90")),
    ("GBP", "USD", dt.date(2026, 6, 1), D("0.75")),
]


def test_the_reporting_currency_without_a_rate_that_early_is_the_one_named():
    rates = Rates(TABLE, "GBP")
    with pytest.raises(MissingRate) as caught:
        rates.convert(D("3000"), "LKR", MARCH1)
    err = caught.value
    assert (err.currency, err.missing, err.on, err.base) == ("LKR", "GBP", MARCH1, "USD")
    assert str(err) == (
        "no exchange rate for GBP on or before 2026-03-01 (the reporting currency: LKR "
        "cannot be converted to it): add one with "
        "`crmbook rates set GBP 2026-03-01 RATE --base USD` or sync the ERP"
    )
    assert rates.try_convert(D("3000"), "LKR", MARCH1) is None
    assert rates.try_convert(D("5"), "EUR", dt.date(2026, 4, 1)) is None
    assert rates.missing_rates() == [("GBP", MARCH1)]
    assert rates.missing_text() == "no rate for GBP on or before 2026-03-01 (to GBP)"
    # the advice works: with GBP's rate against USD from March, LKR converts
    fixed = Rates([*TABLE, ("GBP", "USD", MARCH1, D("0.80"))], "GBP")
    assert fixed.convert(D("3000"), "LKR", MARCH1) == D("8.00")  # 3000 / 300 x 0.80


def test_a_currency_without_a_rate_is_still_named_itself():
    rates = Rates(TABLE, "EUR")
    with pytest.raises(MissingRate) as caught:
        rates.convert(D("1"), "RUB", MARCH1)  # RUB has no rate at all
    # given against the table's own base, which EUR reaches
    assert (caught.value.missing, caught.value.base) == ("RUB", "USD")
    assert str(caught.value).startswith(
        "no exchange rate for RUB on or before 2026-03-01 (to EUR): add one with "
        "`crmbook rates set RUB 2026-03-01 RATE --base USD`"
    )
    # LKR before its first rate, EUR's as old: LKR is the one to add
    with pytest.raises(MissingRate, match="no exchange rate for LKR on or before 2025-12-31"):
        rates.convert(D("1"), "LKR", dt.date(2025, 12, 31))


def test_two_islands_of_rates_are_named_as_no_chain():
    islands = [("LKR", "USD", dt.date(2026, 1, 1), D("300")), ("GBP", "EUR", MARCH1, D("0.8"))]
    with pytest.raises(MissingRate) as caught:
        Rates(islands, "GBP").convert(D("1"), "LKR", MARCH1)
    assert str(caught.value).startswith(
        "no chain of exchange rates links LKR to GBP on or before 2026-03-01: add one with "
        "`crmbook rates set LKR 2026-03-01 RATE --base GBP`"
    )


def test_the_reports_and_the_workbook_words_name_the_missing_currency(ws):
    ws.set_setting("currency", "EUR")
    for currency, _base, day, rate in TABLE:
        ws.rates.set(currency, day.isoformat(), str(rate), base="USD")
    company = ws.companies.create(name="Colombo Tea")["id"]
    with ws.transaction("sync:odoo-test") as s:
        s.add(posted(1, "2026-03-01", "3000", "LKR", company=company))
        s.add(posted(2, "2026-07-01", "3000", "LKR", company=company))
    frame = ws.reports.run("sales_per_customer", currency="GBP")
    assert frame.attrs["missing_rates"] == "no rate for GBP on or before 2026-03-01 (to GBP)"
    assert frame.attrs["missing_rate_list"] == [("GBP", MARCH1)]
    # the workbooks say the same list in their language
    ru = {
        "no_rate": "нет курса для {rates} (в {reporting})",
        "rate_on_or_before": "{currency} на {day}",
    }
    phrases = {"rate_undated": "", "rate_no_code": "", **ru}
    assert missing_words(frame.attrs["missing_rate_list"], "GBP", phrases) == (
        "нет курса для GBP на 2026-03-01 (в GBP)"
    )
    # one row for the customer's LKR: its March invoice has no rate, so no figure
    assert frame["revenue_converted"].tolist() == [None]


def test_the_command_line_warning_names_the_missing_currency(tmp_path):
    path = tmp_path / "book.sqlite"
    with crm_core.open(path) as ws:
        ws.set_setting("currency", "EUR")
        for currency, _base, day, rate in TABLE:
            ws.rates.set(currency, day.isoformat(), str(rate), base="USD")
        company = ws.companies.create(name="Colombo Tea")["id"]
        with ws.transaction("sync:odoo-test") as s:
            s.add(posted(1, "2026-03-01", "3000", "LKR", company=company))
    done = CliRunner().invoke(
        app,
        ["report", "sales_per_customer", "-w", str(path), "--currency", "GBP"],
        env={"COLUMNS": "250"},
    )
    assert done.exit_code == 0, done.output
    assert "warning: no rate for GBP on or before 2026-03-01 (to GBP)" in done.output
    assert "no rate for LKR" not in done.output
