"""The example notebooks run top to bottom on the demo base, in a real kernel (nbclient)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from openpyxl import load_workbook
from sqlalchemy import func, select

import crm_core
from crm_core.demo import build_demo
from crm_core.models import JournalEntry

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


@pytest.fixture(scope="module")
def demo_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nb") / "demo.sqlite"
    with crm_core.open(path) as ws:
        build_demo(ws)
    return path


def run(name: str, demo_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Execute a copy of notebook ``name`` against a copy of the demo base."""
    base = tmp_path / "demo.sqlite"
    shutil.copy(demo_base, base)
    monkeypatch.setenv("CRMBOOK_WORKSPACE", str(base))
    with crm_core.open(base) as ws, ws.transaction() as s:
        before = int(s.scalar(select(func.max(JournalEntry.id))) or 0)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    with crm_core.open(base) as ws:
        changes = ws.journal.since(before)
    return nb, changes


def outputs(nb: nbformat.NotebookNode) -> str:
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", ""))
            texts.append(str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


@pytest.mark.slow
def test_contacts_notebook(demo_base, tmp_path, monkeypatch):
    nb, changes = run("01_contacts.ipynb", demo_base, tmp_path, monkeypatch)
    text = outputs(nb)
    assert "now lives in Hyderabad" in text
    assert "'email'" in text  # the refused e-mail, reported at its field
    kinds = {
        key for cell in nb.cells for out in cell.get("outputs", []) for key in out.get("data", {})
    }
    # the inline component and the ipywidget both rendered
    assert "application/vnd.jupyter.widget-view+json" in kinds
    assert changes[["field", "user"]].values.tolist() == [["city", "ayesha"]]


@pytest.mark.slow
def test_pipeline_notebook(demo_base, tmp_path, monkeypatch):
    nb, changes = run("02_pipeline.ipynb", demo_base, tmp_path, monkeypatch)
    text = outputs(nb)
    assert "stage" in text and "weighted" in text
    moved = changes[changes["field"] == "stage_id"]
    assert moved["user"].tolist() == ["ayesha"]


@pytest.mark.slow
def test_reports_notebook(demo_base, tmp_path, monkeypatch):
    nb, changes = run("03_reports.ipynb", demo_base, tmp_path, monkeypatch)
    text = outputs(nb)
    # the backtest names the method to trust, with its error and bias
    assert re.search(r"best method for PKR: \w+ \(MAPE \d+%, bias [+-]\d+%\)", text)
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
    assert sheets["sales_review.xlsx"][-1] == "Deals by source"
    assert sheets["vip_contacts.xlsx"] == ["Cover", "Contacts"]
    vip = load_workbook(tmp_path / "vip_contacts.xlsx", read_only=True)["Contacts"]
    with crm_core.open(tmp_path / "demo.sqlite") as ws:
        expected = ws.segments.count("VIP contacts")
    assert expected > 0
    assert sum(1 for _ in vip.iter_rows(min_row=2)) == expected
    assert changes.empty  # reports and exports write nothing
