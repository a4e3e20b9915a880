"""widgets: the Panel components and the staff web app.

Each component is a ``param.Parameterized`` view-model (state and actions, tested
without a browser) and a ``pn.viewable.Viewer`` that only lays it out:

- :class:`~widgets.contact_book.ContactBook`: search, page, edit, create and archive
  companies and contacts, with a detail pane;
- :class:`~widgets.pipeline_board.PipelineBoard`: a column per stage, move, win, lose;
- :class:`~widgets.activity_inbox.ActivityInbox`: my overdue, today and upcoming work;
- :class:`~widgets.dashboard.Dashboard`: headline figures and charts;
- :class:`~widgets.sync_panel.SyncPanel`: ERP sync runs and the conflicts queue;
- :class:`~widgets.import_wizard.ImportWizard`: a file of records in, with a preview;
- :class:`~widgets.duplicates_review.DuplicatesReview`: pairs of probable duplicates,
  compared side by side, merged and unmerged;
- :class:`~widgets.data_quality.DataQuality`: the import wizard and the duplicates
  review as one page, for managers and admins.

In JupyterLab, ``pn.extension()`` then a component shows inline; ``pn.ipywidget(c)``
makes it an ipywidget. ``crmbook serve`` composes them into the staff app
(:mod:`widgets.app`). Every view-model acts through a workspace: pass
``ws.as_user(login)`` and crm_core enforces that user's role.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ActivityInbox",
    "ContactBook",
    "Dashboard",
    "DataQuality",
    "DuplicatesReview",
    "ImportWizard",
    "PipelineBoard",
    "SyncPanel",
]

_HOMES = {
    "ContactBook": "widgets.contact_book",
    "PipelineBoard": "widgets.pipeline_board",
    "ActivityInbox": "widgets.activity_inbox",
    "Dashboard": "widgets.dashboard",
    "SyncPanel": "widgets.sync_panel",
    "ImportWizard": "widgets.import_wizard",
    "DataQuality": "widgets.data_quality",
    "DuplicatesReview": "widgets.duplicates_review",
}


def __getattr__(name: str) -> Any:
    # Components load on first use: ``import widgets`` stays cheap.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(name)
