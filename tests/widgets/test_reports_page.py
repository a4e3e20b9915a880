"""The Reports page's view-model on the small staff base (tests/widgets/conftest.py):
a report chosen runs with only the filters it takes, a bad filter is named, a sales
user sees only their own deals, the workbook is the exporter's, with progress, and a
user's own report is offered; and its view: chart, table formats, escaped text."""

import datetime as dt
import io

import openpyxl
import pandas as pd
import panel as pn
import pytest
from sqlalchemy import select

import crm_core
from crm_core.models import Opportunity
from crm_core.reports import REGISTRY, Chart, Column, report
from crm_core.reports import Reports as ReportsService
from crm_core.reports.charts import chart_data
from widgets.reports_page import (
    THIS_REPORT,
    ReportsModel,
    ReportsPage,
    chart_notes,
    display_frame,
    doc_html,
    report_figure,
    table_formatters,
)


@pytest.fixture
def base(staff_base):
    """The staff base: Bilal's "Uniforms 2027" (PKR 1,500,000) and Olga's "Towels for
    Kazan" (PKR 900,000), both open in New at 10 %; Ayesha is the manager."""
    path, _records = staff_base
    with crm_core.open(path) as ws:
        yield ws


@pytest.fixture
def calls(monkeypatch):
    """The filters every ``ws.reports.run`` call received, in order."""
    seen: list[tuple[str, dict]] = []
    original = ReportsService.run

    def run(self, name, currency=None, **filters):
        seen.append((name, dict(filters)))
        return original(self, name, currency, **filters)

    monkeypatch.setattr(ReportsService, "run", run)
    return seen


def test_the_page_opens_on_pipeline_by_stage_with_the_spec_columns(base):
    model = ReportsModel(base.as_user("ayesha"))
    spec = base.reports.spec("pipeline_by_stage")
    assert model.report == "pipeline_by_stage"
    assert model.title == "Pipeline by stage"
    assert list(model.frame.columns) == spec.column_names
    assert model.kinds == spec.kinds() and model.chart == spec.chart
    assert model.accepted == [
        "period_from",
        "period_to",
        "owner",
        "team",
        "tag",
        "source",
        "campaign",
    ]
    new = model.frame[model.frame["stage"] == "New"].iloc[0]
    assert (new["count"], str(new["value"])) == (2, "2400000.00")
    # the reporting currency is the workspace's (USD here); the deals' PKR is offered
    assert (model.currencies, model.currency) == (["PKR", "USD"], "USD")
    assert model.message == ""
    assert set(model.reports) == set(base.reports.names())
    assert model.reports["sales_per_customer"] == "Sales per customer"
    assert model.layouts == base.export.layouts()


def test_choosing_a_report_runs_it_and_the_frame_has_its_columns(base, calls):
    model = ReportsModel(base.as_user("ayesha"))
    model.report = "funnel"
    assert calls[-1] == ("funnel", {})
    assert list(model.frame.columns) == base.reports.spec("funnel").column_names
    assert model.frame[model.frame["stage"] == "New"]["reached"].tolist() == [2]
    model.report = "sales_per_customer"  # no invoices in this base: no rows, same columns
    assert list(model.frame.columns) == base.reports.spec("sales_per_customer").column_names
    assert model.frame.empty and model.message == ""
    assert model.accepted == ["period_from", "period_to", "owner", "team"]


def test_only_the_filters_the_report_takes_are_sent(base, calls):
    model = ReportsModel(base.as_user("ayesha"), report="sales_per_customer")
    calls.clear()
    # sales_per_customer takes no tag: setting one does not even run it again
    model.tag = "no such tag"
    assert calls == []
    model.period_from = dt.date(2026, 1, 1)
    assert calls == [("sales_per_customer", {"period_from": dt.date(2026, 1, 1)})]
    assert model.message == ""
    # the tag reaches a report that takes it, and is refused there by name
    model.report = "pipeline_by_stage"
    assert calls[-1] == (
        "pipeline_by_stage",
        {"period_from": dt.date(2026, 1, 1), "tag": "no such tag"},
    )
    assert model.message_kind == "danger" and "tag: no such tag" in model.message
    assert model.filters() == {"period_from": dt.date(2026, 1, 1), "tag": "no such tag"}


def test_a_bad_owner_is_named_and_leaves_an_empty_frame(base):
    model = ReportsModel(base.as_user("ayesha"))
    model.owner = "nobody"
    assert model.message_kind == "danger"
    assert "Owner: no such user" in model.message  # the filter's label (widgets.reasons)
    assert model.frame.empty
    assert list(model.frame.columns) == base.reports.spec("pipeline_by_stage").column_names
    model.owner = "olga"
    assert model.message == ""
    assert model.frame[model.frame["stage"] == "New"]["count"].tolist() == [1]
    assert str(model.frame[model.frame["stage"] == "New"]["value"].iloc[0]) == "900000.00"


def test_a_sales_user_sees_only_their_own_deals(base):
    def new_stage(login):
        model = ReportsModel(base.as_user(login))
        row = model.frame[model.frame["stage"] == "New"].iloc[0]
        return int(row["count"]), str(row["value"]), str(row["weighted_value"])

    assert new_stage("ayesha") == (2, "2400000.00", "240000.00")
    assert new_stage("bilal") == (1, "1500000.00", "150000.00")
    assert new_stage("olga") == (1, "900000.00", "90000.00")
    # asking for someone else's deals gives nothing, never their figures
    model = ReportsModel(base.as_user("bilal"), owner="olga")
    model.run()
    assert model.frame["count"].sum() == 0


def test_make_workbook_writes_the_exporters_workbook_with_progress(base):
    model = ReportsModel(base.as_user("ayesha"), background=False)
    seen: list[int] = []
    model.param.watch(lambda e: seen.append(e.new), "progress")
    data = model.make_workbook()
    assert data == model.workbook_data and data[:2] == b"PK"
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Cover", "Pipeline by stage", "Chart data"]
    assert book["Chart data"].sheet_state == "hidden"
    sheet = book["Pipeline by stage"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == base.reports.spec("pipeline_by_stage").column_names
    assert list(rows[1][:5]) == ["Pipeline", "Stage", "Order", "Currency", "Open deals"]
    assert list(rows[2][:5]) == ["Sales", "New", 10, "PKR", 2]
    assert float(rows[2][5]) == 2400000.0
    assert seen[-1] == 100 and model.running is False
    today = base.today().isoformat()
    assert model.workbook_name == f"pipeline_by_stage-{today}.xlsx"
    assert model.progress_text.startswith(f"Ready: pipeline_by_stage-{today}.xlsx")


def test_a_layout_workbook_gets_the_filters_each_report_takes(base, calls):
    model = ReportsModel(base.as_user("ayesha"), background=False)
    model.param.update(workbook="sales_review", tag="vip")  # tag refused by the report...
    assert "tag" in model.message
    model.tag = ""
    model.owner = "bilal"
    calls.clear()
    data = model.make_workbook()
    assert model.message == ""
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames[0] == "Cover" and "Pipeline by stage" in book.sheetnames
    shown = [s for s in book.worksheets if s.sheet_state == "visible"]
    assert len(shown) == 1 + len(base.export.layout("sales_review").sheets)
    assert all(filters == {"owner": "bilal"} for _name, filters in calls)
    new = next(r for r in book["Pipeline by stage"].iter_rows(values_only=True) if r[1] == "New")
    assert new[4] == 1  # Bilal's deal only
    assert model.workbook_name == f"sales_review-{base.today().isoformat()}.xlsx"


def test_a_refused_workbook_says_why_and_offers_no_file(base):
    model = ReportsModel(base.as_user("ayesha"), background=False)
    model.owner = "nobody"
    assert model.make_workbook() is None
    assert "Owner" in model.message
    assert model.workbook_data is None and model.running is False


def test_in_the_background_the_workbook_is_written_in_a_thread(base):
    model = ReportsModel(base.as_user("ayesha"), background=True)
    assert model.make_workbook() is None
    model.thread.join(timeout=60)
    assert model.running is False and model.progress == 100
    assert openpyxl.load_workbook(io.BytesIO(model.workbook_data)).sheetnames[0] == "Cover"


def test_a_users_own_report_is_offered_and_runs(base):
    @report(
        "my_big_deals",
        title="My big deals",
        columns=[Column("deal", "text"), Column("value", "money")],
        filters=("owner",),
        chart=Chart("pie", "deal", ("value",)),
    )
    def my_big_deals(scope):
        """Deals of 1,000,000 or more."""
        o = Opportunity
        with scope.ws.transaction() as s:
            rows = s.execute(
                select(o.name, o.expected_revenue)
                .where(o.expected_revenue >= 1_000_000, *scope.deals(o))
                .order_by(o.name)
            ).all()
        return pd.DataFrame(rows, columns=["deal", "value"])

    try:
        model = ReportsModel(base.as_user("ayesha"))
        assert model.reports["my_big_deals"] == "My big deals"
        assert "my_big_deals" in model.param.report.objects
        model.report = "my_big_deals"
        assert model.message == "" and model.accepted == ["owner"]
        assert model.frame["deal"].tolist() == ["Uniforms 2027"]
        assert model.doc == "Deals of 1,000,000 or more."
        data = model.make_workbook()
        assert "My big deals" in openpyxl.load_workbook(io.BytesIO(data)).sheetnames
    finally:
        REGISTRY.pop("my_big_deals", None)


# -- the view -----------------------------------------------------------------------------
def test_the_charts_are_crm_cores_and_the_picker_is_the_reporting_currency(base):
    """The page draws crm_core's pivot (the workbook's chart); the picker passes
    currency= to ws.reports.run; without a rate the chart is the picked currency's and
    the page says which rates were missing."""
    base.set_setting("currency", "PKR")
    base.as_user("bilal").pipeline.create("Buttons", expected_revenue="4000", currency="EUR")
    model = ReportsModel(base.as_user("ayesha"))
    assert model.currency == "PKR" and model.currencies == ["EUR", "PKR"]
    [chart] = model.charts
    # Uniforms (PKR 1,500,000) and Towels (PKR 900,000) in New; the EUR deal not added
    assert (chart.title, chart.categories[:2]) == (
        "Pipeline value by stage (PKR)",
        ["New", "Qualified"],
    )
    assert chart.series["Value"][:2] == [2_400_000.0, 0.0]
    assert "no rate for EUR" in model.missing_rates
    assert "no rate for EUR" in chart_notes(model)
    model.currency = "EUR"  # no PKR->EUR rate either: EUR's own deals
    [chart] = model.charts
    assert (chart.title, chart.series["Value"][0]) == ("Pipeline value by stage (EUR)", 4000.0)
    base.rates.set("EUR", "2020-01-01", "0.004", base="PKR")  # 1 PKR = 0.004 EUR
    model.currency = "PKR"
    [chart] = model.charts
    assert chart.series["Value"][0] == 2_400_000 + 1_000_000  # EUR 4,000 at 0.004
    assert model.missing_rates == "" and chart_notes(model) == ""


def test_a_chart_left_out_is_said_so(base):
    model = ReportsModel(base.as_user("ayesha"), report="campaign_results")
    assert model.chart is not None and not any(c.drawn for c in model.charts)
    assert "chart left out (nothing to draw)" in chart_notes(model)
    assert report_figure(model.charts[0]) is None


def test_the_forecast_methods_left_out_are_said_so_in_the_pages_language(base):
    """The staff base has no invoice: no method is forecast, and the page says why
    (it showed the forecast's empty rows without a word)."""
    from widgets.i18n import speaking

    model = ReportsModel(base.as_user("ayesha"), report="revenue_forecast")
    assert model.left_out == ["no forecast: there is no invoice yet"]
    assert "<div>no forecast: there is no invoice yet</div>" in chart_notes(model)
    with speaking("ru"):
        model.run()
    assert model.left_out == ["прогноза нет: счетов ещё нет"]
    model.report = "pipeline_by_stage"
    assert model.left_out == [] and "прогноза" not in chart_notes(model)


def test_display_frame_and_formats_follow_the_column_kinds(base):
    model = ReportsModel(base.as_user("ayesha"), report="stage_win_rates")
    shown = display_frame(model.frame, model.kinds)
    assert shown["probability"].dtype == float and shown["probability"].iloc[0] == 0.1
    formats = table_formatters(model.kinds)
    assert formats["probability"].format == "0.0 %"
    model.report = "pipeline_by_stage"
    shown = display_frame(model.frame, model.kinds)
    assert shown["value"].tolist()[0] == 2400000.0
    # money: the row's currency's text beside (tests/widgets/test_money_display.py)
    assert table_formatters(model.kinds)["value"].template == "<%- value__shown %>"
    assert "count" not in table_formatters(model.kinds)


@pytest.mark.parametrize("kind", ["column", "bar", "line", "pie"])
def test_every_chart_type_draws_its_categories_as_text(kind):
    frame = pd.DataFrame({"stage": ["<b>New</b>", "Won"], "a": [1.0, 2.0], "b": [3.0, None]})
    [data] = chart_data(Chart(kind, "stage", ("a", "b")), frame, {"a": "number", "b": "number"})
    fig = report_figure(data)
    axis = fig.y_range if kind == "bar" else fig.x_range
    assert "<b>New</b>" in {f[0] if isinstance(f, tuple) else f for f in axis.factors}
    assert report_figure(None) is None


def find(layout, css_class):
    return next(o for o in layout.select() if css_class in getattr(o, "css_classes", []))


def test_the_page_shows_the_reports_escaped_doc_and_a_table(base):
    page = ReportsPage(base.as_user("ayesha"))
    layout = pn.panel(page)
    layout.get_root()
    css = {c for obj in layout.select() for c in getattr(obj, "css_classes", [])}
    for part in ("chart", "table", "prepare", "download", "progress", "select", "help"):
        assert f"crm-reports-{part}" in css
    table = next(o for o in layout.select(pn.widgets.Tabulator))
    assert table.value["stage"].tolist()[0] == "New"
    assert "html" not in {str(f) for f in table.formatters.values()}
    page.model.report = "sales_per_customer"
    owner = find(layout, "crm-reports-filter-owner")
    tag = find(layout, "crm-reports-filter-tag")
    assert (owner.disabled, tag.disabled) == (False, True)
    assert "bilal" in owner.options.values()
    help_pane = find(layout, "crm-reports-help")
    assert "Sales, payment and aging" in help_pane.object
    assert doc_html("<script>x</script>").count("&lt;script&gt;") == 1
    download = next(o for o in layout.select(pn.widgets.FileDownload))
    assert download.disabled
    page.model.background = False
    page.model.make_workbook()
    assert not download.disabled and download.filename.startswith("sales_per_customer-")
    assert THIS_REPORT in page.model.param.workbook.objects
