"""Long work started from a page (a sync, a workbook, an import), with its progress.

Served by Panel, the work runs in a thread of its own: the page stays live and its
progress bar moves while the work goes on (Panel sends what the thread changes to the
page). In a notebook or a test there is no page to keep live, and the caller wants
the result: the work runs before the action returns. ``background`` forces either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import panel as pn
import param

from widgets import i18n
from widgets.base import ViewModel


def served() -> bool:
    """Whether the current code runs for a page a Panel server serves (not a notebook,
    not a test without a server)."""
    doc = pn.state.curdoc
    return doc is not None and doc.session_context is not None


class LongWorkModel(ViewModel):
    """A view-model whose actions may start long work (see the module's doc): the work's
    progress for a bar, whether it runs, and where it runs."""

    progress = param.Integer(default=0, bounds=(0, 100), doc="Progress of the work, 0-100.")
    progress_text = param.String(default="", doc="What the work is doing, for the user.")
    running = param.Boolean(default=False, doc="Work started here is under way.")
    background = param.Boolean(
        default=None,
        allow_None=True,
        doc="Run the work in a thread: True, False, or None (yes when served by a Panel server).",
    )

    def __init__(self, ws: Any, **params: Any):
        super().__init__(ws, **params)
        #: The thread of the last work started in the background (tests join it).
        self.thread: threading.Thread | None = None

    def _in_background(self) -> bool:
        if self.background is not None:
            return bool(self.background)
        return served()

    def _launch(self, work: Callable[..., Any], *args: Any, name: str) -> Any:
        """Run ``work(*args)``: in a daemon thread called ``name`` when in the
        background (returns None; watch ``running``), else here (returns its result)."""
        if not self._in_background():
            return work(*args)
        self.thread = threading.Thread(
            # The thread speaks the page's language (it has no page of its own).
            target=i18n.carry(work),
            args=args,
            name=name,
            daemon=True,
        )
        self.thread.start()
        return None
