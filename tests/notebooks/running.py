"""Each example notebook runs once per test session, in a real kernel (nbclient), on its
own copy of the demo base: the content tests (tests/notebooks) and the browser tests
(tests/widgets/test_notebook_offline.py) look at the same run."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from sqlalchemy import func, select

import crm_core
from crm_core.demo import build_demo
from crm_core.models import JournalEntry

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


@dataclass
class Run:
    """A notebook executed top to bottom: its outputs, what it wrote, where it ran."""

    nb: nbformat.NotebookNode
    changes: pd.DataFrame
    folder: Path
    seconds: float


_runs: dict[str, Run] = {}
_bases: list[Path] = []


def demo_base(factory: pytest.TempPathFactory) -> Path:
    """The demo base, built once per session."""
    if not _bases:
        path = factory.mktemp("nb") / "demo.sqlite"
        with crm_core.open(path) as ws:
            build_demo(ws)
        _bases.append(path)
    return _bases[0]


def executed(name: str, factory: pytest.TempPathFactory) -> Run:
    """Notebook ``name`` run on a copy of the demo base (once per session)."""
    if name not in _runs:
        folder = factory.mktemp(Path(name).stem)
        base = folder / "demo.sqlite"
        shutil.copy(demo_base(factory), base)
        with crm_core.open(base) as ws, ws.transaction() as s:
            before = int(s.scalar(select(func.max(JournalEntry.id))) or 0)
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        started = time.monotonic()
        client = NotebookClient(
            nb,
            timeout=180,
            kernel_name="python3",
            resources={"metadata": {"path": str(folder)}},
        )
        client.execute(env={**os.environ, "CRMBOOK_WORKSPACE": str(base)})
        seconds = time.monotonic() - started
        with crm_core.open(base) as ws:
            changes = ws.journal.since(before)
        _runs[name] = Run(nb, changes, folder, seconds)
    return _runs[name]
