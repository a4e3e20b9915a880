"""``crmbook rates``: set, import and list exchange rates from the command line."""

import csv
import datetime as dt
from decimal import Decimal

from typer.testing import CliRunner

import crm_core
from crm_core.cli import app
from tests.crm_core.test_cli import crmbook

runner = CliRunner()


def test_set_and_list_as_a_user_types_them(tmp_path):
    done = crmbook("init", "shop.sqlite", "--currency", "PKR", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    set_ = crmbook(
        "rates", "set", "EUR", "2026-01-31", "0.0031", "--base", "PKR", "-w", "shop.sqlite",
        cwd=tmp_path,
    )  # fmt: skip
    assert set_.returncode == 0, set_.stderr
    assert set_.stdout.strip() == "1 PKR = 0.0031 EUR on 2026-01-31"
    # without --base: per one unit of the reporting currency (PKR)
    usd = crmbook("rates", "set", "USD", "2026-01-31", "0.00355", "-w", "shop.sqlite", cwd=tmp_path)
    assert usd.stdout.strip() == "1 PKR = 0.00355 USD on 2026-01-31"
    listed = crmbook("rates", "list", "-w", "shop.sqlite", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "2 exchange rate(s)" in listed.stdout
    assert "│ EUR      │ PKR  │ 2026-01-31 │ 0.0031  │ manual │" in listed.stdout
    with crm_core.open(tmp_path / "shop.sqlite") as ws:
        rates = ws.rates.load()  # the reporting currency: PKR
        # 31 EUR = 31 / 0.0031 PKR = 10,000 PKR
        assert rates.convert(Decimal("31"), "EUR", dt.date(2026, 2, 1)) == Decimal("10000.00")


def test_import_refused_whole_then_imported_and_listed_by_currency(tmp_path):
    path = tmp_path / "crm.sqlite"
    crm_core.open(path).close()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "currency,date,rate,base\nEUR,2026-01-01,0.9,USD\nLKR,2026-02-30,300,USD\n"
        "XYZ,2026-01-01,-1,USD\n",
        encoding="utf-8",
    )
    out = tmp_path / "bad.rejects.csv"
    result = runner.invoke(
        app, ["rates", "import", str(bad), "--rejects", str(out), "-w", str(path)]
    )
    assert result.exit_code == 1
    assert "bad.csv line 3: field 'date' value '2026-02-30'" in result.output
    assert "bad.csv line 4: field 'currency' value 'XYZ': is not an ISO 4217" in result.output
    assert "bad.csv line 4: field 'rate' value '-1': must be more than 0" in result.output
    assert "3 refused value(s)" in result.output and "nothing was imported" in result.output
    # the rejects file: the rows as they were, one line per reason
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert rows == [
        ["currency", "date", "rate", "base", "line", "field", "value", "reason"],
        ["LKR", "2026-02-30", "300", "USD", "3", "date", "2026-02-30",
         "is no day of the calendar"],
        ["XYZ", "2026-01-01", "-1", "USD", "4", "currency", "XYZ",
         "is not an ISO 4217 currency code"],
        ["XYZ", "2026-01-01", "-1", "USD", "4", "rate", "-1", "must be more than 0"],
    ]  # fmt: skip
    good = tmp_path / "good.csv"
    good.write_text(
        "currency,date,rate\nEUR,2026-01-01,0.9\nLKR,2026-01-01,300\n", encoding="utf-8"
    )
    result = runner.invoke(
        app, ["rates", "import", str(good), "--base", "USD", "-w", str(path)],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 rate(s) added, 0 changed, 0 unchanged" in result.output
    listed = runner.invoke(
        app, ["rates", "list", "--currency", "LKR", "-w", str(path)], env={"COLUMNS": "200"}
    )
    assert listed.exit_code == 0
    assert "1 exchange rate(s)" in listed.output and "300" in listed.output
    assert "EUR" not in listed.output
    none = runner.invoke(app, ["rates", "list", "--currency", "RUB", "-w", str(path)])
    assert none.output.strip() == "no exchange rate for RUB"
    wrong = runner.invoke(app, ["rates", "set", "EUR", "2026-01-01", "abc", "-w", str(path)])
    assert wrong.exit_code == 1 and "'rate' value 'abc': is not a number" in wrong.output
    gone = runner.invoke(
        app, ["rates", "remove", "lkr", "2026-01-01", "--base", "USD", "-w", str(path)]
    )
    assert gone.exit_code == 0 and gone.output.strip() == "removed the rate of LKR on 2026-01-01"
    again = runner.invoke(
        app, ["rates", "remove", "LKR", "2026-01-01", "--base", "USD", "-w", str(path)]
    )
    assert again.exit_code == 1
    assert "exchange rate 'LKR per USD on 2026-01-01' does not exist" in again.output
