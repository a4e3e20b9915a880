"""``crmbook report`` and ``crmbook export``, as a user runs them."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

import crm_core
from crm_core.cli import app
from crm_core.models import ExchangeRate
from tests.crm_core.test_cli import crmbook

runner = CliRunner()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """Two sales users in two teams, three open deals, contacts with a VIP segment."""
    path = tmp_path / "shop.sqlite"
    with crm_core.open(path) as ws:
        ws.users.add("Bilal Ahmed", "bilal", team="South Asia")
        ws.users.add("Olga Smirnova", "olga", team="Europe")
        indus = ws.companies.create(name="Indus Textiles", country="PK")["id"]
        ws.pipeline.create(
            "uniforms", owner="bilal", expected_revenue="1000000.00", currency="PKR", company=indus
        )
        ws.pipeline.create(
            "towels", owner="olga", expected_revenue="500000.00", currency="PKR", company=indus
        )
        deal = ws.pipeline.create(
            "shirts", owner="bilal", expected_revenue="300000.00", currency="PKR", company=indus
        )
        ws.pipeline.move(deal["id"], "Qualified")
        for name, tags in (('=HYPERLINK("x")', ["VIP"]), ("ثنا خان", ["VIP"]), ("Ivan", [])):
            ws.contacts.create(name=name, tags=tags)
        ws.segments.create("VIPs", "contact", tag="VIP")
    return path


def test_report_lists_reports_and_layouts(shop):
    done = runner.invoke(app, ["report", "-w", str(shop)], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "pipeline_by_stage" in done.output and "forecast_backtest" in done.output
    assert "sales_review" in done.output  # a workbook layout


def test_report_prints_a_filtered_report(shop):
    done = runner.invoke(
        app,
        ["report", "pipeline_by_stage", "-w", str(shop), "--team", "South Asia"],
        env={"COLUMNS": "200"},
    )
    assert done.exit_code == 0, done.output
    rows = {
        line.split("│")[2].strip(): line
        for line in done.output.splitlines()
        if line.count("│") > 5 and "Sales" in line
    }
    # Bilal's two deals, not Olga's: New 1,000,000.00 and Qualified 300,000.00
    assert "1,000,000.00" in rows["New"] and "500,000.00" not in rows["New"]
    assert "300,000.00" in rows["Qualified"]


def test_report_refuses_bad_filters_and_names(shop):
    done = runner.invoke(app, ["report", "funnel", "-w", str(shop), "--owner", "nobody"])
    assert done.exit_code == 1 and "'owner'" in done.output and "nobody" in done.output
    done = runner.invoke(app, ["report", "rfm", "-w", str(shop), "--tag", "VIP"])
    assert done.exit_code == 1 and "does not apply" in done.output
    done = runner.invoke(app, ["report", "sales_review", "-w", str(shop)])
    assert done.exit_code == 1 and "--xlsx" in done.output  # a layout, not a report
    done = runner.invoke(app, ["report", "nonsense", "-w", str(shop)])
    assert done.exit_code == 1 and "no report named 'nonsense'" in done.output


def test_report_and_export_write_workbooks(shop, tmp_path):
    done = crmbook(
        "report",
        "sales_review",
        "-w",
        str(shop),
        "--owner",
        "bilal",
        "--xlsx",
        "review.xlsx",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    book = load_workbook(tmp_path / "review.xlsx")
    assert book.sheetnames[0] == "Cover"
    assert "Pipeline by stage" in book.sheetnames
    done = crmbook(
        "export",
        "contacts",
        "-w",
        str(shop),
        "--xlsx",
        "vip.xlsx",
        "--segment",
        "VIPs",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    sheet = load_workbook(tmp_path / "vip.xlsx")["Contacts"]
    header = [c.value for c in sheet[1]]  # the identifiers (hidden); row 2: the titles
    rows = sheet.iter_rows(min_row=3, values_only=True)
    names = sorted(row[header.index("name")] for row in rows)
    # the formula-looking name comes back as the text it is, Ivan (no VIP tag) is left out
    assert names == sorted(['=HYPERLINK("x")', "ثنا خان"])
    done = crmbook("export", "widgets", "-w", str(shop), "--xlsx", "w.xlsx", cwd=tmp_path)
    assert done.returncode == 1 and "contacts, opportunities" in done.stderr


def test_report_converts_to_the_currency_asked_for_and_warns_of_missing_rates(shop):
    # no rate yet: the converted cells stay empty and a warning names the rate
    done = runner.invoke(
        app,
        ["report", "pipeline_by_stage", "-w", str(shop), "--currency", "EUR"],
        env={"COLUMNS": "250"},
    )
    assert done.exit_code == 0, done.output
    assert "warning: no rate for PKR on or before" in done.output and "(to EUR)" in done.output

    with crm_core.open(shop) as ws, ws.transaction() as s:
        # one USD is worth 250 PKR: PKR 1,000,000 is USD 4,000.00, weighted 10 %: 400.00
        s.add(
            ExchangeRate(
                currency="PKR",
                base="USD",
                day=dt.date(2000, 1, 1),
                rate=Decimal("250"),
                source="manual",
                recorded_at=ws.clock(),
            )
        )
    done = runner.invoke(
        app,
        [
            "report",
            "pipeline_by_stage",
            "-w",
            str(shop),
            "--currency",
            "USD",
            "--team",
            "South Asia",
        ],
        env={"COLUMNS": "250"},
    )
    assert done.exit_code == 0, done.output
    new = next(line for line in done.output.splitlines() if "│ New" in line)
    assert "4,000.00" in new and "400.00" in new
    assert "warning" not in done.output
    done = runner.invoke(app, ["report", "pipeline_by_stage", "-w", str(shop), "--currency", "€"])
    assert done.exit_code == 1 and "'currency'" in done.output
