"""Every chart of the Reports page has data in a real browser (Debian's Chromium through
Playwright), on the demo base with the exchange rates a business keeps, served by the
real ``crmbook serve``: each charted report is picked, and its chart is found drawn
(its bars or lines in the page's colours on the canvas), one chart, converted to PKR.
Screenshots go to screenshots/ for a person to look at."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from PIL import Image

import crm_core
from crm_core.demo import DEMO_PASSWORD, build_demo
from tests.widgets.browser import login, shoot
from tests.widgets.serving import crmbook_serve
from tests.widgets.test_charts_have_data import RATES
from widgets.reports_page import ACTUAL_COLOR, PALETTE, ReportsModel

pytestmark = pytest.mark.slow
VIEW = {"width": 1400, "height": 1000}
TODAY = dt.date(2026, 12, 4)


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    path = folder / "demo.sqlite"
    with crm_core.open(path) as ws:
        build_demo(ws, today=TODAY)
        ws.set_setting("currency", "PKR")
        for currency, rate in RATES.items():
            ws.rates.set(currency, "2020-01-01", rate, base="PKR")
    with crmbook_serve(path, folder / "serve.log") as (url, _process):
        yield url, path


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def series_pixels(png: bytes) -> int:
    """Pixels of a series colour (bars, lines, markers) in a screenshot of a chart."""
    colors = [_rgb(c) for c in (*PALETTE, ACTUAL_COLOR)]
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(
        1
        for pixel in image.getdata()
        if any(sum(abs(a - b) for a, b in zip(pixel, c, strict=True)) < 40 for c in colors)
    )


def expected_charts(path: Path) -> dict[str, list[str]]:
    """Report title -> its columns, for every report with a chart, each checked to draw
    one chart as the page's model computes them for Ayesha."""
    with crm_core.open(path) as ws:
        model = ReportsModel(ws.as_user("ayesha"))
        out = {}
        for name, title in model.reports.items():
            model.report = name
            drawn = [c for c in model.charts if c.drawn]
            if model.chart is not None:
                assert len(drawn) == 1, name
                out[title] = ws.reports.spec(name).column_names
        return out


def test_every_chart_on_the_reports_page_has_data(browser, demo_url):
    url, path = demo_url
    expected = expected_charts(path)
    assert len(expected) == 11
    page = browser.new_page(viewport=VIEW)
    login(page, url, "ayesha", DEMO_PASSWORD)
    page.locator(".crm-nav-reports button").wait_for(timeout=30_000)
    page.locator(".crm-nav-reports button").click()
    picker = page.locator(".crm-reports-select select")
    picker.wait_for()
    drawn = {}
    before: list[str] = []
    for n, (title, columns) in enumerate(sorted(expected.items())):
        picker.select_option(label=title)
        # the new report's table is there: a column the one before did not have
        column = next(c for c in columns if c not in before)
        before = columns
        page.locator(f".crm-reports-table .tabulator-col[tabulator-field='{column}']").wait_for(
            timeout=30_000
        )
        chart = page.locator(".crm-reports-chart")
        chart.first.locator("canvas").first.wait_for(timeout=30_000)
        page.wait_for_timeout(800)  # Bokeh draws on the next frame
        assert chart.count() == 1, title  # one chart: converted, not one per currency
        notes = page.locator(".crm-reports-chart-notes")
        assert "left out" not in notes.inner_text(), title
        drawn[title] = series_pixels(chart.first.screenshot())
        shoot(page, f"reports-chart-{n:02d}-{column}")
    empty = {title: count for title, count in drawn.items() if count < 150}
    assert empty == {}, empty
    page.close()
