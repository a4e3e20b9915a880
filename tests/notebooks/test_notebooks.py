"""The example notebooks run top to bottom on the demo base, in a real kernel (nbclient),
and what they show works offline: their saved outputs fetch nothing from another origin."""

from __future__ import annotations

import re

import nbformat
import pytest
from openpyxl import load_workbook

import crm_core
from tests.notebooks.offline import external, outputs, references, requirejs_paths


def text_of(nb: nbformat.NotebookNode) -> str:
    """What the cells showed: each cell's stdout and stderr whole (the kernel sends a
    printed line in as many messages as its output was flushed in, nbclient keeps each
    as an output of its own: CI once saw one line cut in two), then its values."""
    texts = []
    for cell in nb.cells:
        streams: dict[str, str] = {}
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                streams[out.get("name", "")] = streams.get(out.get("name", ""), "") + out.text
            else:
                texts.append(str(out.get("data", {}).get("text/plain", "")))
        texts += streams.values()
    return "\n".join(texts)


def assert_offline(nb: nbformat.NotebookNode) -> None:
    """No output names another origin for a script, stylesheet, image or font; a
    RequireJS path (Panel's loader, for the classic Notebook only) only beside a loader
    that fetches nothing, i.e. the library is inlined too."""
    assert external(nb) == [], "outputs fetch from the internet:\n" + "\n".join(external(nb))
    for _index, _mime, text in outputs(nb):
        if requirejs_paths(text):
            assert "const js_urls = [];" in text and "const css_urls = [];" in text


def test_references_are_what_a_browser_would_fetch():
    page = """
        <script src="https://cdn.example.org/lib.js"></script>
        <link rel="stylesheet" href="//fonts.example.com/css?family=Noto">
        <img alt="" src='https://img.example.net/logo.png'>
        <style>@font-face { src: url("https://fonts.example.com/a.woff2") }</style>
        <style>@import "https://cdn.example.org/theme.css";</style>
        <script type="module">import x from "https://esm.example.sh/x@1"</script>
        {"type":"object","name":"ImportedStyleSheet","attributes":{"url":"https://cdn.example.org/a.css"}}
        const js_urls = ["https://cdn.example.org/bokeh.min.js"];
        const css_urls = [];
        <script src="static/local.js"></script><img src="data:image/png;base64,AAAA">
        /* Licence: https://github.com/example/lib/blob/main/LICENSE */
        document.createElementNS("http://www.w3.org/2000/svg", "svg")
        window.requirejs.config({'paths': {'lib': 'https://cdn.example.org/lib.min'}});
    """
    assert references(page) == {
        "https://cdn.example.org/lib.js",
        "//fonts.example.com/css?family=Noto",
        "https://img.example.net/logo.png",
        "https://fonts.example.com/a.woff2",
        "https://cdn.example.org/theme.css",
        "https://esm.example.sh/x@1",
        "https://cdn.example.org/a.css",
        "https://cdn.example.org/bokeh.min.js",
    }
    assert requirejs_paths(page) == {"https://cdn.example.org/lib.min"}


@pytest.mark.slow
def test_contacts_notebook(executed):
    run = executed("01_contacts.ipynb")
    nb, changes = run.nb, run.changes
    text = text_of(nb)
    assert "now lives in Hyderabad" in text
    assert "'email'" in text  # the refused e-mail, reported at its field
    kinds = {
        key for cell in nb.cells for out in cell.get("outputs", []) for key in out.get("data", {})
    }
    # the inline component and the ipywidget both rendered
    assert "application/vnd.jupyter.widget-view+json" in kinds
    assert changes[["field", "user"]].values.tolist() == [["city", "ayesha"]]
    assert_offline(nb)


@pytest.mark.slow
def test_pipeline_notebook(executed):
    run = executed("02_pipeline.ipynb")
    nb, changes = run.nb, run.changes
    text = text_of(nb)
    assert "stage" in text and "weighted" in text
    moved = changes[changes["field"] == "stage_id"]
    assert moved["user"].tolist() == ["ayesha"]
    assert_offline(nb)


@pytest.mark.slow
def test_reports_notebook(executed):
    run = executed("03_reports.ipynb")
    nb, changes, tmp_path = run.nb, run.changes, run.folder
    text = text_of(nb)
    # the backtest says in words which method to trust, or that none has earned it
    assert re.search(r"forecast verdict: [^\n]*\btrust\b", text)
    assert "Existing customer" in text  # the notebook's own report (deals by source) ran
    kinds = {
        key for cell in nb.cells for out in cell.get("outputs", []) for key in out.get("data", {})
    }
    assert "application/vnd.bokehjs_exec.v0+json" in kinds or "text/html" in kinds
    # the workbooks it wrote open, with the sheets their layouts and arguments name
    sheets = {
        name: load_workbook(tmp_path / name, read_only=True).sheetnames
        for name in ("forecast.xlsx", "sales_review.xlsx", "vip_contacts.xlsx")
    }
    assert sheets["forecast.xlsx"][0] == "Cover"
    assert "Backtest" in sheets["forecast.xlsx"]
    # the charts' figures are on a hidden sheet, last
    assert sheets["sales_review.xlsx"][-2:] == ["Deals by source", "Chart data"]
    assert sheets["vip_contacts.xlsx"] == ["Cover", "Contacts"]
    vip = load_workbook(tmp_path / "vip_contacts.xlsx", read_only=True)["Contacts"]
    with crm_core.open(tmp_path / "demo.sqlite") as ws:
        expected = ws.segments.count("VIP contacts")
    assert expected > 0
    assert sum(1 for _ in vip.iter_rows(min_row=3)) == expected  # under identifiers, titles
    assert changes.empty  # reports and exports write nothing
    assert_offline(nb)


@pytest.mark.slow
def test_import_and_duplicates_notebook(executed):
    run = executed("04_import_and_duplicates.ipynb")
    nb, changes, folder = run.nb, run.changes, run.folder
    text = text_of(nb)
    # The messy file: one customer new, one already here under another e-mail (new
    # too: an e-mail says it is someone else), the bad e-mail refused.
    assert "rows 3: created 2, updated 0, unchanged 0, rejected 1" in text
    rejects = (folder / "customers.rejects.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rejects[0] == "نام;ای میل;Phone;City;Notes;line;field;value;reason"
    assert rejects[1].startswith("Bad Row;not-an-email;;Multan;")
    assert "'=HYPERLINK(" in rejects[1]  # written so that a spreadsheet shows it as text
    assert ";3;email;not-an-email;" in rejects[1] and "not a valid e-mail address" in rejects[1]
    assert "not a valid e-mail address" in text  # the rejects shown as a DataFrame
    # Merged, then undone: the merge id printed is the one in the journal.
    merged = re.search(r"merge (\w+) kept (\d+) dropped (\d+)", text)
    assert merged, text
    merge_id, kept, dropped = merged.groups()
    assert "notes now: home | e-mail: amirza@" in text
    assert f"undone {merge_id} | both records as before: True" in text
    with crm_core.open(folder / "demo.sqlite") as ws:
        assert ws.contacts.get(int(kept))["active"] and ws.contacts.get(int(dropped))["active"]
        assert ws.contacts.get(int(dropped))["email"] == "ali.mirza@gmail.example.com"
        assert ws.contacts.get(int(kept))["notes"] is None
        history = ws.duplicates.merges(limit=1).iloc[0]
    assert (history["merge_id"], bool(history["undone"])) == (merge_id, True)
    assert set(changes["user"].dropna()) == {"ayesha"}
    # The review component rendered inline, and its model compared the first pair.
    kinds = {
        key for cell in nb.cells for out in cell.get("outputs", []) for key in out.get("data", {})
    }
    assert "application/vnd.holoviews_exec.v0+json" in kinds or "text/html" in kinds
    assert "choose the value that stays for each field that differs" in text
    assert_offline(nb)
