"""The inbox's three lists (overdue, today, upcoming) as light elements.

Each list is one table (a Tabulator) whatever its length: a manager's "Everyone"
inbox of several hundred activities is three elements, not ten widgets per row. A
row's own buttons mark it done or push it a day or a week; selecting a row opens the
bar under the lists, where the next step is planned in the same click as "done" and
the activity is given to someone else. The tables and the bar are built once and
updated in place when the inbox reloads.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn

from crm_core.models import ACTIVITY_KINDS
from widgets import i18n
from widgets.i18n import N_, _
from widgets.record_page import WORDS, link
from widgets.row_clicks import RowClicks

#: The three lists, in the order of the switch: (view-model parameter, title).
LISTS = (("overdue", N_("Overdue")), ("today", N_("Today")), ("upcoming", N_("Upcoming")))
#: The row buttons: column -> label.
BUTTONS = {"done": N_("Done"), "snooze1": N_("+1 day"), "snooze7": N_("+7 days")}
#: The lists' column widths (px); the row buttons take what their label needs.
WIDTHS = {"due": 105, "kind": 75, "subject": 190, "about": 250, "assignee": 110}
#: The row buttons look like buttons, in the light and the dark theme.
BUTTON_STYLE = (Path(__file__).parent / "static" / "activity.css").read_text(encoding="utf-8")


def about_html(row: dict[str, Any]) -> str:
    """What an activity is about, each record a link to its page (names escaped)."""
    parts = [
        html.escape(_(label)) + ": " + link(kind, row.get(f"{key}_id"), row[key])
        for label, key, kind in (
            (N_("Deal"), "opportunity", "deal"),
            (N_("Contact"), "contact", "contact"),
            (N_("Company"), "company", "company"),
        )
        if isinstance(row.get(key), str) and row[key]
    ]
    return " · ".join(parts)


def list_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """What a list's table shows of the activities in ``frame``: due dates in the
    session's locale (the lists come ordered by due date)."""
    rows = frame.to_dict("records")
    return pd.DataFrame(
        {
            "id": [int(r["id"]) for r in rows],
            "due": [
                i18n.format_date(r["due_date"]) if isinstance(r["due_date"], dt.date) else ""
                for r in rows
            ],
            "kind": [_(WORDS.get(str(r["kind"]), str(r["kind"]))) for r in rows],
            "subject": [str(r["subject"]) for r in rows],
            "about": [about_html(r) for r in rows],
            "assignee": [r["assignee"] if isinstance(r.get("assignee"), str) else "" for r in rows],
        },
        columns=["id", "due", "kind", "subject", "about", "assignee"],
    )


class ActivityLists:
    """The three lists of the inbox and the bar acting on the selected activity, for an
    :class:`~widgets.activity_inbox.ActivityInboxModel`."""

    def __init__(self, model: Any):
        self.model = model
        self.selected: int | None = None
        self.clicks = {name: RowClicks() for name, _title in LISTS}
        self.tables = {name: self._table(name) for name, _title in LISTS}
        counts = [len(getattr(model, name)) for name, _title in LISTS]
        # A switch of three buttons rather than tabs: its labels (with the counts) are
        # redrawn when they change, a drawn tab's title is not.
        self.switch = pn.widgets.RadioButtonGroup(
            options=self._options(),
            value=next((n for (n, _t), c in zip(LISTS, counts, strict=True) if c), "overdue"),
            css_classes=["crm-inbox-switch"],
        )
        for name, table in self.tables.items():
            table.visible = name == self.switch.value
        self.switch.param.watch(self._switched, "value")
        self.bar = self._bar()
        model.param.watch(self._reload, [name for name, _title in LISTS])

    def panel(self) -> pn.viewable.Viewable:
        """The lists and the bar."""
        return pn.Column(self.switch, *self.tables.values(), self.bar, sizing_mode="stretch_width")

    def _options(self) -> dict[str, str]:
        return {self._title(name, title): name for name, title in LISTS}

    def _switched(self, event: Any) -> None:
        for name, table in self.tables.items():
            table.visible = name == event.new
        self._select(None)

    def _title(self, name: str, title: str) -> str:
        count = i18n.format_number(len(getattr(self.model, name)))
        return _("{list} ({n})").format(list=_(title), n=count)

    def _table(self, name: str) -> pn.widgets.Tabulator:
        table = pn.widgets.Tabulator(
            list_rows(getattr(self.model, name)),
            show_index=False,
            pagination=None,
            selectable=1,
            disabled=True,
            hidden_columns=["id"],
            # Due dates read in the user's locale would sort as text: the order is the
            # lists' own (by due date), the other columns sort by their header.
            sortable={"due": False},
            titles={
                "due": _("Due"),
                "kind": _("Kind"),
                "subject": _("Subject"),
                "about": _("About"),
                "assignee": _("Assignee"),
            },
            formatters={"about": {"type": "html"}},
            buttons={
                column: f'<span class="crm-row-button crm-row-{column}">'
                + html.escape(_(label))
                + "</span>"
                for column, label in BUTTONS.items()
            },
            # With the row buttons, at most the main area's width at 1400 px (about
            # 950 px): no column out of view, none clipped in a right-to-left page.
            # Longer text wraps inside its cell (activity.css) instead of being cut.
            widths=WIDTHS,
            stylesheets=[BUTTON_STYLE],
            max_height=560,
            sizing_mode="stretch_width",
            css_classes=["crm-activity-list", f"crm-inbox-{name}"],
        )
        table.on_click(lambda event, t=table, n=name: self._clicked(t, event, self.clicks[n]))
        table.param.watch(lambda event, t=table: self._selected(t, event.new), "selection")
        return table

    def _reload(self, *_events: Any) -> None:
        for name, _title in LISTS:
            self.tables[name].param.update(value=list_rows(getattr(self.model, name)), selection=[])
        self.switch.options = self._options()
        self._select(None)

    def _clicked(self, table: pn.widgets.Tabulator, event: Any, clicks: RowClicks) -> None:
        """A row button: its action on the activity of that row, once for a double
        click (see :mod:`widgets.row_clicks`)."""
        if event.column not in BUTTONS or event.row is None or event.row >= len(table.value):
            return
        activity = int(table.value["id"].iloc[event.row])
        if event.column == "done":
            clicks.run(event.row, activity, lambda: self.model.complete(activity))
        else:
            days = 1 if event.column == "snooze1" else 7
            clicks.run(event.row, activity, lambda: self.model.snooze(activity, days))

    def _selected(self, table: pn.widgets.Tabulator, selection: list[int]) -> None:
        if selection:
            self._select(int(table.value["id"].iloc[selection[0]]))

    # -- the bar for the selected activity ----------------------------------------
    def _select(self, activity: int | None) -> None:
        self.selected = activity
        shown = self.model.activity(activity) if activity is not None else None
        self.bar.visible = shown is not None
        if shown is not None:
            self._chosen.object = (
                "<b>" + html.escape(str(shown["subject"])) + "</b> · " + about_html(shown)
            )

    def _bar(self) -> pn.Column:
        m = self.model
        self._chosen = pn.pane.HTML("", css_classes=["crm-inbox-chosen"])
        kind = pn.widgets.Select(
            options=list(ACTIVITY_KINDS), value="call", width=110, css_classes=["crm-next-kind"]
        )
        subject = pn.widgets.TextInput(
            placeholder=_("Next step"), width=240, css_classes=["crm-next-subject"]
        )
        due = pn.widgets.DatePicker(
            value=m.ws.today() + dt.timedelta(days=1), width=140, css_classes=["crm-next-due"]
        )
        save = pn.widgets.Button(
            label=_("Done and schedule"), color="success", css_classes=["crm-next-save"]
        )

        def plan(_event: Any) -> None:
            if self.selected is not None and m.complete_and_schedule(
                self.selected, kind.value, subject.value, due.value
            ):
                subject.value = ""

        save.on_click(plan)
        reassign = pn.widgets.Select(
            options={_("Reassign to…"): ""} | {u["name"]: u["login"] for u in m.users},
            width=180,
            css_classes=["crm-activity-reassign"],
        )

        def give(event: Any) -> None:
            if event.new and self.selected is not None:
                m.reassign(self.selected, event.new)
            reassign.value = ""

        reassign.param.watch(give, "value")
        return pn.Column(
            self._chosen,
            pn.FlexBox(kind, subject, due, save, reassign, flex_wrap="wrap", align_items="end"),
            visible=False,
            css_classes=["crm-inbox-bar"],
            sizing_mode="stretch_width",
        )
