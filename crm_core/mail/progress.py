"""A progress bar for a fetch, the same callback in a terminal and in a notebook.

``tqdm.auto`` draws a text bar on a terminal and a widget in JupyterLab::

    with progress_bar() as bar:
        ws.mail.fetch("sales", progress=bar)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

from crm_core.mail.report import FetchReport


@contextmanager
def progress_bar(**options: Any) -> Iterator[Any]:
    """Yields a fetch's ``progress`` callback, ``(report, done, total)``, drawing one
    bar per mailbox: messages read of those planned, and the outcomes so far.
    ``options`` go to tqdm (``file``, ``disable``)."""
    bars: dict[str, Any] = {}

    def update(report: FetchReport, done: int, total: int) -> None:
        bar = bars.get(report.mailbox)
        if bar is None:
            bar = bars[report.mailbox] = tqdm(
                total=total, unit=" msg", desc=report.mailbox, **options
            )
        bar.total = total
        bar.n = done
        bar.set_postfix_str(
            f"{report.created} new, {report.known} known, {len(report.skipped)} skipped",
            refresh=False,
        )
        bar.refresh()

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()
