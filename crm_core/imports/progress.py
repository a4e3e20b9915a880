"""A progress bar for an import, the same callback in a terminal and in a notebook.

``tqdm.auto`` draws a text bar on a terminal and a widget in JupyterLab::

    with progress_bar() as bar:
        ws.importer.run("customers.csv", "contacts", progress=bar)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

from crm_core.imports.report import ImportReport

#: Steps of the bar: the share of the file read, in thousandths.
_STEPS = 1000


@contextmanager
def progress_bar(**options: Any) -> Iterator[Any]:
    """Yields an import's ``progress`` callback drawing one bar: how much of the file
    is read (rows alone when that is unknown, as for a DataFrame), the rows per second
    and, after it, the outcomes so far. ``options`` go to tqdm (``file``, ``disable``)."""
    bar = tqdm(total=_STEPS, unit="‰", **options)
    known = True

    def update(report: ImportReport, fraction: float | None) -> None:
        nonlocal known
        if fraction is None and known:
            known = False
            bar.reset(total=None)
            bar.unit = " rows"
        bar.n = round(fraction * _STEPS) if fraction is not None else report.rows
        bar.set_postfix_str(
            f"{report.created} new, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.rejected} rejected",
            refresh=False,
        )
        bar.refresh()

    try:
        yield update
    finally:
        if known:
            bar.n = bar.total or bar.n
        bar.close()
