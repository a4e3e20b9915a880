"""Every chart of the Reports and Dashboard pages has something to draw on the demo
base (with the exchange rates a business keeps), for a manager (the whole team) and for
a salesperson (their own deals): no chart opens blank, and one left out says why."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import crm_core
from crm_core.demo import build_demo
from widgets.dashboard import DashboardModel
from widgets.reports_page import ReportsModel, chart_notes, report_figure

TODAY = dt.date(2026, 12, 4)
#: What one PKR buys of each currency the demo sells in (from 2020 on).
RATES = {
    "BDT": "0.43",
    "EUR": "0.0031",
    "GBP": "0.0027",
    "INR": "0.30",
    "LKR": "1.06",
    "RUB": "0.33",
    "USD": "0.0036",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    with crm_core.open(path) as ws:
        build_demo(ws, today=TODAY)
        ws.set_setting("currency", "PKR")
        for currency, rate in RATES.items():
            ws.rates.set(currency, "2020-01-01", rate, base="PKR")
    ws = crm_core.open(path)
    yield ws
    ws.engine.dispose()


def charted_reports(ws):
    page = ReportsModel(ws)
    return [name for name in page.reports if ws.reports.spec(name).chart is not None]


@pytest.mark.parametrize("login", ["ayesha", "bilal"])
def test_every_report_chart_has_data(demo, login):
    ws = demo.as_user(login)
    page = ReportsModel(ws)
    names = charted_reports(ws)
    assert len(names) >= 10
    blank = []
    for name in names:
        page.report = name
        drawn = [c for c in page.charts if c.drawn]
        assert page.missing_rates == "", (name, page.missing_rates)
        if drawn:
            assert len(drawn) == 1, name  # converted: one chart, not one per currency
            [chart] = drawn
            assert any(v for values in chart.series.values() for v in values if v), name
            fig = report_figure(chart)
            assert fig is not None and fig.renderers, name
            continue
        # A chart left out is said so on the page, never a silent blank frame.
        assert "chart left out" in chart_notes(page), name
        blank.append(name)
    # The whole team's reports all draw, and so do a salesperson's (a campaign they won
    # nothing from still shows its cost).
    assert blank == [], blank


@pytest.mark.parametrize("login", ["ayesha", "bilal"])
def test_every_dashboard_chart_has_data(demo, login):
    board = DashboardModel(demo.as_user(login))
    for name in ("funnel", "by_stage", "revenue"):
        frame = getattr(board, name)
        assert frame is not None and not frame.empty, name
        numbers = frame.apply(lambda c: pd.to_numeric(c.astype(object), errors="coerce"))
        assert (numbers.fillna(0) != 0).any().any(), name  # money columns hold Decimals
