"""The dashboard's view-model: headline figures and chart data from crm_core for the
chosen period and user, refusals reported; and its view: cards, three Bokeh charts,
escaped text, inline and as an ipywidget."""

import datetime as dt
from decimal import Decimal

import panel as pn
import pytest
from bokeh.models import HoverTool

from widgets.dashboard import (
    Dashboard,
    DashboardModel,
    by_stage_figure,
    figure_cards,
    funnel_figure,
    revenue_figure,
)

D = Decimal
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def deals(ws):
    """Bilal and Olga (sales), Ayesha (manager); workspace currency PKR.

    uniforms  bilal  PKR 1,000,000  New > Qualified > Proposition (60%)  open
    towels    olga   PKR   500,000  New (10%)                            open
    export    bilal  USD    20,000  New > Negotiation (80%)              open
    shirts    bilal  PKR   300,000  New > Qualified > Won                won 15 May
    bedding   olga   PKR   200,000  New > Lost                           lost 15 May
    and one call of Bilal's done on 14 May.
    """
    ws.set_setting("currency", "PKR")
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    indus = ws.companies.create(name="Indus Textiles", country="PK")["id"]
    p = ws.pipeline

    def deal(name, owner, revenue, currency="PKR"):
        return p.create(
            name, owner=owner, expected_revenue=revenue, currency=currency, company=indus
        )["id"]

    uniforms = deal("uniforms", "bilal", "1000000.00")
    p.move(uniforms, "Qualified")
    p.move(uniforms, "Proposition")
    deal("towels", "olga", "500000.00")
    p.move(deal("export", "bilal", "20000.00", "USD"), "Negotiation")
    shirts = deal("shirts", "bilal", "300000.00")
    p.move(shirts, "Qualified")
    p.win(shirts)
    p.lose(deal("bedding", "olga", "200000.00"), "Too expensive")
    call = ws.activities.schedule(
        "call", "Call Indus", "2026-05-14", assignee="bilal", company=indus
    )
    ws.activities.complete(call["id"], at="2026-05-14T10:00:00+00:00")
    return {"indus": indus}


def test_the_model_reads_the_last_90_days_figures_and_the_chart_data(ws, deals):
    model = DashboardModel(ws)
    assert (model.period_from, model.period_to) == (dt.date(2026, 2, 15), dt.date(2026, 5, 15))
    assert model.figures["pipeline_value"] == {"PKR": D("1500000.00"), "USD": D("20000.00")}
    assert model.figures["weighted_pipeline"] == {"PKR": D("650000.00"), "USD": D("16000.00")}
    assert (model.figures["win_rate"], model.figures["activities_done"]) == (0.5, 1)
    assert figure_cards(model.figures) == [
        ("pipeline_value", "Pipeline value", "PKR 1,500,000.00\nUSD 20,000.00"),
        ("weighted_pipeline", "Weighted pipeline", "PKR 650,000.00\nUSD 16,000.00"),
        ("win_rate", "Win rate", "50% (1 won, 1 lost)"),
        ("activities_done", "Activities done", "1"),
    ]
    assert model.funnel[["stage", "count"]].values.tolist() == [
        ["New", 5],
        ["Qualified", 3],
        ["Proposition", 3],
        ["Negotiation", 2],
        ["Won", 1],
    ]
    # the open pipeline per stage: the won and lost stages are left out
    assert model.by_stage.fillna({"currency": ""})[
        ["stage", "currency", "count", "value"]
    ].values.tolist() == [
        ["New", "PKR", 1, D("500000.00")],
        ["Qualified", "", 0, D("0.00")],
        ["Proposition", "PKR", 1, D("1000000.00")],
        ["Negotiation", "USD", 1, D("20000.00")],
    ]
    assert model.revenue["month"].tolist()[-1] == "2026-05"
    assert model.revenue.iloc[-1][["currency", "revenue", "won"]].tolist() == [
        "PKR",
        D("0.00"),
        D("300000.00"),
    ]
    assert (model.currencies, model.currency) == (["PKR", "USD"], "PKR")
    assert model.message == ""


def test_changing_the_period_refreshes_the_figures(ws, deals):
    model = DashboardModel(ws)
    model.period_from = dt.date(2026, 5, 15)
    assert (model.figures["won"], model.figures["lost"], model.figures["activities_done"]) == (
        1,
        1,
        0,
    )
    model.param.update(period_from=dt.date(2026, 1, 1), period_to=dt.date(2026, 5, 14))
    assert (model.figures["won"], model.figures["win_rate"]) == (0, None)
    assert figure_cards(model.figures)[2] == ("win_rate", "Win rate", "no deal closed")


def test_a_period_ending_before_it_starts_is_refused_and_the_figures_stay(ws, deals):
    model = DashboardModel(ws)
    before = dict(model.figures)
    model.param.update(period_from=dt.date(2026, 6, 1), period_to=dt.date(2026, 5, 1))
    assert model.message_kind == "danger"
    assert "period_to: is before period_from" in model.message
    assert model.figures == before
    model.period_to = dt.date(2026, 6, 30)
    assert model.message == ""


def test_a_sales_user_sees_their_own_figures_and_charts(ws, deals):
    model = DashboardModel(ws.as_user("bilal"))
    assert model.figures["pipeline_value"] == {"PKR": D("1000000.00"), "USD": D("20000.00")}
    assert (model.figures["won"], model.figures["lost"], model.figures["win_rate"]) == (1, 0, 1.0)
    assert model.funnel["count"].tolist() == [3, 3, 3, 2, 1]
    assert model.by_stage[["stage", "count"]].values.tolist() == [
        ["New", 0],
        ["Qualified", 0],
        ["Proposition", 1],
        ["Negotiation", 1],
    ]
    olga = DashboardModel(ws.as_user("olga"))
    assert olga.figures["pipeline_value"] == {"PKR": D("500000.00")}
    assert olga.funnel["count"].tolist() == [2, 0, 0, 0, 0]


def test_the_charts_draw_the_computed_values(ws, deals):
    model = DashboardModel(ws)
    funnel = funnel_figure(model.funnel)
    assert funnel.y_range.factors == ["Won", "Negotiation", "Proposition", "Qualified", "New"]
    assert funnel.renderers[0].data_source.data["count"] == [5, 3, 3, 2, 1]
    stages = by_stage_figure(model.by_stage, "PKR")
    assert stages.x_range.factors == ["New", "Qualified", "Proposition", "Negotiation"]
    assert stages.renderers[0].data_source.data["value"] == [500000.0, 0.0, 1000000.0, 0.0]
    assert by_stage_figure(model.by_stage, "USD").renderers[0].data_source.data["value"] == [
        0.0,
        0.0,
        0.0,
        20000.0,
    ]
    revenue = revenue_figure(model.revenue, "PKR")
    data = revenue.renderers[0].data_source.data
    assert list(data["x"][-2:]) == [("2026-05", "invoiced"), ("2026-05", "won")]
    assert data["amount"][-2:] == [0.0, 300000.0]
    # The default period is the last 90 days (from 2026-02-15): its four months.
    assert len(data["x"]) == 8 and data["x"][0] == ("2026-02", "invoiced")


def test_the_charts_follow_the_period(ws, deals):
    model = DashboardModel(ws)
    everything = model.funnel["count"].tolist()
    # No bounds: the last twelve months.
    model.param.update(period_from=None, period_to=None)
    assert model.revenue["month"].unique().tolist()[0] == "2025-06"
    assert len(model.revenue["month"].unique()) == 12
    # A period before any deal was created: an empty funnel, the period's months only.
    model.param.update(period_from=dt.date(2024, 1, 10), period_to=dt.date(2024, 3, 5))
    assert model.funnel["count"].tolist() == [0] * len(everything)
    assert model.revenue["month"].unique().tolist() == ["2024-01", "2024-02", "2024-03"]
    assert model.figures["period_from"] == dt.date(2024, 1, 10)
    model.param.update(period_from=dt.date(2026, 2, 15), period_to=dt.date(2026, 5, 15))
    assert model.funnel["count"].tolist() == everything


def test_the_view_shows_cards_and_three_bokeh_charts_and_follows_the_model(ws, deals):
    dashboard = Dashboard(ws)
    layout = dashboard.__panel__()
    assert "crm-dashboard" in layout.css_classes
    cards = [p for p in layout.select(pn.pane.HTML) if "crm-figure" in p.css_classes]
    assert len(cards) == 4
    assert "PKR 1,500,000.00<br>USD 20,000.00" in cards[0].object
    charts = layout.select(pn.pane.Bokeh)
    assert len(charts) == 3
    layout.get_root()  # the whole Bokeh model tree builds (what a notebook renders)
    dashboard.model.currency = "USD"
    by_stage = next(c for c in charts if "crm-chart-by-stage" in c.css_classes)
    assert by_stage.object.renderers[0].data_source.data["value"][-1] == 20000.0
    dashboard.model.period_from = dt.date(2026, 5, 15)
    cards = [p for p in layout.select(pn.pane.HTML) if "crm-figure" in p.css_classes]
    assert "Activities done" in cards[3].object and ">0</div>" in cards[3].object
    widget = pn.ipywidget(Dashboard(ws.as_user("bilal")))
    assert type(widget).__name__ == "BokehModel"


def test_database_text_is_never_rendered_as_html(ws, deals):
    ws.pipeline.create_pipeline("Export", [(XSS, 10, False, False), ("Done", 100, True, False)])
    ws.pipeline.create("Risky", pipeline="Export", expected_revenue="5.00")
    dashboard = Dashboard(ws, pipeline="Export")
    layout = dashboard.__panel__()
    charts = layout.select(pn.pane.Bokeh)
    funnel = next(c for c in charts if "crm-chart-funnel" in c.css_classes).object
    assert XSS in funnel.y_range.factors  # drawn as text on the canvas
    for chart in charts:
        for tool in chart.object.select(type=HoverTool):
            assert all("{safe}" not in spec for _label, spec in tool.tooltips)
    dashboard.model.pipeline = XSS  # no such pipeline: the error quotes the name
    assert dashboard.model.message_kind == "danger" and XSS in dashboard.model.message
    shown = [p.object for p in layout.select(pn.pane.HTML)]
    shown += [str(p.object) for p in layout.select(pn.pane.Markdown)]
    assert shown and not any("<img" in text for text in shown)
    alert = next(p for p in layout.select(pn.pane.Alert) if "crm-alert" in p.css_classes)
    assert "&lt;img" in str(alert.object)


def add_rate(ws, currency, base, rate, on="2026-01-01"):
    """A row of the exchange-rate table: on ``on`` one ``base`` is worth ``rate``
    ``currency``."""
    from crm_core.models import ExchangeRate

    with ws.transaction() as s:
        s.add(
            ExchangeRate(
                currency=currency,
                base=base,
                day=dt.date.fromisoformat(on),
                rate=D(rate),
                source="manual",
                recorded_at=ws.clock(),
            )
        )


def test_the_money_cards_show_one_converted_figure_first(ws, deals):
    """USD 20,000 at 250 PKR a dollar is PKR 5,000,000 (weighted 80 %: 4,000,000)."""
    model = DashboardModel(ws)
    # no rate yet: every currency on its own line, and the missing rate named
    assert figure_cards(model.figures)[0][2] == "PKR 1,500,000.00\nUSD 20,000.00"
    dashboard = Dashboard(ws)
    cards = [p for p in dashboard.__panel__().select(pn.pane.HTML) if "crm-figure" in p.css_classes]
    assert "Not converted: no rate for USD on or before 2026-05-15 (to PKR)" in cards[0].object
    add_rate(ws, "PKR", "USD", "250")
    model.refresh()
    assert model.figures["pipeline_value_converted"] == D("6500000.00")
    assert figure_cards(model.figures)[:2] == [
        ("pipeline_value", "Pipeline value", "PKR 6,500,000.00"),
        ("weighted_pipeline", "Weighted pipeline", "PKR 4,650,000.00"),
    ]
    dashboard = Dashboard(ws)
    cards = [p for p in dashboard.__panel__().select(pn.pane.HTML) if "crm-figure" in p.css_classes]
    html_text = cards[0].object
    # the one figure first, the per-currency amounts on demand, no note
    assert html_text.index("PKR 6,500,000.00") < html_text.index("<details")
    assert "<li>PKR 1,500,000.00</li><li>USD 20,000.00</li>" in html_text
    assert "Not converted" not in html_text
    # the charts add every currency up in the reporting currency once all convert
    chart = by_stage_figure(model.by_stage, model.currency)
    data = chart.renderers[0].data_source.data
    assert list(data["stage"]) == ["New", "Qualified", "Proposition", "Negotiation"]
    assert list(data["value"]) == [500000.0, 0.0, 1000000.0, 5000000.0]  # USD 20,000 x 250
    assert chart.title.text == "Open pipeline now, by stage (all in PKR)"
    revenue = revenue_figure(model.revenue, model.currency)
    assert revenue.title.text == "Revenue by month (all in PKR): invoiced and won"
    # choosing another reporting currency reads everything again, converted to it
    model.currency = "USD"
    assert model.figures["pipeline_value_converted"] == D("26000.00")  # 6,000 + 20,000
