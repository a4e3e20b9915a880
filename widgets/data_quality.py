"""The Data quality page: bringing records in and keeping them clean, for managers and
admins (their work is the whole team's records).

Its parts are tabs, each a component of its own that also shows alone in a notebook
(:data:`PARTS`): the import wizard (:mod:`widgets.import_wizard`) and the duplicates
review (:mod:`widgets.duplicates_review`). ``DataQuality(ws)`` shows the page inline in
JupyterLab as in the staff app, which lists it only for the roles that may use it
(:func:`may_use`); anyone else opening it gets only the refusal.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param

from crm_core import Workspace
from widgets.base import ComponentView, ViewModel, message_alert
from widgets.duplicates_model import DuplicatesReviewModel
from widgets.duplicates_review import DuplicatesReview
from widgets.i18n import N_, _
from widgets.import_model import ImportWizardModel, may_import
from widgets.import_wizard import ImportWizard

#: The page's parts in the order of their tabs: (title, the model's parameter, view).
PARTS: list[tuple[str, str, type[ComponentView]]] = [
    (N_("Import"), "imports", ImportWizard),
    (N_("Duplicates"), "duplicates", DuplicatesReview),
]


def may_use(ws: Workspace) -> bool:
    """Whether the acting user has the page: who may import (managers, admins, the
    workspace's owner; crm_core's rule, see :func:`widgets.import_model.may_import`)."""
    return may_import(ws)


class DataQualityModel(ViewModel):
    """The page's state: the model of each part, and whether the user may use it."""

    imports = param.ClassSelector(class_=ImportWizardModel, doc="The import wizard's model.")
    duplicates = param.ClassSelector(
        class_=DuplicatesReviewModel, doc="The duplicates review's model."
    )

    def __init__(self, ws: Workspace, **params: Any):
        super().__init__(ws, **params)
        if self.imports is None:
            self.imports = ImportWizardModel(ws)
        if self.duplicates is None:
            self.duplicates = DuplicatesReviewModel(ws)
        if not self.may_use:
            self._say(
                _(
                    "Only managers and admins may use the Data quality page; you are signed "
                    "in as {who}."
                ).format(who=f"{ws.login} ({ws.role})"),
                "danger",
            )

    @property
    def may_use(self) -> bool:
        """Whether the acting user may use the page."""
        return may_use(self.ws)

    def session_ended(self) -> None:
        """The staff app's session has ended: remove what the parts keep on the server."""
        self.imports.session_ended()


class DataQuality(ComponentView):
    """The Data quality page: ``DataQuality(ws)`` in a notebook or the staff app."""

    model = param.ClassSelector(class_=DataQualityModel, doc="The page's view-model.")
    model_class = DataQualityModel

    def _build(self) -> pn.viewable.Viewable:
        m = self.model
        title = pn.pane.HTML("<h3>{}</h3>".format(html.escape(_("Data quality"))))
        if not m.may_use:
            return pn.Column(
                title, message_alert(m), sizing_mode="stretch_width", css_classes=["crm-quality"]
            )
        # A part is built when its tab is first opened: the duplicates review looks for
        # pairs when built, which takes seconds on a large base.
        holders = [pn.Column(sizing_mode="stretch_width") for _part in PARTS]
        tabs = pn.Tabs(
            *((_(name), holder) for (name, _p, _v), holder in zip(PARTS, holders, strict=True)),
            dynamic=True,
            sizing_mode="stretch_width",
            css_classes=["crm-quality-tabs"],
        )

        def opened(*_events: Any) -> None:
            _name, part, view = PARTS[tabs.active]
            holder = holders[tabs.active]
            if not holder.objects:
                holder.objects = [view(model=getattr(m, part))]

        tabs.param.watch(opened, "active")
        opened()
        return pn.Column(title, tabs, sizing_mode="stretch_width", css_classes=["crm-quality"])
