"""The example notebooks, executed (:mod:`tests.notebooks.running`), exported to HTML with
nbconvert and opened in Chromium with no internet (every request to another origin is
aborted): the Panel components render from what the notebook saved. Notebook 02's
pipeline board shows its stage columns and cards; notebook 01's ContactBook shows its
table (Tabulator, inlined by Panel)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from nbconvert import HTMLExporter
from playwright.sync_api import expect

import crm_core
from tests.notebooks import running
from tests.widgets.browser import offline, shoot

pytestmark = [
    pytest.mark.slow,
    # Panel's empty display handle (an output with no data), which nbconvert skips
    pytest.mark.filterwarnings("ignore:Your element with mimetype:UserWarning"),
]
VIEW = {"width": 1400, "height": 900}


@pytest.fixture(scope="session")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], running.Run]:
    """``executed(name)``: notebook ``name`` run top to bottom, once per session."""
    return lambda name: running.executed(name, tmp_path_factory)


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on a free loopback port; its origin."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def not_the_notebooks(exporter: HTMLExporter, blocked: list[str]) -> list[str]:
    """``blocked`` less what nbconvert's own page template asks CDNs for (RequireJS,
    MathJax, Mermaid, the ipywidgets manager): none of it comes from the notebook's
    outputs, and Panel needs none of it (without RequireJS it runs its inlined copies)."""
    template = (
        exporter.require_js_url,
        exporter.mathjax_url,
        exporter.mermaid_js_url,
        exporter.mermaid_layout_elk_js_url,
        exporter.jupyter_widgets_base_url + "@jupyter-widgets/html-manager@",
    )
    return sorted({url for url in blocked if not url.startswith(template)})


@contextmanager
def opened_offline(browser: Any, nb: Any, folder: Path, name: str) -> Iterator[Any]:
    """``nb`` exported to ``folder``/``name``.html and opened with no internet; on leaving,
    checks that only nbconvert's template reached for the internet and nothing threw."""
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb)
    (folder / f"{name}.html").write_text(body, encoding="utf-8")
    with serving(folder) as origin:
        page = browser.new_page(viewport=VIEW)
        blocked = offline(page, origin)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{origin}/{name}.html")
        yield page
        page.close()
    assert not_the_notebooks(exporter, blocked) == []
    assert errors == []


def output_of(page: Any, source: str) -> Any:
    """The output area of the code cell whose source contains ``source``."""
    return page.locator(".jp-CodeCell").filter(has_text=source).locator(".jp-OutputArea")


def test_the_pipeline_board_renders_offline_from_the_exported_notebook(browser, executed, tmp_path):
    run = executed("02_pipeline.ipynb")
    with crm_core.open(run.folder / "demo.sqlite") as ws:
        stages = ws.pipeline.stages()
        columns = stages[~stages["is_won"] & ~stages["is_lost"]]["name"].tolist()
        deals = ws.pipeline.search(status="open", limit=1000)["name"].tolist()
    assert columns and deals
    with opened_offline(browser, run.nb, tmp_path, "02_pipeline") as page:
        board = output_of(page, "PipelineBoard(ws.as_user")
        for name in columns:
            expect(board.get_by_text(name, exact=True).first).to_be_visible(timeout=30_000)
        card = next((n for n in dict.fromkeys(deals) if board.get_by_text(n).count()), None)
        assert card is not None, "no card of an open deal is on the board"
        expect(board.get_by_text(card).first).to_be_visible()
        board.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "notebook-02-offline.png"))
        shoot(page, "notebook-02-offline")


def test_the_contact_book_renders_offline_from_the_exported_notebook(browser, executed, tmp_path):
    run = executed("01_contacts.ipynb")
    with opened_offline(browser, run.nb, tmp_path, "01_contacts") as page:
        book = output_of(page, "ContactBook(ws.as_user")
        expect(book.locator(".tabulator-row").first).to_be_visible(timeout=30_000)
        assert book.locator(".tabulator-row").count() > 10
        book.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "notebook-01-offline.png"))
        shoot(page, "notebook-01-offline")
