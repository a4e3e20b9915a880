"""Workbook layouts: the shipped TOML files, user folders overriding them, and the
errors a broken layout gets (file, sheet, what is wrong)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import crm_core
from crm_core.errors import NotFoundError, ValidationError
from crm_core.export import layouts
from crm_core.reports import REGISTRY

BUILT_IN = {
    "sales_review": (
        "Sales review",
        [
            "pipeline_by_stage",
            "funnel",
            "stage_velocity",
            "win_loss",
            "workload",
            "campaign_results",
        ],
    ),
    "customers": ("Customers", ["sales_per_customer", "rfm", "interactions"]),
    "forecast": (
        "Forecast",
        [
            "forecast_pipeline",
            "stage_win_rates",
            "revenue_forecast",
            "forecast_backtest",
            "forecast_backtest_detail",
        ],
    ),
}


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def no_user_folders(monkeypatch):
    monkeypatch.delenv(layouts.ENV_VAR, raising=False)


def test_the_built_in_layouts_parse_with_their_reports_in_order():
    assert layouts.BUILT_IN.is_dir()
    found = layouts.available()
    assert set(BUILT_IN) <= set(found)
    for name, (title, reports) in BUILT_IN.items():
        layout = layouts.load(name)
        assert layout.title == title
        assert [s.report for s in layout.sheets] == reports
        assert all(s.title for s in layout.sheets)


def test_the_built_in_layouts_name_known_reports():
    crm_core.reports._load_all()
    wanted = {r for _, reports in BUILT_IN.values() for r in reports}
    assert sorted(wanted - set(REGISTRY)) == []
    for name in BUILT_IN:
        layouts.check(layouts.load(name), REGISTRY)


def test_user_folders_add_layouts_and_override_built_in_ones(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    write(first, "sales_review", 'title = "Our review"\n[[sheets]]\ntable = "contacts"\n')
    write(second, "sales_review", 'title = "Not this one"\n[[sheets]]\ntable = "contacts"\n')
    write(second, "mine", 'title = "Mine"\n[[sheets]]\nreport = "funnel"\n')
    monkeypatch.setenv(layouts.ENV_VAR, os.pathsep.join([str(first), str(second)]))
    found = layouts.available()
    assert found["sales_review"] == first / "sales_review.toml"  # the earlier folder wins
    assert found["mine"] == second / "mine.toml"
    assert found["forecast"] == layouts.BUILT_IN / "forecast.toml"
    assert layouts.load("sales_review").title == "Our review"
    with pytest.raises(NotFoundError, match="workbook layout 'nope'"):
        layouts.load("nope")


def test_a_folder_beside_the_workspace_file_wins(sqlite_ws, tmp_path, monkeypatch):
    env = tmp_path / "env"
    write(env, "review", 'title = "From the environment"\n[[sheets]]\ntable = "contacts"\n')
    monkeypatch.setenv(layouts.ENV_VAR, str(env))
    beside = Path(sqlite_ws.engine.url.database).parent / "templates" / "workbooks"
    write(beside, "review", 'title = "Beside the workspace"\n[[sheets]]\ntable = "activities"\n')
    assert layouts.workspace_dir(sqlite_ws) == beside.resolve()
    assert layouts.load("review", sqlite_ws).title == "Beside the workspace"
    assert layouts.load("review").title == "From the environment"
    assert sqlite_ws.export.layouts()["review"] == "Beside the workspace"


def test_a_layout_with_sheets_of_every_kind(tmp_path):
    path = write(
        tmp_path,
        "full",
        """
title = "Full"
description = "every key"

[[sheets]]
report = "funnel"
title = "The funnel"
filters = { source = "web", period_from = 2026-01-01 }

[[sheets]]
table = "contacts"
segment = "Karachi"
""",
    )
    layout = layouts.parse(path)
    assert layout.name == "full" and layout.description == "every key"
    funnel, contacts = layout.sheets
    assert (funnel.report, funnel.title, funnel.source) == ("funnel", "The funnel", "funnel")
    assert dict(funnel.filters) == {
        "source": "web",
        "period_from": __import__("datetime").date(2026, 1, 1),
    }
    assert (contacts.table, contacts.segment, contacts.title) == ("contacts", "Karachi", None)


def test_every_problem_of_a_layout_is_named_at_once(tmp_path):
    path = write(
        tmp_path,
        "broken",
        """
colour = "red"

[[sheets]]
report = "funnel"
table = "contacts"

[[sheets]]
table = "invoices"
filters = { owner = "bilal" }

[[sheets]]
report = "funnel"
segment = "VIP"
filters = { region = "north" }
titel = "typo"
""",
    )
    with pytest.raises(ValidationError) as caught:
        layouts.parse(path)
    found = {(e.record, e.field): e.reason for e in caught.value.errors}
    record = f"layout {str(path)!r}"
    assert found == {
        (record, "colour"): "is not a layout key; use title, description, sheets",
        (record, "title"): "must be a non-empty string",
        (f"{record} sheet 1", "report"): "give exactly one of 'report' or 'table'",
        (f"{record} sheet 2", "table"): "must be one of contacts, opportunities, activities",
        (f"{record} sheet 2", "filters"): "apply to reports, not to tables",
        (
            f"{record} sheet 3",
            "titel",
        ): "is not a sheet key; use report, table, title, filters, segment",
        (f"{record} sheet 3", "filters.region"): (
            "is not a filter; use period_from, period_to, owner, team, tag, source, campaign"
        ),
        (f"{record} sheet 3", "segment"): "applies to tables only",
    }


def test_bad_toml_and_an_empty_layout(tmp_path):
    bad = write(tmp_path, "bad", 'title = "x\n')
    with pytest.raises(ValidationError, match=r"bad\.toml.*is not valid TOML"):
        layouts.parse(bad)
    empty = write(tmp_path, "empty", 'title = "Empty"\n')
    with pytest.raises(ValidationError, match="must be a non-empty list of"):
        layouts.parse(empty)


def test_report_names_and_fixed_filters_are_checked_against_the_reports(tmp_path, test_reports):
    path = write(
        tmp_path,
        "mine",
        """
title = "Mine"
[[sheets]]
report = "xt_deals_by_stage"
filters = { owner = "bilal", period_from = 2026-01-01 }
[[sheets]]
report = "no_such_report"
[[sheets]]
table = "contacts"
""",
    )
    with pytest.raises(ValidationError) as caught:
        layouts.check(layouts.parse(path), REGISTRY)
    errors = {(e.record.rsplit(" ", 2)[-2:][1], e.field): e.reason for e in caught.value.errors}
    assert errors[("1", "filters.period_from")] == (
        "does not apply to report 'xt_deals_by_stage' (filters: owner, tag)"
    )
    assert errors[("2", "report")].startswith("is not a known report (known: ")
    assert "xt_period" in errors[("2", "report")]
    assert len(errors) == 2
