"""What ``crmbook report`` / ``export`` / ``rates set`` make of awkward input: a bad
``--xlsx`` path, a numeric ``--owner``, a ``--team`` in another case, an empty
``--from``, a negative rate; and report tables whose figures never wrap."""

from __future__ import annotations

import datetime as dt
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import crm_core
import crm_core.cli_reports as cli_reports
from crm_core import ValidationError
from crm_core.cli import app
from crm_core.reports import Column
from tests.crm_core.test_cli import crmbook

runner = CliRunner()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """Bilal (user 2) in "South Asia" and Olga (user 3) in "Europe", a won and a lost
    deal each."""
    path = tmp_path / "shop.sqlite"
    with crm_core.open(path) as ws:
        ws.users.add("Bilal Ahmed", "bilal", team="South Asia")
        ws.users.add("Olga Smirnova", "olga", team="Europe")
        for name, owner, outcome in (
            ("uniforms", "bilal", "won"),
            ("towels", "bilal", "lost"),
            ("linen", "olga", "won"),
        ):
            deal = ws.pipeline.create(name, owner=owner, expected_revenue="1000.00", currency="PKR")
            if outcome == "won":
                ws.pipeline.win(deal["id"])
            else:
                ws.pipeline.lose(deal["id"], "Too expensive")
    return path


def _listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# -- 1. --xlsx ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "target", "said"),
    [
        (["report", "win_loss"], "missing/x.xlsx", "the folder {folder}/missing does not exist"),
        (["export", "contacts"], ".", "is a folder; give a file name in it"),
        (["export", "contacts"], "sub", "is a folder; give a file name in it"),
        (["report", "win_loss"], "", "the path is empty"),
        (["report", "sales_review"], "  ", "the path is empty"),
    ],
)
def test_a_bad_xlsx_path_is_one_line_and_writes_nothing(shop, tmp_path, args, target, said):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    before, above = _listing(work), _listing(tmp_path)
    done = crmbook(*args, "-w", str(shop), "--xlsx", target, cwd=work)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("error: --xlsx ")
    assert said.format(folder=work) in lines[0]
    # nothing written: not beside the target, not in the folder above (the "" case)
    assert _listing(work) == before and _listing(tmp_path) == above


@pytest.mark.parametrize("name", ["out.csv", "out", "out.xls", "out.xlsm", "out.xlsx.txt"])
def test_an_xlsx_target_not_named_xlsx_is_refused_naming_the_option_and_file(shop, tmp_path, name):
    """An Excel workbook named out.csv would open as text in anything that trusts the
    name: the name must end in .xlsx (in any case), on the command line and in
    ``ws.export.xlsx`` alike, and nothing is written."""
    (tmp_path / "x").mkdir()
    target = f"x/{name}"
    done = crmbook("report", "sales_per_customer", "-w", str(shop), "--xlsx", target, cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"error: --xlsx {target}: is not a workbook's file name: it must end in .xlsx, "
        "such as report.xlsx"
    ]
    with crm_core.open(shop) as ws, pytest.raises(ValidationError, match=r"must end in \.xlsx"):
        ws.export.xlsx(tmp_path / target, "sales_per_customer")
    assert os.listdir(tmp_path / "x") == []
    upper = tmp_path / "x" / "OUT.XLSX"
    done = runner.invoke(app, ["report", "win_loss", "-w", str(shop), "--xlsx", str(upper)])
    assert done.exit_code == 0, done.output
    assert upper.stat().st_size > 0


def test_a_good_xlsx_path_still_writes(shop, tmp_path):
    done = runner.invoke(
        app, ["report", "win_loss", "-w", str(shop), "--xlsx", str(tmp_path / "w.xlsx")]
    )
    assert done.exit_code == 0, done.output
    assert (tmp_path / "w.xlsx").stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir() if ".crmbook-" in p.name] == []


# -- 4. filters ---------------------------------------------------------------------------
def _outcomes(output: str) -> list[tuple[str, str]]:
    """(outcome, count) of each row of a printed win_loss."""
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0] in ("won", "lost"):
            rows.append((cells[0], cells[3]))
    return rows


def test_owner_may_be_a_user_id(shop):
    with crm_core.open(shop) as ws:
        olga = int(ws.users.get("olga")["id"])
    by_id = runner.invoke(app, ["report", "win_loss", "-w", str(shop), "--owner", str(olga)])
    assert by_id.exit_code == 0, by_id.output
    by_login = runner.invoke(app, ["report", "win_loss", "-w", str(shop), "--owner", "olga"])
    assert _outcomes(by_id.output) == _outcomes(by_login.output) == [("won", "1")]
    nobody = runner.invoke(app, ["report", "win_loss", "-w", str(shop), "--owner", "999"])
    assert nobody.exit_code == 1 and "no such user" in nobody.output


def test_a_login_made_of_digits_wins_over_the_id(shop):
    with crm_core.open(shop) as ws:
        ws.users.add("Number Seven", "7")  # no deals
        bilal = int(ws.users.get("bilal")["id"])
    assert bilal != 7
    done = runner.invoke(app, ["report", "win_loss", "-w", str(shop), "--owner", "7"])
    assert done.exit_code == 0, done.output
    assert _outcomes(done.output) == []


@pytest.mark.parametrize("team", ["south asia", "SOUTH ASIA", "South  Asia", "South Asia"])
def test_team_ignores_case(shop, team):
    done = runner.invoke(app, ["report", "win_loss", "-w", str(shop), "--team", team])
    assert done.exit_code == 0, done.output
    assert sorted(_outcomes(done.output)) == [("lost", "1"), ("won", "1")]


def test_an_unknown_team_is_still_refused(shop):
    done = runner.invoke(app, ["report", "win_loss", "-w", str(shop), "--team", "asia"])
    assert done.exit_code == 1 and "no user is in this team" in done.output


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("--from", "error: --from is empty: give the first day, YYYY-MM-DD"),
        ("--to", "error: --to is empty: give the last day, YYYY-MM-DD"),
        ("--owner", "error: --owner is empty"),
    ],
)
def test_an_empty_filter_option_is_refused_by_name(shop, option, said):
    done = runner.invoke(app, ["report", "win_loss", "-w", str(shop), option, ""])
    assert done.exit_code == 1
    assert said in done.output


@pytest.mark.parametrize("rate", ["-1", "-0.5", "-0"])
def test_a_negative_rate_is_refused_as_a_rate(tmp_path, rate):
    crm_core.open(tmp_path / "r.sqlite").close()
    done = crmbook(
        "rates", "set", "EUR", "2026-02-01", rate, "--base", "USD", "-w", "r.sqlite",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert "No such option" not in done.stderr
    assert f"field 'rate' value '{rate}': must be more than 0" in done.stderr
    with crm_core.open(tmp_path / "r.sqlite") as ws:
        assert ws.rates.list().empty


@pytest.mark.parametrize(("rate", "full"), [("1e3", "1000"), ("3.1E-05", "0.000031")])
def test_a_typed_rate_with_an_exponent_is_refused(tmp_path, rate, full):
    path = tmp_path / "r.sqlite"
    crm_core.open(path).close()
    done = runner.invoke(app, ["rates", "set", "EUR", "2026-02-01", rate, "-w", str(path)])
    assert done.exit_code == 1
    assert (
        f"error: exchange rate EUR: field 'rate' value '{rate}': is written with an exponent;"
        f" write the number in full ({full})"
    ) in " ".join(done.output.split())
    with crm_core.open(path) as ws:
        assert ws.rates.list().empty


# -- 2. figures do not wrap ----------------------------------------------------------------
class _Spec:
    title = "Sales per customer"
    columns: ClassVar[list[Column]] = [
        Column("customer", "text"),
        Column("currency", "text"),
        Column("revenue", "money"),
        Column("invoices", "int"),
        Column("note", "text"),
        Column("share", "percent"),
    ]


@pytest.mark.parametrize("width", [40, 60, 80, 200])
def test_figures_never_wrap_text_folds(monkeypatch, width):
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    monkeypatch.setattr(cli_reports, "console", console)
    frame = pd.DataFrame(
        [
            (
                "A customer with a rather long name that has to fold",
                "INR",
                Decimal("-11645678.90"),
                1234567,
                "a note that is long enough to fold as well",
                0.4567,
            )
        ],
        columns=[c.name for c in _Spec.columns],
    )
    cli_reports._print_report(_Spec(), frame, cli_reports._Amounts("indian"))  # type: ignore[arg-type]
    text = console.export_text()
    console.file.close()
    lines = text.splitlines()
    # each figure whole, on one line
    for figure in ("-1,16,45,678.90", "1,234,567", "45.7%"):
        assert sum(figure in line for line in lines) == 1, text
    # no line holds a figure's piece alone: nothing but the whole figures is numeric
    pieces = {p for line in lines for p in re.findall(r"[-\d][\d,.%]*", line)}
    assert pieces <= {"-1,16,45,678.90", "1,234,567", "45.7%"}, pieces
    # the name, folded, heads each block of columns (a narrow terminal prints several)
    blocks = [b for b in text.split("┏") if "│" in b]
    for block in blocks:
        rows = [line for line in block.splitlines() if line.startswith("│")]
        words = " ".join(line.split("│")[1] for line in rows).split()
        assert " ".join(words) == "A customer with a rather long name that has to fold"
    if width >= 200:
        assert len([line for line in lines if "│" in line]) == 1  # one row line
    else:
        assert len([line for line in lines if "│" in line]) > 1  # the text folded


def test_days_are_counted_and_dated_as_usual(monkeypatch):
    """A date and an empty figure in a narrow table print as before."""
    console = Console(width=50, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    monkeypatch.setattr(cli_reports, "console", console)

    class Spec:
        title = "Dates"
        columns: ClassVar[list[Column]] = [Column("day", "date"), Column("amount", "money")]

    frame = pd.DataFrame([(dt.date(2026, 5, 15), None)], columns=["day", "amount"])
    cli_reports._print_report(Spec(), frame)  # type: ignore[arg-type]
    assert "2026-05-15" in console.export_text()
    console.file.close()


def test_an_empty_period_from_python_is_refused(ws):
    with pytest.raises(ValidationError, match="'period_from' value '': is empty"):
        ws.reports.win_loss(period_from="")
    assert ws.reports.win_loss(period_from=None) is not None


def test_a_typed_rate_is_written_in_full_a_files_may_have_an_exponent(ws, tmp_path):
    with pytest.raises(
        ValidationError, match=r"with an exponent; write the number in full \(1000\)"
    ):
        ws.rates.set("EUR", "2026-02-01", "1e3", base="USD")
    path = tmp_path / "rates.csv"
    path.write_text("currency,date,rate,base\nEUR,2026-02-01,3.1e-05,PKR\n", encoding="utf-8")
    ws.rates.import_file(path)
    assert ws.rates.list()["rate"].tolist() == [Decimal("0.000031")]
