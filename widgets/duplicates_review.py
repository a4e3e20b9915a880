"""The duplicates review: pairs of contacts or companies that are probably one, both
records side by side with the differing fields highlighted, a choice per field, merge
and undo. Layout only: the state and every action are
:class:`~widgets.duplicates_model.DuplicatesReviewModel`'s.

``DuplicatesReview(ws)`` shows inline in JupyterLab; the staff app shows it on the Data
quality page (:mod:`widgets.data_quality`). Names and values are user data: the tables
use Tabulator's plain-text formatters and every HTML pane escapes what it shows.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import panel as pn
import param

from widgets.base import ComponentView, message_alert
from widgets.duplicates_model import (
    ENTITIES,
    DuplicatesReviewModel,
    field_title,
    reason_text,
    shown,
)
from widgets.i18n import N_, _, format_date, table_pager
from widgets.row_clicks import RowClicks

#: The headings of the tables' columns (the frames keep their column names).
TITLES = {
    "score": N_("Score"),
    "name_a": N_("Record A"),
    "name_b": N_("Record B"),
    "reasons": N_("Why"),
    "label": N_("Field"),
    "stays": N_("Stays"),
    "merge_id": N_("Merge ID"),
    "entity": N_("Records"),
    "kept": N_("Kept"),
    "dropped": N_("Merged away"),
    "at": N_("When"),
    "user": N_("By"),
    "undone": N_("Undone"),
}
#: Each cell reads in the direction of its own text (a Latin name or an e-mail stays in
#: order on a right-to-left page); the values of a pair are chosen by a click.
TABLE_CSS = """
.tabulator-cell, .tabulator-cell > div { unicode-bidi: plaintext; }
.tabulator-col-title { unicode-bidi: plaintext; }
"""
FIELDS_CSS = (
    TABLE_CSS
    + """
.tabulator-cell[tabulator-field="a"], .tabulator-cell[tabulator-field="b"] { cursor: pointer; }
.tabulator-row.tabulator-selectable:hover, .tabulator-row.tabulator-selected {
  background-color: inherit !important; color: inherit !important;
}
"""
)
#: An undo in the recent merges reads as a link (a merge undone has none).
MERGES_CSS = (
    TABLE_CSS
    + """
.tabulator-cell[tabulator-field="undo"] {
  color: #0072b5; text-decoration: underline; cursor: pointer;
}
"""
)
#: How a differing field and the value that stays are marked.
DIFFERS_STYLE = "background-color: #fff3cd;"
CHOSEN_STYLE = "background-color: #d1e7dd; font-weight: bold;"


def _titles(columns: list[str]) -> dict[str, str]:
    """The tables' headings in the session's language."""
    return {name: _(TITLES[name]) for name in columns if name in TITLES}


class DuplicatesReview(ComponentView):
    """The duplicates review: ``DuplicatesReview(ws)`` in a notebook or the staff app's
    Data quality page. Layout only: every action is the model's."""

    model = param.ClassSelector(class_=DuplicatesReviewModel, doc="The view-model shown.")
    model_class = DuplicatesReviewModel

    def _build(self) -> pn.viewable.Viewable:
        m = self.model
        alert = message_alert(m)
        if not m.may_merge:
            return pn.Column(alert, sizing_mode="stretch_width", css_classes=["crm-dups"])
        intro = pn.pane.HTML(
            "<p>{}</p>".format(
                html.escape(
                    _(
                        "Pairs of records that are probably one, best first. Select a pair, "
                        "click the value that should stay in each field that differs, then "
                        "merge. A merge can be undone."
                    )
                )
            ),
            sizing_mode="stretch_width",
        )
        entity = pn.widgets.Select.from_param(
            m.param.entity,
            name=_("Look among"),
            options={_(label): key for key, label in ENTITIES.items()},
            width=200,
            description=None,  # the parameter's doc is for programmers, in English
            css_classes=["crm-dups-entity"],
        )
        refresh = pn.widgets.Button(
            label=_("Look again"), width=140, align="end", css_classes=["crm-dups-refresh"]
        )
        refresh.on_click(lambda _e: m.load())

        pairs = pn.widgets.Tabulator(
            self._pair_rows(),
            titles=_titles(["score", "name_a", "name_b", "reasons"]),
            hidden_columns=["id_a", "id_b"],
            show_index=False,
            disabled=True,
            sortable=False,
            selectable=1,
            pagination="local",
            page_size=10,
            configuration=table_pager(),
            layout="fit_data_stretch",
            widths={"score": 80},
            stylesheets=[TABLE_CSS],
            sizing_mode="stretch_width",
            css_classes=["crm-dups-pairs"],
        )
        pairs.on_click(lambda e: m.select(int(e.row)))

        heading = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["crm-dups-heading"])
        fields = pn.widgets.Tabulator(
            self._field_rows(),
            show_index=False,
            disabled=True,
            sortable=False,
            selectable=False,
            hidden_columns=["field", "differs", "choice"],
            # Long values (an address, notes) wrap in their cell, as text.
            formatters={side: {"type": "textarea"} for side in ("a", "b", "stays")},
            layout="fit_columns",
            widths={"label": 140},
            stylesheets=[FIELDS_CSS],
            sizing_mode="stretch_width",
            css_classes=["crm-dups-fields"],
        )
        fields.style.apply(_field_styles, axis=None)

        def clicked(event: Any) -> None:
            if event.column in ("a", "b"):
                m.choose(str(fields.value["field"].iloc[event.row]), event.column)

        fields.on_click(clicked)
        swap = pn.widgets.Button(
            label=_("Keep the other record"), width=220, css_classes=["crm-dups-swap"]
        )
        swap.on_click(lambda _e: m.swap())
        merge = pn.widgets.Button(
            label=_("Merge"), color="primary", width=140, css_classes=["crm-dups-merge"]
        )
        merge.on_click(lambda _e: m.merge())
        compare_part = pn.Column(
            heading, fields, pn.Row(swap, merge), visible=False, sizing_mode="stretch_width"
        )

        result = pn.pane.HTML("", align="center", css_classes=["crm-dups-result"])
        undo = pn.widgets.Button(label=_("Undo"), width=140, css_classes=["crm-dups-undo"])
        undo.on_click(lambda _e: m.undo())
        result_part = pn.Row(result, undo, visible=False, sizing_mode="stretch_width")

        merges = pn.widgets.Tabulator(
            self._merge_rows(),
            titles={**_titles(list(self._merge_rows().columns)), "undo": ""},
            show_index=False,
            disabled=True,
            sortable=False,
            selectable=False,
            layout="fit_data_stretch",
            stylesheets=[MERGES_CSS],
            sizing_mode="stretch_width",
            css_classes=["crm-dups-merges"],
        )

        undo_clicks = RowClicks()

        def undo_clicked(event: Any) -> None:
            # bound to the merge of the row clicked: a double click undoes one merge
            row = event.row
            if event.column == "undo" and merges.value["undo"].iloc[row]:
                merge = merges.value["merge_id"].iloc[row]
                undo_clicks.run(row, merge, lambda: m.undo(merge))

        merges.on_click(undo_clicked)
        merges_part = pn.Column(
            pn.pane.HTML("<b>{}</b>".format(html.escape(_("Recent merges")))),
            merges,
            visible=False,
            sizing_mode="stretch_width",
        )

        def show(names: set[str]) -> None:
            """Show what the model's parameters ``names`` now hold."""
            if "pairs" in names:
                pairs.value = self._pair_rows()
            if names & {"selected", "pairs"}:
                pairs.selection = [] if m.selected is None else [m.selected]
            if names & {"comparison", "chosen", "keep", "selected"}:
                fields.param.update(
                    value=self._field_rows(),
                    titles={**_titles(["label", "stays"]), **self._side_titles()},
                )
                heading.object = self._heading()
                compare_part.visible = m.pair is not None
            if "last_merge" in names:
                done = m.last_merge
                result.object = (
                    ""
                    if not done
                    else html.escape(
                        _("Merge {merge_id}: #{dropped} merged into #{kept}.").format(**done)
                    )
                )
                result_part.visible = bool(done)
            if "merges" in names:
                merges.value = self._merge_rows()
                merges_part.visible = not m.merges.empty

        watched = ["pairs", "selected", "comparison", "chosen", "keep", "last_merge", "merges"]
        m.param.watch(lambda *events: show({e.name for e in events}), watched)
        if not m.loaded:
            m.load()  # the pairs are looked for when the review is first shown
        show(set(watched))
        return pn.Column(
            intro,
            pn.Row(entity, refresh),
            alert,
            pairs,
            compare_part,
            result_part,
            merges_part,
            sizing_mode="stretch_width",
            css_classes=["crm-dups"],
        )

    # -- what the tables show ------------------------------------------------------------
    def _pair_rows(self) -> pd.DataFrame:
        frame = self.model.pairs[["score", "name_a", "name_b", "reasons", "id_a", "id_b"]]
        frame = frame.assign(reasons=[reason_text(r) for r in frame["reasons"]])
        return frame.reset_index(drop=True)

    def _field_rows(self) -> pd.DataFrame:
        """The pair field by field (those either record fills): both values, the one
        that stays, and (hidden, for the highlighting) whether they differ and whose
        value stays."""
        c = self.model.comparison
        custom = self.model.custom_labels()
        rows = pd.DataFrame(
            {
                "field": c["field"].astype(str),
                "label": [field_title(str(f), custom) for f in c["field"]],
                "a": [self.model.shown(f, v) for f, v in zip(c["field"], c["a"], strict=True)],
                "b": [self.model.shown(f, v) for f, v in zip(c["field"], c["b"], strict=True)],
                "stays": [self.model.shown(f, self.model.stays(f)) for f in c["field"]],
                "differs": c["differs"].astype(bool),
                "choice": c["choice"].astype(str),
            }
        )
        # Fields neither record fills say nothing about the pair.
        return rows[(rows["a"] != "") | (rows["b"] != "")].reset_index(drop=True)

    def _side_titles(self) -> dict[str, str]:
        """Each record's column headed by its id and whether it stays."""
        m = self.model
        pair = m.pair
        if pair is None:
            return {"a": _("Record A"), "b": _("Record B")}
        titles = {}
        for side in ("a", "b"):
            role = _("stays") if side == m.keep else _("merged away")
            titles[side] = "#{id} ({role})".format(id=int(pair["id_" + side]), role=role)
        return titles

    def _heading(self) -> str:
        pair = self.model.pair
        if pair is None:
            return ""
        return "<b>{}</b> — {}".format(
            html.escape(
                _("{a} and {b}, score {score}").format(
                    a=pair["name_a"], b=pair["name_b"], score=pair["score"]
                )
            ),
            html.escape(_("differing fields are highlighted; click a value to keep it.")),
        )

    def _merge_rows(self) -> pd.DataFrame:
        frame = self.model.merges.copy()
        tz = self.model.ws.timezone
        frame["at"] = [_when(v, tz) for v in frame["at"]]
        frame["undo"] = ["" if bool(v) else _("Undo") for v in frame["undone"]]
        frame["undone"] = [_("yes") if bool(v) else "" for v in frame["undone"]]
        frame["entity"] = [_(ENTITIES[e]) if e in ENTITIES else shown(e) for e in frame["entity"]]
        # Text columns stay text when the list starts empty (a column of an empty frame
        # is float: the table would format the first merge's texts as numbers, NaN).
        texts = ["merge_id", "entity", "at", "user", "undone", "undo"]
        return frame.astype({c: object for c in texts}).reset_index(drop=True)


def _when(value: Any, tz: ZoneInfo) -> str:
    """A merge's time to the minute, in the workspace's time zone, the date as the
    session's language writes it."""
    if isinstance(value, str) and value:
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, dt.datetime):
        return shown(value)
    local = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(tz)
    return f"{format_date(local.date())} {local:%H:%M}"


def _field_styles(frame: pd.DataFrame) -> pd.DataFrame:
    """A differing field's values highlighted, the value that stays marked."""
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for i in frame.index:
        if not bool(frame.at[i, "differs"]):
            continue
        for side in ("a", "b"):
            chosen = frame.at[i, "choice"] == side
            styles.at[i, side] = CHOSEN_STYLE if chosen else DIFFERS_STYLE
        styles.at[i, "stays"] = CHOSEN_STYLE
    return styles
