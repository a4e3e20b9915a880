"""The staff app never starts on a workspace at an older schema: ``crmbook serve``,
``crmbook demo`` and the per-process open of :func:`widgets.app.serve_app` refuse and
name the command to run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import crm_core
from crm_core import db
from tests.widgets.browser import free_port

CRMBOOK = shutil.which("crmbook") or "crmbook"


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """A workspace left at schema 0005 by an older crmbook."""
    path = tmp_path / "old.sqlite"
    with crm_core.open(path) as ws:
        ws.companies.create(name="Indus Textiles")
    engine = db.make_engine(path)
    db.downgrade(engine, "0005")
    engine.dispose()
    return path


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    return line


def test_serve_and_demo_refuse_an_old_schema(old: Path):
    port = str(free_port())
    for args in (["serve", "old.sqlite", "--port", port], ["demo", "old.sqlite", "--port", port]):
        done = subprocess.run(
            [CRMBOOK, *args], cwd=old.parent, capture_output=True, text=True, timeout=120
        )
        line = _one_line(done)
        assert line.startswith("error: the workspace old.sqlite has schema 0005")
        assert "run `crmbook migrate -w old.sqlite`" in line
        assert "staff app: http" not in done.stdout  # never started
    engine = db.make_engine(old)
    assert db.current_revision(engine) == "0005"
    engine.dispose()
    assert sorted(p.name for p in old.parent.iterdir()) == ["old.sqlite"]  # no backup either


def test_serve_app_refuses_an_old_or_missing_workspace(old: Path, tmp_path: Path):
    from widgets.app import serve_app

    with pytest.raises(crm_core.SchemaError, match="crmbook migrate"):
        serve_app(str(old), port=free_port(), threaded=True)
    with pytest.raises(crm_core.SchemaError, match="crmbook init"):
        serve_app(str(tmp_path / "none.sqlite"), port=free_port(), threaded=True)
    assert not (tmp_path / "none.sqlite").exists()
