"""The activity inbox: my overdue, today's and upcoming activities; complete, snooze
and reassign them; a "time to call" reminder visible as soon as it opens.

:class:`ActivityInboxModel` holds the state and the actions (tested without a
browser); :class:`ActivityInbox` lays it out. "Today" is the workspace's today
(``ws.today()``: its clock, its time zone).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param

from crm_core import Workspace
from crm_core.services.activities import ACTIVITY_COLUMNS
from widgets import i18n
from widgets.activity_list import ActivityLists
from widgets.base import ComponentView, ViewModel, message_alert
from widgets.i18n import _, ngettext

BUCKETS = ("overdue", "today", "upcoming")


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=ACTIVITY_COLUMNS)


class ActivityInboxModel(ViewModel):
    """State and actions of one user's activity inbox.

    The inbox is the acting user's (``ws.as_user(login)``); a workspace opened without
    a user shows ``user``'s, or everyone's when ``user`` is ''. The three DataFrames
    have the columns of ``ws.activities.overdue`` (id, kind, subject, due_date,
    assignee, contact, company, opportunity, note, version, ...).
    """

    user = param.String(
        default="",
        doc="Login whose inbox this is; defaults to the acting user ('' = everyone's).",
    )
    upcoming_days = param.Integer(
        default=7, bounds=(1, 365), doc="How many days ahead 'upcoming' reaches."
    )
    overdue = param.DataFrame(default=None, doc="Open activities due before today.")
    today = param.DataFrame(default=None, doc="Open activities due today.")
    upcoming = param.DataFrame(default=None, doc="Open activities due after today.")
    reminder = param.String(
        default="", doc="'Time to call: 3 overdue, 2 due today' or '' when nothing is due."
    )
    reminder_kind = param.Selector(
        default="info", objects=["info", "warning", "danger"], doc="Reminder alert style."
    )
    users = param.List(default=[], doc="Active users as {'login', 'name'}, to reassign to.")

    def __init__(self, ws: Workspace, **params: Any):
        if ws.login and "user" not in params:
            params["user"] = ws.login
        params.setdefault("overdue", _empty())
        params.setdefault("today", _empty())
        params.setdefault("upcoming", _empty())
        super().__init__(ws, **params)
        self.refresh()

    # -- reading ------------------------------------------------------------------
    @param.depends("user", "upcoming_days", watch=True)
    def refresh(self) -> None:
        """Reload the three lists and the reminder."""
        self.attempt(self._load)

    def _load(self) -> bool:
        acts = self.ws.activities
        who = self.user or None
        overdue = acts.overdue(who)
        today = acts.due_today(who)
        upcoming = acts.upcoming(who, days=self.upcoming_days)
        users = self.ws.users.list()
        users = users[users["active"].astype(bool)]
        self.param.update(
            overdue=overdue,
            today=today,
            upcoming=upcoming,
            users=[{"login": u.login, "name": u.name} for u in users.itertuples()],
            **self._reminder(overdue, today),
        )
        return True

    def _reminder(self, overdue: pd.DataFrame, today: pd.DataFrame) -> dict[str, str]:
        if overdue.empty and today.empty:
            return {"reminder": "", "reminder_kind": "info"}
        counts = {
            "overdue": i18n.format_number(len(overdue)),
            "today": i18n.format_number(len(today)),
        }
        if overdue.empty:
            text = _("Time to call: {overdue} overdue, {today} due today").format(**counts)
        else:
            oldest = overdue.iloc[0]
            late = (self.ws.today() - oldest["due_date"]).days
            text = ngettext(
                "Time to call: {overdue} overdue, {today} due today; "
                "the oldest, {subject!r}, is {late} day late",
                "Time to call: {overdue} overdue, {today} due today; "
                "the oldest, {subject!r}, is {late} days late",
                late,
            ).format(**counts, subject=oldest["subject"], late=i18n.format_number(late))
        return {"reminder": text, "reminder_kind": "danger" if len(overdue) else "warning"}

    def activity(self, activity_id: int) -> dict[str, Any] | None:
        """An activity as shown in one of the three lists, or None."""
        for bucket in BUCKETS:
            frame = getattr(self, bucket)
            found = frame[frame["id"] == activity_id]
            if len(found):
                return found.iloc[0].to_dict()
        return None

    def _version(self, activity_id: int) -> int | None:
        # The version the user saw: a change made meanwhile is a conflict, not lost.
        shown = self.activity(activity_id)
        return None if shown is None else int(shown["version"])

    # -- acting -------------------------------------------------------------------
    def complete(self, activity_id: int, note: str | None = None) -> Any:
        """Mark an activity done, optionally with a note."""
        return self._act(
            lambda: self.ws.activities.complete(
                activity_id, note=note, expected_version=self._version(activity_id)
            ),
            lambda a: _("Done: {subject!r}.").format(subject=a["subject"]),
        )

    def complete_and_schedule(
        self, activity_id: int, kind: str, subject: str, due: Any, note: str | None = None
    ) -> Any:
        """Mark an activity done and plan the next step on the same records, in one
        go (neither is written if either is refused: the fields are named)."""
        return self._act(
            lambda: self.ws.activities.complete_and_schedule(
                activity_id,
                kind,
                subject,
                due,
                note=note,
                expected_version=self._version(activity_id),
            ),
            lambda both: _("Done: {done!r}; next: {next!r} on {due:%Y-%m-%d}.").format(
                done=both["done"]["subject"],
                next=both["next"]["subject"],
                due=both["next"]["due_date"],
            ),
        )

    def snooze(self, activity_id: int, days: int) -> Any:
        """Push an activity to ``days`` after today."""
        return self._act(
            lambda: self.ws.activities.snooze(
                activity_id, days=days, expected_version=self._version(activity_id)
            ),
            lambda a: _("Snoozed {subject!r} to {due:%Y-%m-%d}.").format(
                subject=a["subject"], due=a["due_date"]
            ),
        )

    def reassign(self, activity_id: int, login: str) -> Any:
        """Give an activity to the user with ``login``."""
        return self._act(
            lambda: self.ws.activities.reassign(
                activity_id, login, expected_version=self._version(activity_id)
            ),
            lambda a: _("Gave {subject!r} to {login}.").format(subject=a["subject"], login=login),
        )


# -- the view -------------------------------------------------------------------------


class ActivityInbox(ComponentView):
    """The activity inbox: ``ActivityInbox(ws.as_user(login))`` in a notebook or app."""

    model = param.ClassSelector(class_=ActivityInboxModel, doc="The inbox's view-model.")

    model_class = ActivityInboxModel

    def _build(self) -> pn.viewable.Viewable:
        model = self.model
        reminder = message_alert(model, "reminder", "reminder_kind", css="crm-reminder")
        alert = message_alert(model)
        whose = pn.widgets.Select.from_param(
            model.param.user,
            label=_("Inbox of"),
            options={_("Everyone"): ""} | {u["name"]: u["login"] for u in model.users},
            width=220,
            # a sales user has only their own inbox
            visible=model.ws.role != "sales",
        )
        return pn.Column(
            reminder,
            whose,
            alert,
            ActivityLists(model).panel(),
            css_classes=["crm-inbox"],
            sizing_mode="stretch_width",
        )
