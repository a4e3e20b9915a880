"""What every view-model shares: the workspace it acts through and how an action's
outcome (done, refused with reasons, or a conflict) is reported to the view."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import panel as pn
import param

from crm_core import AccessDenied, ConflictError, NotFoundError, ValidationError, Workspace
from widgets.i18n import _
from widgets.reasons import field_reasons, refusals, refused

# Characters Markdown would read as formatting.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~=:$])")


def md_text(text: str) -> str:
    """``text`` as Markdown that shows exactly those characters: no HTML, no formatting.

    Names and subjects are user data (and come back from an ERP): a deal named
    ``<script>...`` must show as those characters in a Markdown pane such as an Alert.
    """
    return html.escape(_MARKDOWN_SPECIAL.sub(r"\\\1", str(text)))


class ViewModel(param.Parameterized):
    """Base of the components' view-models.

    Actions run through :meth:`attempt`: a refused value is reported per field in
    ``field_errors`` (and nothing is written, crm_core guarantees that), a stale edit
    or a refused permission in ``message``, which views show as an alert.
    """

    ws = param.Parameter(doc="The crm_core Workspace to act through (as the user).")
    message = param.String(default="", doc="The outcome of the last action, for the user.")
    message_kind = param.Selector(
        default="info", objects=["info", "success", "warning", "danger"], doc="Alert style."
    )
    field_errors = param.Dict(default={}, doc="Field name -> why its value was refused.")

    def __init__(self, ws: Workspace, **params: Any):
        super().__init__(ws=ws, **params)

    def attempt(self, action: Callable[[], Any], done: str = "") -> Any:
        """Run ``action``; report its outcome in ``message``/``field_errors``. Returns
        the action's result, or None when it was refused."""
        try:
            result = action()
        except ValidationError as exc:
            self.field_errors = field_reasons(exc.errors)
            self._say(refusals(exc.errors, self.field_labels()), "danger")
            return None
        except ConflictError as exc:
            self.field_errors = {}
            self._say(_("Not saved: {reason}").format(reason=exc), "warning")
            return None
        except (AccessDenied, NotFoundError) as exc:
            self.field_errors = {}
            self._say(refused(exc), "danger")
            return None
        self.field_errors = {}
        self._say(done, "success" if done else "info")
        return result

    def field_labels(self) -> dict[str, str]:
        """Field -> the label (a catalogue entry) of the input it was typed in, for
        naming a refused field as the user read it (see :mod:`widgets.reasons`)."""
        return {}

    def _load(self) -> Any:
        """Re-read what the view shows (views that show lists override this)."""
        return True

    def _act(
        self,
        write: Callable[[], dict[str, Any]],
        done: Callable[[dict], str],
        keep_typed: bool = False,
    ) -> Any:
        """Run ``write`` through :meth:`attempt`, then reload (after a refusal too: a
        conflict means what is shown is out of date), keeping the outcome message.

        ``keep_typed``: the view shows the read values in the form the user typed in
        (a record's edit form), so a value refused at its field reloads nothing:
        nothing was written, and a reload would put the stored values over everything
        else the user typed."""
        result = self.attempt(write)
        if result is None and keep_typed and self.field_errors:
            return None
        if result is not None:
            self._say(done(result), "success")
        outcome = (self.message, self.message_kind, self.field_errors)
        if self.attempt(self._load):
            self.param.update(message=outcome[0], message_kind=outcome[1], field_errors=outcome[2])
        return result

    def _say(self, text: str, kind: str) -> None:
        self.param.update(message=text, message_kind=kind)


def message_alert(
    model: ViewModel, text: str = "message", kind: str = "message_kind", css: str = "crm-alert"
) -> pn.pane.Alert:
    """An alert showing the model's ``text`` parameter (as plain characters, see
    :func:`md_text`) in the style of its ``kind`` parameter, hidden while empty."""
    return pn.pane.Alert(
        pn.bind(md_text, model.param[text]),
        alert_type=model.param[kind],
        visible=pn.bind(bool, model.param[text]),
        css_classes=[css],
        sizing_mode="stretch_width",
    )


class ComponentView(pn.viewable.Viewer):
    """Base of the components' views: ``View(ws, **model_params)`` builds the view-model
    (``model_class``) for the workspace; ``View(model=...)`` shows an existing one.

    A view's widgets are made by ``_build`` on first display and kept (a view shown
    twice shows the same widgets); views may instead override ``__panel__``."""

    model_class: type[ViewModel]
    _layout: pn.viewable.Viewable | None = None

    def __init__(self, ws: Workspace | None = None, *args: Any, **params: Any):
        if params.get("model") is None:
            if ws is None:
                raise TypeError(f"{type(self).__name__} needs a workspace (or model=...)")
            model_params = {k: params.pop(k) for k in list(params) if k not in self.param}
            params["model"] = self.model_class(ws, *args, **model_params)
        super().__init__(**params)

    def __panel__(self) -> pn.viewable.Viewable:
        if self._layout is None:
            self._layout = self._build()
        return self._layout

    def _build(self) -> pn.viewable.Viewable:
        raise NotImplementedError
