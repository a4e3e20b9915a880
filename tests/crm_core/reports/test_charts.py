"""A report's chart as crm_core pivots it (crm_core.reports.charts.chart_data), the
figures the workbooks and the app's Reports page both draw; and the titles of every
built-in column (crm_core/reports/labels.toml)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from crm_core.export.tables import ACTIVITY_COLUMNS, CONTACT_COLUMNS, OPPORTUNITY_COLUMNS
from crm_core.reports import REGISTRY, Chart, Reports
from crm_core.reports.charts import chart_data, report_charts
from crm_core.reports.labels import CONVERTED, column_label, translations

LANGUAGES = ("en", "ur", "sd", "bn", "ta", "ru")


def test_the_funnel_adds_up_its_cohorts_and_keeps_the_pipeline_order():
    frame = pd.DataFrame(
        {
            "cohort": ["2026-01", "2026-01", "2026-02", "2026-02", "2026-02"],
            "stage": ["Won", "New", "Qualified", "New", "Won"],
            "sequence": [70, 10, 20, 10, 70],
            "reached": [2, 9, 4, 6, 1],
        }
    )
    chart = Chart("bar", "stage", ("reached",), "Funnel", order="sequence")
    [got] = chart_data(chart, frame, {"reached": "int", "sequence": "int"}, report="funnel")
    assert got.categories == ["New", "Qualified", "Won"]
    assert got.series == {"Deals reaching the stage": [15.0, 4.0, 3.0]}
    assert (got.axis, got.currency, got.drawn) == ("number", None, True)


def money_frame(converted):
    return pd.DataFrame(
        {
            "stage": ["New", "New", "Won"],
            "currency": ["PKR", "EUR", "PKR"],
            "value": [Decimal("100"), Decimal("2"), Decimal("50")],
            "value_converted": converted,
        }
    )


def test_a_money_chart_uses_converted_values_only_when_every_amount_was_converted():
    chart = Chart("column", "stage", ("value",), "Value")
    kinds = {"value": "money", "value_converted": "money"}
    whole = money_frame([Decimal("100"), Decimal("600"), Decimal("50")])
    whole.attrs["reporting_currency"] = "PKR"
    [one] = chart_data(chart, whole, kinds)
    assert (one.title, one.categories, one.series) == (
        "Value (PKR)",
        ["New", "Won"],
        {"Value": [700.0, 50.0]},
    )
    # EUR's rate missing: a chart per currency, never PKR and EUR added up
    part = money_frame([Decimal("100"), None, Decimal("50")])
    got = chart_data(chart, part, kinds)
    assert [(c.title, c.categories, c.series, c.currency) for c in got] == [
        ("Value (EUR)", ["New"], {"Value": [2.0]}, "EUR"),
        ("Value (PKR)", ["New", "Won"], {"Value": [100.0, 50.0]}, "PKR"),
    ]
    [pkr] = chart_data(chart, part, kinds, only="PKR")
    assert pkr.currency == "PKR"


def test_chart_figures_carry_no_float_noise():
    """Added up as floats, 0.1 + 0.2 + 651969401.64 is 651969401.9399998: the chart
    data sheet of a workbook showed that. Each figure is its currency's exact cents."""
    frame = pd.DataFrame(
        {
            "stage": ["Qualified"] * 3 + ["Won"],
            "currency": ["PKR"] * 3 + ["KWD"],
            "value": [Decimal("0.1"), Decimal("0.2"), Decimal("651969401.64"), Decimal("1.235")],
        }
    )
    chart = Chart("column", "stage", ("value",), "Value")
    got = chart_data(chart, frame, {"value": "money"})
    assert {c.currency: c.series["Value"] for c in got} == {
        "KWD": [1.235],
        "PKR": [651969401.94],
    }


def test_counts_in_several_currencies_are_added_up_and_percentages_are_not():
    frame = pd.DataFrame(
        {
            "reason": ["Price", "Price"],
            "currency": ["PKR", "EUR"],
            "count": [2, 3],
            "share": [0.5, 0.2],
        }
    )
    [counts] = chart_data(Chart("bar", "reason", ("count",)), frame, {"count": "int"})
    assert counts.series == {"Deals": [5.0]}
    shares = chart_data(Chart("bar", "reason", ("share",)), frame, {"share": "percent"})
    assert [(c.currency, c.series, c.axis) for c in shares] == [
        ("EUR", {"Share": [0.2]}, "percent"),
        ("PKR", {"Share": [0.5]}, "percent"),
    ]


def test_a_ranking_without_other_names_the_rest_in_its_note():
    frame = pd.DataFrame({"customer": list("ABCDE"), "revenue": [5, 9, 1, 7, 2]})
    chart = Chart("bar", "customer", ("revenue",), "Revenue", top=2, other=False)
    [got] = chart_data(chart, frame, {"revenue": "number"})
    assert got.categories == ["B", "D"]
    assert got.note == "the 2 largest of 5; the other 3 together: 8"


def test_a_chart_in_another_language_and_one_with_nothing_to_draw():
    frame = pd.DataFrame({"month": ["2026-01"], "method": ["naive"], "revenue": [0]})
    chart = Chart("line", "month", ("revenue",), "Revenue by month", series="method")
    [got] = chart_data(chart, frame, {"revenue": "number"}, language="ru")
    assert (got.drawn, got.title, got.reason) == (False, "Выручка по месяцам", "нечего показать")
    frame["revenue"] = [10]
    [got] = chart_data(chart, frame, {"revenue": "number"}, language="ta")
    assert got.series == {"கடந்த மாத எண்ணிக்கை": [10.0]}


def test_chart_declarations_are_checked():
    with pytest.raises(ValueError, match="takes one value column"):
        Chart("line", "month", ("a", "b"), series="method")
    with pytest.raises(ValueError, match="common columns go with series"):
        Chart("line", "month", ("a",), common=("b",))
    with pytest.raises(ValueError, match="axis"):
        Chart("line", "month", ("a",), axis="euros")


def built_in_columns():
    Reports(None).names()  # type: ignore[arg-type]  # loads the built-in reports
    out = {(name, c.name) for name, spec in REGISTRY.items() for c in spec.columns}
    for columns in (CONTACT_COLUMNS, OPPORTUNITY_COLUMNS, ACTIVITY_COLUMNS):
        out |= {("table", c.name) for c in columns}
    return sorted(out)


def test_every_built_in_column_has_a_title_in_every_language():
    known = translations()
    untitled = [
        (report, name)
        for report, name in built_in_columns()
        if name not in known
        and not (name.endswith(CONVERTED) and name.removesuffix(CONVERTED) in known)
        and not report.startswith("x")  # the tests' own reports
    ]
    assert untitled == []
    missing = [(k, lang) for k, v in known.items() for lang in LANGUAGES if not v.get(lang)]
    assert missing == []
    assert column_label("age_90_plus") == "Over 90 days late"
    assert column_label("revenue_converted", "bn", currency="USD") == "আয় (USD)"
    assert column_label("some_plugin_column", declared="Plugin's own") == "Plugin's own"
    assert column_label("some_plugin_column") == "Some plugin column"


def test_every_built_in_chart_names_columns_its_report_has():
    Reports(None).names()  # type: ignore[arg-type]
    for name, spec in REGISTRY.items():
        if spec.chart is not None:
            assert set(spec.chart.columns) <= set(spec.column_names), name
            empty = pd.DataFrame(columns=spec.column_names)
            assert all(not c.drawn for c in report_charts(spec, empty)), name
