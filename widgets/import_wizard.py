"""The import wizard: upload a file, check the columns, preview, import with progress,
download the rejected rows. Layout only: the state and every action are
:class:`~widgets.import_model.ImportWizardModel`'s.

``ImportWizard(ws)`` shows inline in JupyterLab; the staff app shows it on the Data
quality page (:mod:`widgets.data_quality`). Values from the file (headers, examples,
reasons) are user data: the tables use Tabulator's plain-text formatters and every
HTML pane escapes what it shows.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn
import param
from bokeh.models.widgets.tables import SelectEditor

from widgets.base import ComponentView, message_alert
from widgets.i18n import N_, _
from widgets.import_model import (
    DATE_LABELS,
    ENTITIES,
    KEY_LABELS,
    LEFT_OUT,
    MAPPING_COLUMNS,
    MODE_LABELS,
    NEW_CUSTOM,
    OUTCOME_COLUMNS,
    SUFFIXES,
    ImportWizardModel,
    megabytes,
)

#: The headings of the tables' columns (the frames keep their column names).
TITLES = {
    "column": N_("Column"),
    "field": N_("Field"),
    "example": N_("Example"),
    "note": N_("Note"),
    "outcome": N_("Outcome"),
    "rows": N_("Rows"),
    "examples": N_("Examples"),
}


def _titles(columns: list[str]) -> dict[str, str]:
    """The tables' headings in the session's language."""
    return {name: _(TITLES[name]) for name in columns}


#: The mapping table's field cells look like the lists they open; each cell reads in
#: the direction of its own text (a phone number in an example stays in order on a
#: right-to-left page).
MAPPING_CSS = """
.tabulator-cell, .tabulator-cell > div { unicode-bidi: plaintext; }
.tabulator-cell[tabulator-field="field"] {
  cursor: pointer; white-space: nowrap; text-decoration: underline dotted;
}
.tabulator-cell[tabulator-field="field"] > div::after { content: " \\25BE"; color: #777; }
"""
#: The options row wraps on a narrow page, its widgets aligned on their bottom line.
OPTIONS_CSS = ":host { flex-wrap: wrap; align-items: flex-end; }"
#: The box and its label apart on either side (a right-to-left page too).
CHECKBOX_CSS = (
    "label { display: inline-flex; align-items: center; gap: 0.4em; }"
    " input[type=checkbox] { margin: 0 0.4em; }"
)


class ImportWizard(ComponentView):
    """The import wizard: ``ImportWizard(ws)`` in a notebook or the staff app's Data
    quality page. Layout only: every action is the model's."""

    model = param.ClassSelector(class_=ImportWizardModel, doc="The view-model shown.")
    model_class = ImportWizardModel

    def _build(self) -> pn.viewable.Viewable:
        m = self.model
        alert = message_alert(m)
        if not m.may_import:
            return pn.Column(alert, sizing_mode="stretch_width", css_classes=["crm-import"])
        intro = pn.pane.HTML(
            "<p>{}</p>".format(
                html.escape(
                    _(
                        "Bring records in from a CSV or XLSX file (up to {limit} MB). Rows "
                        "matching a record already here update it instead of adding it "
                        "twice. Nothing is written before you click Import."
                    ).format(limit=megabytes(m.limit))
                )
            ),
            sizing_mode="stretch_width",
            css_classes=["crm-import-intro"],
        )
        upload = pn.widgets.FileInput(
            accept=",".join(SUFFIXES), css_classes=["crm-import-file"], margin=(22, 10, 10, 10)
        )
        entity = pn.widgets.Select.from_param(
            m.param.entity,
            name=_("The rows are"),
            options={_(label): key for key, label in ENTITIES.items()},
            width=200,
            description=None,  # the parameter's doc is for programmers, in English
            css_classes=["crm-import-entity"],
        )

        mode = pn.widgets.Select.from_param(
            m.param.mode,
            name=_("A run may"),
            options={_(MODE_LABELS[key]): key for key in MODE_LABELS},
            width=200,
            description=None,
            css_classes=["crm-import-mode"],
        )
        dates = pn.widgets.Select.from_param(
            m.param.dates,
            name=_("Dates written"),
            options={_(DATE_LABELS[key]): key for key in DATE_LABELS},
            width=230,
            description=None,
            css_classes=["crm-import-dates"],
        )
        match = pn.widgets.MultiChoice(
            label=_("Match on"),
            options=self._key_options(),
            value=list(m.match),
            width=400,
            css_classes=["crm-import-match"],
        )
        custom = pn.widgets.Checkbox.from_param(
            m.param.custom,
            label=_("Keep unknown columns as new custom fields"),
            align="end",
            margin=(10, 10, 18, 10),
            stylesheets=[CHECKBOX_CSS],
            css_classes=["crm-import-custom"],
        )
        sheet = pn.widgets.Select(
            label=_("Sheet"),
            options=list(m.sheets),
            value=m.sheet or None,
            width=180,
            visible=len(m.sheets) > 1,
            css_classes=["crm-import-sheet"],
        )
        match.param.watch(lambda e: setattr(m, "match", list(e.new or [])), "value")
        sheet.param.watch(lambda e: e.new and setattr(m, "sheet", str(e.new)), "value")
        options = pn.Row(
            mode,
            dates,
            match,
            sheet,
            custom,
            stylesheets=[OPTIONS_CSS],
            sizing_mode="stretch_width",
            css_classes=["crm-import-options"],
        )

        def uploaded(*_events: Any) -> None:
            if upload.value is None or not upload.filename:
                return  # cleared (below) or not all there yet
            data, name = upload.value, str(upload.filename)
            m.upload(data, name)
            # The page keeps no copy (the server has one), and the same file may be
            # chosen again after a fix.
            upload.clear()

        upload.param.watch(uploaded, ["value", "filename"])
        file_status = pn.pane.HTML(
            pn.bind(_file_html, m.param.file_name), css_classes=["crm-import-file-name"]
        )

        mapping = pn.widgets.Tabulator(
            self._mapping_rows(),
            editors=self._editors(),
            titles=_titles(MAPPING_COLUMNS),
            show_index=False,
            disabled=False,
            sortable=False,
            layout="fit_data_stretch",
            # The field is chosen from a list: its cells say so.
            stylesheets=[MAPPING_CSS],
            widths={"field": 180},
            sizing_mode="stretch_width",
            css_classes=["crm-import-mapping"],
        )
        mapping.on_edit(
            lambda e: m.set_field(
                str(mapping.value["column"].iloc[e.row]),
                "" if e.value == _(LEFT_OUT) else self._field(e.row, e.value),
            )
        )
        preview = pn.widgets.Button(
            label=_("Preview"), width=140, css_classes=["crm-import-preview"], disabled=True
        )
        preview.on_click(lambda _e: m.preview())
        run = pn.widgets.Button(
            label=_("Import"),
            color="primary",
            width=140,
            css_classes=["crm-import-run"],
            disabled=True,
        )
        run.on_click(lambda _e: m.run_import())
        bar = pn.indicators.Progress(
            value=m.progress,
            max=100,
            width=300,
            align="center",
            css_classes=["crm-import-progress"],
        )
        status = pn.pane.HTML(
            html.escape(m.progress_text), align="center", css_classes=["crm-import-progress-text"]
        )
        outcome = pn.widgets.Tabulator(
            m.outcome,
            titles=_titles(OUTCOME_COLUMNS),
            disabled=True,
            show_index=False,
            sortable=False,
            # Examples are long (a reason each): wrapped in their cell, as text.
            formatters={"examples": {"type": "textarea"}},
            widths={"outcome": 130, "rows": 80},
            layout="fit_columns",
            sizing_mode="stretch_width",
            css_classes=["crm-import-outcome"],
        )
        outcome_title = pn.pane.HTML("", css_classes=["crm-import-outcome-title"])
        download = pn.widgets.FileDownload(
            # Read from the server's copy when clicked: the page holds no second one.
            callback=lambda: m.rejects_file,
            label=_("Download the rejected rows"),
            filename="rejects.csv",
            width=360,
            margin=(10, 10),
            css_classes=["crm-import-rejects"],
            visible=False,
        )
        columns_part = pn.Column(
            pn.pane.HTML(
                "<b>{}</b> {}".format(
                    html.escape(_("Columns and the fields they fill")),
                    html.escape(_("(click a field to choose another)")),
                )
            ),
            mapping,
            pn.Row(preview, run, bar, status),
            visible=False,
            sizing_mode="stretch_width",
        )
        outcome_part = pn.Column(
            outcome_title, outcome, download, visible=False, sizing_mode="stretch_width"
        )

        def show(names: set[str]) -> None:
            """Show what the model's parameters ``names`` now hold."""
            if names & {"keys", "match", "entity"}:
                match.param.update(options=self._key_options(), value=list(m.match))
                match.visible = custom.visible = m.has_keys
            if names & {"sheets", "sheet"}:
                sheet.param.update(options=list(m.sheets), value=m.sheet or None)
                sheet.visible = len(m.sheets) > 1
            if names & {"mapping", "choices"}:
                mapping.param.update(value=self._mapping_rows(), editors=self._editors())
            if "progress" in names:
                bar.value = m.progress
            if "progress_text" in names:
                status.object = html.escape(m.progress_text)
            if names & {"running", "step"}:
                has_file = m.step != "upload"
                columns_part.visible = has_file
                preview.disabled = m.running or not has_file
                run.disabled = m.running or m.step != "previewed"
                mapping.disabled = m.running
                upload.disabled = entity.disabled = m.running
                mode.disabled = match.disabled = custom.disabled = sheet.disabled = m.running
            if names & {"outcome", "step"}:
                outcome.value = m.outcome
                shown = m.step in ("previewed", "imported") and not m.outcome.empty
                outcome_part.visible = shown
                outcome_title.object = "<b>{}</b>".format(
                    html.escape(
                        _("What the import did")
                        if m.step == "imported"
                        else _("What the import would do (nothing written yet)")
                    )
                )
            if names & {"rejects_file", "rejects_name"}:
                download.param.update(
                    filename=m.rejects_name or "rejects.csv",
                    label=_("Download the rejected rows ({file})").format(file=m.rejects_name),
                    visible=bool(m.rejects_file),
                )

        watched = [
            *("mapping", "choices", "progress", "progress_text", "running", "step"),
            *("outcome", "rejects_file", "rejects_name"),
            *("entity", "keys", "match", "sheets", "sheet"),
        ]
        m.param.watch(lambda *events: show({e.name for e in events}), watched)
        show(set(watched))  # a model that has a file already (a notebook) shows it
        return pn.Column(
            intro,
            pn.Row(upload, entity),
            options,
            file_status,
            alert,
            columns_part,
            outcome_part,
            sizing_mode="stretch_width",
            css_classes=["crm-import"],
        )

    def _mapping_rows(self) -> pd.DataFrame:
        """The mapping as the table shows it: a column left out says so in its field,
        and so does a column that becomes a new custom field (its note names the field)."""
        frame = self.model.mapping.copy()
        new = self.model.new_custom()
        labels = self._labels()
        frame["field"] = [
            _(NEW_CUSTOM) if c in new else (labels.get(f, f) if f else _(LEFT_OUT))
            for c, f in zip(frame["column"], frame["field"], strict=True)
        ]
        return frame.reset_index(drop=True)

    def _labels(self) -> dict[str, str]:
        """The fields a column may fill -> their labels (the model's)."""
        return self.model.choice_labels()

    def _field(self, row: int, value: Any) -> str:
        """The field a chosen label stands for: "new custom field" is the one the
        column would be (the model says when it cannot be)."""
        if value == _(NEW_CUSTOM):
            column = str(self.model.mapping["column"].iloc[row])
            return self.model.new_custom_field(column) or str(value)
        named = {label: field for field, label in self._labels().items()}
        return named.get(str(value or ""), str(value or ""))

    def _key_options(self) -> dict[str, str]:
        return {_(KEY_LABELS[key]): key for key in self.model.keys}

    def _editors(self) -> dict[str, Any]:
        # Only the field is chosen; the rest describes the file.
        new = [_(NEW_CUSTOM)] if self.model.custom and self.model.has_keys else []
        return {
            "column": None,
            "example": None,
            "note": None,
            "field": SelectEditor(options=[_(LEFT_OUT), *new, *self._labels().values()]),
        }


def _file_html(name: str) -> str:
    if not name:
        return ""
    return '<span class="crm-import-file-label">{}</span> <b>{}</b>'.format(
        html.escape(_("File:")), html.escape(name)
    )
