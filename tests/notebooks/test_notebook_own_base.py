"""The reports notebook on a base of one's own (its README invitation: "or your own: set
CRMBOOK_WORKSPACE"): no team, no segment and another main currency than the demo's,
and every cell runs (it named the demo's team and segment and failed)."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

import crm_core
from tests.notebooks.running import NOTEBOOKS
from tests.notebooks.test_notebooks import text_of


@pytest.mark.slow
def test_the_reports_notebook_runs_on_a_base_of_ones_own(tmp_path):
    base = tmp_path / "own.sqlite"
    with crm_core.open(base) as ws:
        ws.set_setting("currency", "EUR")
        ws.users.add("Mona Fischer", "mona", role="manager", password="mona-pass-123")
        company = ws.companies.create(name="Kazan Textil", owner="mona")["id"]
        ws.contacts.create(name="Ирина Петрова", company_id=company, owner="mona")
        ws.pipeline.create(
            "Looms", company_id=company, expected_revenue="1200", currency="EUR", owner="mona"
        )
    nb = nbformat.read(NOTEBOOKS / "03_reports.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute(env={**os.environ, "CRMBOOK_WORKSPACE": str(base)})  # raises on a failed cell
    pipeline = text_of(nbformat.from_dict({"cells": [nb.cells[10]]}))
    assert "EUR" in pipeline and "1200.00" in pipeline  # the base's own currency shown
    for name in ("forecast.xlsx", "sales_review.xlsx", "vip_contacts.xlsx"):
        assert (tmp_path / name).stat().st_size > 0
