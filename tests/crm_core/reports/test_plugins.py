"""A report installed as a ``crmbook.reports`` entry point appears with the built-in
ones: in ``ws.reports``, on the command line and in workbooks."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from openpyxl import load_workbook

import crm_core
from crm_core.reports import REGISTRY, load_plugins

PLUGIN = textwrap.dedent(
    '''
    import pandas as pd
    from sqlalchemy import func, select

    from crm_core.models import Company
    from crm_core.reports import Column, report


    @report("companies_by_country", title="Companies by country",
            columns=[Column("country", "text"), Column("companies", "int")], filters=())
    def companies_by_country(scope):
        """Active companies per country."""
        with scope.ws.transaction() as s:
            rows = s.execute(
                select(Company.country, func.count(Company.id))
                .where(Company.active.is_(True))
                .group_by(Company.country)
                .order_by(Company.country)
            ).all()
        return pd.DataFrame(rows, columns=["country", "companies"])
    '''
)


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An installed distribution (dist-info with entry_points.txt) providing a report."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "shop_reports.py").write_text(PLUGIN)
    info = site / "shop_reports-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shop-reports\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[crmbook.reports]\nshop = shop_reports\n")
    monkeypatch.syspath_prepend(str(site))
    yield site
    REGISTRY.pop("companies_by_country", None)
    sys.modules.pop("shop_reports", None)


def test_an_entry_point_report_joins_the_registry(plugin_path, tmp_path):
    assert "companies_by_country" in load_plugins()
    with crm_core.open(tmp_path / "shop.sqlite") as ws:
        ws.companies.create(name="Indus Textiles", country="PK")
        ws.companies.create(name="Kazan Home", country="RU")
        ws.companies.create(name="Lahore Looms", country="PK")
        frame = ws.reports.run("companies_by_country")
        assert frame.values.tolist() == [["PK", 2], ["RU", 1]]
        with pytest.raises(crm_core.ValidationError, match="does not apply"):
            ws.reports.run("companies_by_country", owner="bilal")


def test_the_command_line_lists_runs_and_exports_it(plugin_path, tmp_path):
    with crm_core.open(tmp_path / "shop.sqlite") as ws:
        ws.companies.create(name="Indus Textiles", country="PK")
    exe = Path(sys.executable).with_name("crmbook")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "crm_core.cli"]
    env = {**os.environ, "PYTHONPATH": str(plugin_path), "COLUMNS": "200"}

    def crmbook(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args, "-w", "shop.sqlite"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    listed = crmbook("report")
    assert listed.returncode == 0, listed.stderr
    assert "companies_by_country" in listed.stdout and "Companies by country" in listed.stdout
    ran = crmbook("report", "companies_by_country")
    assert ran.returncode == 0, ran.stderr
    assert any("PK" in line and " 1 " in line for line in ran.stdout.splitlines())
    written = crmbook("report", "companies_by_country", "--xlsx", "mine.xlsx")
    assert written.returncode == 0, written.stderr
    sheet = load_workbook(tmp_path / "mine.xlsx")["Companies by country"]
    assert [c.value for c in sheet[2]] == ["Country", "Companies"]  # titles of its columns
    assert [c.value for c in sheet[3]] == ["PK", 1]
