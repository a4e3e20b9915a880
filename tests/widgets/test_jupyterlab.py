"""One test in a real JupyterLab: notebooks/01 runs and its ContactBook renders."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

import crm_core
from crm_core.demo import build_demo
from tests.widgets.browser import free_port, shoot, wait_for

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "01_contacts.ipynb"


@pytest.fixture
def lab(tmp_path: Path):
    """JupyterLab on a free port, no token, its folders and the demo base in tmp_path."""
    root = tmp_path / "work"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    with crm_core.open(root / "demo.sqlite") as ws:
        build_demo(ws)
    # Render every cell, not only those in view (JupyterLab 4 windows long notebooks).
    settings = tmp_path / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "CRMBOOK_WORKSPACE": str(root / "demo.sqlite"),
    }
    # The kernels the server starts must find the packages' kernelspec.
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--user", "--name", "python3"],
        env=env,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={root}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/lab", timeout=60)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_the_contact_book_renders_in_jupyterlab(browser, lab):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(lab + "/lab/tree/01_contacts.ipynb?reset")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    select_kernel = page.get_by_role("button", name="Select", exact=True)
    with contextlib.suppress(PlaywrightTimeout):  # JupyterLab may ask which kernel to start
        select_kernel.click(timeout=5_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    try:
        page.get_by_text("now lives in Hyderabad").first.wait_for(timeout=120_000)
        tables = page.locator(".crm-contact-table")
        rows = tables.first.locator(".tabulator-row")
        rows.first.wait_for(timeout=60_000)
        rows.first.scroll_into_view_if_needed()
    finally:
        shoot(page, "jupyterlab-contact-book")
    # the inline book follows its view-model: the query set from Python is on screen;
    # the ipywidget at the end shows the same book
    assert tables.count() == 2
    assert rows.count() == 7
    assert all("khan" in text.lower() for text in rows.all_inner_texts())
    page.close()
