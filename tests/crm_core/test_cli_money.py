"""Amounts in the terminal (``crmbook report``): each in its row's currency's minor units
(KWD 3 decimals, JPY none) and grouped as the workspace's ``amount_grouping`` asks;
ratios with their decimals; a workbook written without some exchange rates warns as
the printed report does; and ``crmbook init`` refuses bad options before it creates
anything."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

import crm_core
from crm_core.cli import app, console
from crm_core.cli_reports import _print_report
from crm_core.models import Invoice
from crm_core.reports import REGISTRY, Reports
from tests.crm_core.test_cli import crmbook

runner = CliRunner()
D = Decimal


def _invoice(s, n: int, company: int, currency: str, untaxed: str, residual: str = "0") -> None:
    s.add(
        Invoice(
            backend="odoo-test",
            remote_id=n,
            move_type="out_invoice",
            state="posted",
            company_id=company,
            currency=currency,
            amount_untaxed=D(untaxed),
            amount_total=D(untaxed),
            amount_residual=D(residual),
            invoice_date=dt.date(2026, 3, 2),
        )
    )


@pytest.fixture
def books(tmp_path: Path) -> Path:
    """Gulf Traders owe KWD 3,070.125 (invoiced, open); Osaka Mills were invoiced JPY
    1,500,001; Delhi Looms INR 12,345,678.50. 1 KWD = 500 JPY, 1 KWD = 270 INR."""
    path = tmp_path / "books.sqlite"
    with crm_core.open(path) as ws:
        gulf = ws.companies.create(name="Gulf Traders")["id"]
        osaka = ws.companies.create(name="Osaka Mills")["id"]
        delhi = ws.companies.create(name="Delhi Looms")["id"]
        ws.rates.set("JPY", "2026-01-01", "500", base="KWD")
        ws.rates.set("INR", "2026-01-01", "270", base="KWD")
        with ws.transaction() as s:
            _invoice(s, 1, gulf, "KWD", "3070.125", residual="3070.125")
            _invoice(s, 2, osaka, "JPY", "1500001")
            _invoice(s, 3, delhi, "INR", "12345678.50")
    return path


def _rows(output: str) -> dict[str, list[str]]:
    """The printed table's rows by their first cell."""
    rows = {}
    for line in output.splitlines():
        if line.count("│") > 5:
            cells = [c.strip() for c in line.split("│")[1:-1]]
            rows[cells[0]] = cells
    return rows


def _report(path: Path, *more: str) -> dict[str, dict[str, str]]:
    done = runner.invoke(
        app,
        ["report", "sales_per_customer", "-w", str(path), "--currency", "KWD", *more],
        env={"COLUMNS": "600"},
    )
    assert done.exit_code == 0, done.output
    names = REGISTRY["sales_per_customer"].column_names
    return {
        name: dict(zip(names, cells, strict=True))
        for name, cells in _rows(done.output).items()
        if name in ("Gulf Traders", "Osaka Mills", "Delhi Looms")
    }


def test_each_amount_has_its_currencys_decimals(books):
    rows = _report(books)
    gulf, osaka, delhi = rows["Gulf Traders"], rows["Osaka Mills"], rows["Delhi Looms"]
    # KWD keeps its third decimal (it was cut to 3,070.12), JPY has none (1,500,001.00)
    assert (gulf["currency"], gulf["revenue"], gulf["open_balance"]) == (
        "KWD",
        "3,070.125",
        "3,070.125",
    )
    assert (osaka["currency"], osaka["revenue"]) == ("JPY", "1,500,001")
    # converted columns are in the reporting currency, KWD: 1,500,001 / 500 = 3,000.002
    assert (osaka["reporting_currency"], osaka["revenue_converted"]) == ("KWD", "3,000.002")
    assert gulf["revenue_converted"] == "3,070.125"
    # the workspace's grouping is "locale" and its region US: western grouping
    assert delhi["revenue"] == "12,345,678.50"
    # 12,345,678.50 / 270 = 45,724.7352 -> 45,724.735
    assert delhi["revenue_converted"] == "45,724.735"


@pytest.mark.parametrize(
    ("grouping", "region", "inr", "kwd"),
    [
        ("indian", "US", "1,23,45,678.50", "3,070.125"),
        ("auto", "US", "1,23,45,678.50", "3,070.125"),
        ("western", "IN", "12,345,678.50", "3,070.125"),
        # English as written in India groups every amount in lakh and crore
        ("locale", "IN", "1,23,45,678.50", "3,070.125"),
    ],
)
def test_amounts_are_grouped_as_the_workspace_asks(books, grouping, region, inr, kwd):
    with crm_core.open(books) as ws:
        ws.set_setting("amount_grouping", grouping)
        ws.set_setting("phone_region", region)
    rows = _report(books)
    assert rows["Delhi Looms"]["revenue"] == inr
    assert rows["Gulf Traders"]["revenue"] == kwd
    # the KWD converted figure: a KWD amount, never lakh/crore under auto
    converted = "45,724.735" if grouping in ("western", "auto") else None
    if converted:
        assert rows["Delhi Looms"]["revenue_converted"] == converted


def test_ratios_and_percents_keep_their_decimals(capsys, monkeypatch):
    monkeypatch.setattr(console, "width", 300)
    spec = Reports(None).spec("forecast_backtest")  # type: ignore[arg-type]
    row = {c.name: None for c in spec.columns}
    row.update(
        method="moving_average",
        currency="KWD",
        mae=D("1.2345"),
        mape=0.12345,
        bias=D("-0.5"),
        bias_pct=-0.0444,
        mase=1.018,
        recommended=False,
        verdict="worse than last month's figure",
    )
    frame = pd.DataFrame([row], columns=spec.column_names)
    frame.attrs["reporting_currency"] = "KWD"
    _print_report(spec, frame)
    shown = dict(zip(spec.column_names, _rows(capsys.readouterr().out)["KWD"], strict=True))
    assert shown["mase"] == "1.02"  # was 1.0
    assert (shown["mape"], shown["bias_pct"]) == ("12.3%", "-4.4%")
    assert (shown["mae"], shown["bias"]) == ("1.235", "-0.500")  # KWD's 3 decimals


def test_a_workbook_without_some_rates_warns_as_the_printed_report_does(books, tmp_path):
    with crm_core.open(books) as ws:
        ws.companies.create(name="Colombo Tea")
    printed = crmbook(
        "report", "sales_per_customer", "-w", str(books), "--currency", "LKR", cwd=tmp_path
    )
    assert printed.returncode == 0, printed.stderr
    warning = next(line for line in printed.stderr.splitlines() if line.startswith("warning:"))
    # the table has no LKR rate at all: the reporting currency is what is missing
    assert "no rate for LKR" in warning and "converted cells left empty" in warning
    target = tmp_path / "sales.xlsx"
    written = crmbook(
        "report",
        "sales_per_customer",
        "-w",
        str(books),
        "--currency",
        "LKR",
        "--xlsx",
        str(target),
        cwd=tmp_path,
    )
    assert written.returncode == 0, written.stderr
    assert "workbook written" in written.stdout
    assert [line for line in written.stderr.splitlines() if line.startswith("warning:")] == [
        warning
    ]
    cover = load_workbook(target, read_only=True).worksheets[0]
    notes = " ".join(str(c) for row in cover.iter_rows(values_only=True) for c in row if c)
    assert "not converted" in notes and "LKR" in notes
    # with every rate there, no warning
    with crm_core.open(books) as ws:
        ws.rates.set("KWD", "2026-01-01", "0.0011", base="LKR")
        ws.rates.set("JPY", "2026-01-01", "0.5", base="LKR")
        ws.rates.set("INR", "2026-01-01", "0.3", base="LKR")
    written = crmbook(
        "report", "sales_per_customer", "-w", str(books), "--currency", "LKR", "--xlsx",
        str(target), cwd=tmp_path,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert "warning" not in written.stderr


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--currency", "ZZZ"], ["'currency'", "ZZZ", "ISO 4217"]),
        (["--region", "QQ", "--timezone", "Mars/Olympus"], ["'phone_region'", "Mars/Olympus"]),
    ],
)
def test_init_refuses_bad_options_and_leaves_no_file(tmp_path, options, named):
    done = runner.invoke(app, ["init", str(tmp_path / "bad.sqlite"), *options])
    assert done.exit_code == 1
    for word in named:
        assert word in done.output
    assert list(tmp_path.iterdir()) == []


def test_init_refused_on_an_existing_workspace_changes_nothing(tmp_path):
    path = tmp_path / "shop.sqlite"
    assert runner.invoke(app, ["init", str(path), "--currency", "PKR"]).exit_code == 0
    done = runner.invoke(app, ["init", str(path), "--currency", "EUR", "--timezone", "Nowhere"])
    assert done.exit_code == 1 and "Nowhere" in done.output
    assert path.exists()
    with crm_core.open(path) as ws:
        assert (ws.setting("currency"), ws.setting("timezone")) == ("PKR", "UTC")


def test_init_refused_after_creating_the_file_removes_it(tmp_path, monkeypatch):
    from crm_core.errors import FieldError, ValidationError
    from crm_core.workspace import Workspace

    def refuse(self, key, value):
        raise ValidationError([FieldError("settings", key, value, "refused by the test")])

    monkeypatch.setattr(Workspace, "set_setting", refuse)
    done = runner.invoke(app, ["init", str(tmp_path / "half.sqlite")])
    assert done.exit_code == 1
    assert list(tmp_path.iterdir()) == []
