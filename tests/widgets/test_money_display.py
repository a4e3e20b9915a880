"""Amounts in the staff app keep their currency's minor units (KWD 3 decimals, JPY none)
and the workspace's ``amount_grouping`` (lakh/crore for INR under ``auto``): the
record page's invoices and open balance, and the Reports page's table, whose money
columns still sort by amount; checked in the page's HTML and model, and in Chromium."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import panel as pn
import pytest

import crm_core
from crm_core.models import Invoice
from tests.widgets.browser import login, shoot
from tests.widgets.serving import crmbook_serve
from widgets.i18n import format_amount, format_amount_number, speaking
from widgets.record_model import RecordModel
from widgets.record_page import sections_html
from widgets.reports_page import ReportsPage, amount_texts

D = Decimal
#: (currency, untaxed and total, open) of Indus Textiles' invoices.
INVOICES = [
    ("KWD", "3070.125", "3070.125"),
    ("JPY", "1500001", "1500001"),
    ("INR", "12345678.50", "0"),
    ("EUR", "2", "0"),
]


@pytest.fixture
def books(staff_base):
    """The staff base with Indus Textiles invoiced in KWD, JPY, INR and EUR (the KWD and
    JPY ones open), the workspace grouping ``auto`` (lakh/crore for INR)."""
    path, records = staff_base
    indus = records["indus"]["id"]
    with crm_core.open(path) as ws:
        ws.set_setting("amount_grouping", "auto")
        with ws.transaction() as s:
            for n, (currency, total, residual) in enumerate(INVOICES, start=1):
                s.add(
                    Invoice(
                        backend="odoo-test",
                        remote_id=n,
                        number=f"INV/{n}",
                        move_type="out_invoice",
                        state="posted",
                        company_id=indus,
                        currency=currency,
                        amount_untaxed=D(total),
                        amount_total=D(total),
                        amount_residual=D(residual),
                        invoice_date=dt.date(2026, 3, n),
                    )
                )
    return path, records


def test_the_amount_helpers_keep_minor_units_and_round_half_up():
    assert format_amount(D("3070.125"), "KWD") == "KWD 3,070.125"
    assert format_amount(D("1500001"), "JPY") == "JPY 1,500,001"
    assert format_amount_number(D("0.125"), "EUR") == "0.13"  # half up, not half even
    with speaking("en", "PK", "auto"):
        assert format_amount_number(12345678.5, "INR") == "1,23,45,678.50"
        assert format_amount_number(12345678.5, "EUR") == "12,345,678.50"
    with speaking("ru", None, "indian"):
        assert format_amount_number(D("12345678.5"), "KWD") == "1\xa023\xa045\xa0678,500"


def test_the_record_page_shows_invoices_and_balance_in_their_currencies(books):
    path, records = books
    with crm_core.open(path) as ws, speaking("en", "PK", "auto"):
        page = RecordModel(ws.as_user("ayesha"))
        assert page.open("company", records["indus"]["id"]) is True
        html = sections_html(page.detail)
    balance = html.split('class="crm-balance"')[1].split("</p>")[0]
    assert "KWD 3,070.125" in balance and "JPY 1,500,001" in balance
    assert "3,070.12 " not in balance and "1,500,001.00" not in balance
    invoices = html.split('class="crm-section-invoices"')[1]
    assert ">3,070.125<" in invoices and ">1,500,001<" in invoices
    assert ">1,23,45,678.50<" in invoices  # INR in lakh/crore: the workspace says auto
    assert ">2.00<" in invoices
    assert "1,500,001.00" not in invoices and "3,070.12<" not in invoices


def test_the_reports_table_writes_each_row_in_its_currency_and_sorts_by_amount(books):
    path, _records = books
    with crm_core.open(path) as ws, speaking("en", "PK", "auto"):
        page = ReportsPage(ws.as_user("ayesha"))
        page.model.param.update(report="sales_per_customer", currency="KWD")
        layout = pn.panel(page)
        layout.get_root()
        table = next(o for o in layout.select(pn.widgets.Tabulator))
    value = table.value
    shown = dict(zip(value["currency"], value["revenue__shown"], strict=True))
    assert shown == {
        "KWD": "3,070.125",
        "JPY": "1,500,001",
        "INR": "1,23,45,678.50",
        "EUR": "2.00",
    }
    assert dict(zip(value["currency"], value["open_balance__shown"], strict=True))["KWD"] == (
        "3,070.125"
    )
    # the money column keeps its numbers (it sorts by amount) and shows the text beside
    assert value["revenue"].dtype == float
    assert sorted(value["revenue"]) == [2.0, 3070.125, 1500001.0, 12345678.5]
    assert "revenue__shown" in table.hidden_columns
    assert table.formatters["revenue"].template == "<%- revenue__shown %>"  # escaped
    assert "revenue" not in {  # no 2-decimal number format left on money
        name for name, f in table.formatters.items() if getattr(f, "format", "") == "0,0.00"
    }


def test_amount_texts_use_the_reporting_currency_for_converted_columns():
    import pandas as pd

    frame = pd.DataFrame(
        {
            "currency": ["JPY", "KWD", None],
            "amount": [D("1500001"), D("3070.125"), D("5")],
            "reporting_currency": ["KWD", "KWD", "KWD"],
            "amount_converted": [D("3000.002"), None, D("1.5")],
        }
    )
    kinds = {"currency": "text", "amount": "money", "reporting_currency": "text"}
    kinds["amount_converted"] = "money"
    with speaking("en"):
        texts = amount_texts(frame, kinds, "EUR")
    assert texts == {
        "amount__shown": ["1,500,001", "3,070.125", "5.00"],  # no currency: EUR's 2
        "amount_converted__shown": ["3,000.002", "", "1.500"],
    }


@pytest.mark.slow
def test_in_chromium_the_reports_table_shows_and_sorts_amounts(browser, books):
    path, _records = books
    with crm_core.open(path) as ws:
        ws.set_setting("currency", "KWD")
        ws.rates.set("JPY", "2026-01-01", "500", base="KWD")
        ws.rates.set("INR", "2026-01-01", "270", base="KWD")
        ws.rates.set("EUR", "2026-01-01", "0.3", base="KWD")
        title = ws.reports.spec("sales_per_customer").title
    with crmbook_serve(path, Path(path).parent / "serve.log") as (url, _process):
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        login(page, url, "ayesha")
        page.locator(".crm-nav-reports button").wait_for(timeout=30_000)
        page.locator(".crm-nav-reports button").click()
        page.locator(".crm-reports-select select").select_option(label=title)
        cells = page.locator(".crm-reports-table .tabulator-cell[tabulator-field='revenue']")
        cells.first.wait_for(timeout=30_000)
        for _ in range(100):  # the table is in the page's shadow DOM: poll the locator
            if cells.count() == 4:
                break
            page.wait_for_timeout(200)
        shown = [t.strip() for t in cells.all_inner_texts()]
        assert sorted(shown) == sorted(["3,070.125", "1,500,001", "1,23,45,678.50", "2.00"])
        # sorted by the amount, not by the text (which puts 2.00 between 1,500,001 and
        # 3,070.125): 2 < 3,070.125 < 1,500,001 < 1 crore
        page.locator(
            ".crm-reports-table .tabulator-col[tabulator-field='revenue'] .tabulator-col-title"
        ).click()

        def order() -> list[str]:
            return [t.strip() for t in cells.all_inner_texts()]

        for _ in range(50):
            if order() in (
                ["2.00", "3,070.125", "1,500,001", "1,23,45,678.50"],
                ["1,23,45,678.50", "1,500,001", "3,070.125", "2.00"],
            ):
                break
            page.wait_for_timeout(200)
        assert order() in (
            ["2.00", "3,070.125", "1,500,001", "1,23,45,678.50"],
            ["1,23,45,678.50", "1,500,001", "3,070.125", "2.00"],
        )
        converted = page.locator(
            ".crm-reports-table .tabulator-cell[tabulator-field='revenue_converted']"
        )
        assert "3,000.002" in [t.strip() for t in converted.all_inner_texts()]  # JPY in KWD
        shoot(page, "reports-table-amounts")
        page.close()
