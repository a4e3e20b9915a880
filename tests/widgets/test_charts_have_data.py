"""Every chart of the Reports and Dashboard pages has something to draw on the demo
base, for a manager (the whole team) and for a salesperson (their own deals): no
chart opens blank."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import crm_core
from crm_core.demo import build_demo
from widgets.dashboard import DashboardModel
from widgets.reports_page import ReportsModel, chart_data, report_figure

TODAY = dt.date(2026, 12, 4)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    with crm_core.open(path) as ws:
        build_demo(ws, today=TODAY)
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
        _, series = chart_data(page.chart, page.frame, page.currency)
        drawn = any(any(v != 0 for v in values) for values in series.values())
        if drawn:
            continue
        # Nothing in any currency is said so in the title, never a silent blank frame.
        _all, anywhere = chart_data(page.chart, page.frame)
        assert not any(v for values in anywhere.values() for v in values), name
        fig = report_figure(page.chart, page.frame, page.kinds, page.currency)
        assert fig.title.text.endswith(": no data"), (name, fig.title.text)
        blank.append(name)
    # The whole team's reports all draw; a salesperson's may lack only campaign wins.
    assert blank == ([] if login == "ayesha" else ["campaign_results"]), blank


@pytest.mark.parametrize("login", ["ayesha", "bilal"])
def test_every_dashboard_chart_has_data(demo, login):
    board = DashboardModel(demo.as_user(login))
    for name in ("funnel", "by_stage", "revenue"):
        frame = getattr(board, name)
        assert frame is not None and not frame.empty, name
        numbers = frame.apply(lambda c: pd.to_numeric(c.astype(object), errors="coerce"))
        assert (numbers.fillna(0) != 0).any().any(), name  # money columns hold Decimals
