"""The ERP sync panel: the last runs (failed and interrupted ones with the reason),
"Run now" with progress, the records waiting to be retried with "Retry" and "Resync
from date", and the conflicts queue with both values side by side and a button to
keep either.

:class:`SyncPanelModel` holds the state and the actions (tested without a browser,
against an in-memory ERP); :class:`SyncPanel` lays it out. Only managers and admins
(and the workspace owner, acting without a user) may run the sync or decide a
conflict: crm_core has no sync permission, so the model enforces it, and a sales
user sees the runs but not the conflicts (their values may be other people's deals).

The ERP connection comes from ``adapter_factory``; by default :func:`adapter_from_env`
builds an Odoo adapter from ``CRMBOOK_ODOO_URL``, ``CRMBOOK_ODOO_DB``,
``CRMBOOK_ODOO_USER`` and ``CRMBOOK_ODOO_PASSWORD`` (``CRMBOOK_ODOO_PROTOCOL``
optional), so the secret lives in the server's environment, never in the page.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import panel as pn
import param
from sqlalchemy import select

import erp_bridge
from crm_core import Workspace
from crm_core.models import SyncRun
from erp_bridge.adapter import RemoteError
from erp_bridge.conflicts import decide, open_conflicts
from erp_bridge.failures import COLUMNS as FAILURE_COLUMNS
from erp_bridge.failures import listed
from erp_bridge.local import MODELS
from erp_bridge.run import COPIES, REFERENCE, SYNCED
from erp_bridge.runs import RunBusy, shown_status
from widgets.base import ComponentView, message_alert
from widgets.i18n import N_, _, format_number, ngettext
from widgets.long_work import LongWorkModel

ENV = ("CRMBOOK_ODOO_URL", "CRMBOOK_ODOO_DB", "CRMBOOK_ODOO_USER", "CRMBOOK_ODOO_PASSWORD")
MANAGERS = (None, "admin", "manager")
RUN_COLUMNS = [
    "run",
    "backend",
    "started",
    "finished",
    "status",
    "reason",
    "seconds",
    "lag",
    "created",
    "updated",
    "archived",
    "pushed",
    "conflicts",
    "errors",
]
CONFLICT_COLUMNS = ["id", "entity", "local_id", "record", "field", "crm", "erp", "kept", "rule"]
NO_ERP = N_(
    "No ERP configured: set CRMBOOK_ODOO_URL, CRMBOOK_ODOO_DB, CRMBOOK_ODOO_USER and "
    "CRMBOOK_ODOO_PASSWORD where the app runs."
)
#: The headings of the tables' columns (the frames keep their column names).
TITLES = {
    "run": N_("Run"),
    "backend": N_("ERP"),
    "started": N_("Started"),
    "finished": N_("Finished"),
    "status": N_("Status"),
    "reason": N_("Reason"),
    "seconds": N_("Seconds"),
    "lag": N_("Ago"),
    "created": N_("Created"),
    "updated": N_("Updated"),
    "archived": N_("Archived"),
    "pushed": N_("Pushed"),
    "conflicts": N_("Conflicts"),
    "errors": N_("Errors"),
    "entity": N_("Kind"),
    "direction": N_("Direction"),
    "record": N_("Record"),
    "error": N_("Error"),
    "attempts": N_("Attempts"),
    "since": N_("Since"),
    "last": N_("Last"),
}
#: A run's status as shown (erp_bridge stores the keys).
STATUSES = {
    "running": N_("running"),
    "done": N_("done"),
    "done_with_errors": N_("done with errors"),
    "failed": N_("failed"),
    "interrupted": N_("interrupted"),
}


def adapter_from_env(environ: Mapping[str, str] | None = None) -> Any:
    """An Odoo adapter from the ``CRMBOOK_ODOO_*`` variables, or None when any of URL,
    DB, USER and PASSWORD is unset. Building it does not connect yet."""
    env = os.environ if environ is None else environ
    url, db, user, secret = (env.get(name, "").strip() for name in ENV)
    if not (url and db and user and secret):
        return None
    from erp_bridge.odoo import OdooAdapter

    protocol = env.get("CRMBOOK_ODOO_PROTOCOL", "").strip() or "xmlrpc"
    return OdooAdapter(url, db, user, secret, protocol=protocol)


def shown(value: Any) -> str:
    """A synced value as the panel shows it: lists joined, nothing as ``(empty)``."""
    if value is None or value == "":
        return _("(empty)")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or _("(empty)")
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return _("{n}s").format(n=seconds)
    if seconds < 7200:
        return _("{n}m").format(n=seconds // 60)
    if seconds < 172800:
        return _("{n}h").format(n=seconds // 3600)
    return _("{n}d").format(n=seconds // 86400)


class SyncPanelModel(LongWorkModel):
    """The sync panel's state and actions.

    ``run_now`` runs :func:`erp_bridge.sync` with the adapter ``adapter_factory()``
    builds, updating ``progress``; served by Panel it runs in a thread (the page
    stays live), in a notebook or a test it runs before returning (``background``
    forces either). ``decide`` settles a conflict on both sides.
    """

    adapter_factory = param.Callable(
        default=None,
        doc="Builds the ERP adapter for a run or a decision; None when no ERP is configured.",
    )
    runs = param.DataFrame(
        default=None,
        doc="The last runs, newest first: run, backend, started, finished (workspace time), "
        "status, seconds, lag (since it ended), created, updated, archived, pushed, "
        "conflicts, errors (counts from the run's report).",
    )
    conflicts = param.DataFrame(
        default=None,
        doc="Open conflicts: id, entity, local_id, record (its name), field, crm and erp "
        "(both values), kept (the side the sync kept: local or remote), rule.",
    )
    failures = param.DataFrame(
        default=None,
        doc="Records that failed to pull or push and wait to be retried (managers only): "
        "backend, entity, direction, record, error, attempts, since, last.",
    )
    resync_since = param.CalendarDate(
        default=None,
        allow_None=True,
        doc="The date from which 'Resync from date' re-reads what the ERP changed.",
    )
    policy = param.Selector(
        default="last_writer",
        objects=["last_writer", "erp", "crm"],
        doc="Who wins a shared field both sides changed (the other side is kept for review).",
    )
    last = param.Integer(default=10, bounds=(1, 1000), doc="How many runs to list.")

    def __init__(
        self,
        ws: Workspace,
        adapter_factory: Callable[[], Any] | None = None,
        **params: Any,
    ):
        super().__init__(ws, adapter_factory=adapter_factory or adapter_from_env, **params)
        self._counts: dict[str, int] = {}
        self._steps = [*REFERENCE, *SYNCED, *COPIES]
        self.refresh()

    @property
    def may_manage(self) -> bool:
        """Whether the acting user may run the sync and decide conflicts."""
        return self.ws.role in MANAGERS

    # -- reading ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the runs and (for managers) the open conflicts again."""
        manager = self.may_manage
        self.param.update(
            runs=self._runs(),
            conflicts=self._conflicts() if manager else _frame([], CONFLICT_COLUMNS),
            failures=self._failures() if manager else _frame([], FAILURE_COLUMNS),
        )

    def _runs(self) -> pd.DataFrame:
        ws = self.ws
        with ws.transaction() as s:
            found = s.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(self.last)).all()
            now = ws.clock()
            rows = []
            for r in found:
                models = (r.report or {}).get("models", {}).values()

                def total(*keys: str, models: Any = models) -> int:
                    return sum(int(m.get(k, 0)) for m in models for k in keys)

                status = shown_status(r, now)
                interrupted = status == "interrupted"

                rows.append(
                    {
                        "run": r.id,
                        "backend": r.backend,
                        "started": self._when(r.started_at),
                        "finished": self._when(r.finished_at),
                        "status": _(STATUSES.get(status, status.replace("_", " ")))
                        + (_(" (dry run)") if r.dry_run else ""),
                        "seconds": round(float((r.report or {}).get("seconds", 0.0)), 1),
                        "lag": _ago((now - (r.finished_at or r.started_at)).total_seconds()),
                        "created": total("created"),
                        "updated": total("updated"),
                        "archived": total("archived"),
                        "pushed": total("pushed_created", "pushed_updated"),
                        "conflicts": total("conflicts"),
                        "errors": sum(len(m.get("errors", [])) for m in models),
                        "reason": r.reason
                        or (_("its process stopped without finishing") if interrupted else ""),
                    }
                )
        return _frame(rows, RUN_COLUMNS)

    def _failures(self) -> pd.DataFrame:
        """The records waiting to be retried, a pushed one named as it is here."""
        found = listed(self.ws)
        names: dict[str, str] = {}
        with self.ws.transaction() as s:
            for row in found.itertuples():
                model = MODELS.get(str(row.entity))
                title = getattr(model, "name", None) or getattr(model, "subject", None)
                if row.direction != "push" or model is None or title is None:
                    continue
                local_id = int(str(row.record).rpartition("#")[2])
                name = s.scalar(select(title).where(model.id == local_id))
                if name is not None:
                    names[str(row.record)] = f"{row.record} {name}"
        found["record"] = [names.get(str(r), str(r)) for r in found["record"]]
        return found

    def _when(self, moment: dt.datetime | None) -> str:
        return moment.astimezone(self.ws.timezone).strftime("%Y-%m-%d %H:%M") if moment else ""

    def _conflicts(self) -> pd.DataFrame:
        found = open_conflicts(self.ws)
        names: dict[tuple[str, int], str] = {}
        with self.ws.transaction() as s:
            for entity, group in found.groupby("entity"):
                model = MODELS.get(str(entity))
                title = getattr(model, "name", None) or getattr(model, "subject", None)
                if model is None or title is None:
                    continue
                ids = [int(i) for i in group["local_id"]]
                for rid, name in s.execute(select(model.id, title).where(model.id.in_(ids))):
                    names[(str(entity), int(rid))] = str(name)
        rows = [
            {
                "id": int(c["id"]),
                "entity": c["entity"],
                "local_id": int(c["local_id"]),
                "record": names.get((c["entity"], int(c["local_id"])))
                or f"{c['entity']} #{c['local_id']}",
                "field": c["field"],
                "crm": c["crm"],
                "erp": c["erp"],
                "kept": c["kept"],
                "rule": c["rule"],
            }
            for c in found.to_dict("records")
        ]
        return _frame(rows, CONFLICT_COLUMNS)

    # -- actions ------------------------------------------------------------------------------
    def run_now(self, models: list[str] | None = None, adapter: Any = None) -> Any:
        """Run a sync now (of ``models`` only, if given). Returns its report when it ran
        here and then, else None (refused, no ERP, failed, or running in the
        background: watch ``running``)."""
        if not self._allowed(
            _("Only managers and admins may run the sync; you are signed in as {who}.")
        ):
            return None
        if self.running:
            self._say(_("A sync is already running."), "warning")
            return None
        adapter = adapter if adapter is not None else self._adapter()
        if adapter is None:
            return None
        self._counts = {}
        self.param.update(running=True, progress=0, progress_text=_("Starting"))
        self._say("", "info")
        return self._launch(self._run, adapter, models, name="crmbook-sync-panel")

    def retry(self) -> Any:
        """Run a sync of the entities that have records waiting to be retried (every
        run tries them first). Returns the report as :meth:`run_now` does."""
        waiting = sorted(set(self.failures["entity"])) if self.failures is not None else []
        if not waiting:
            self._say(_("No record is waiting to be retried."), "info")
            return None
        return self.run_now(models=waiting)

    def resync(self) -> Any:
        """Re-read everything the ERP changed since ``resync_since``, then run."""
        if not self._allowed(
            _("Only managers and admins may resync with the ERP; you are signed in as {who}.")
        ):
            return None
        if self.resync_since is None:
            self._say(_("Choose the date to resync from."), "warning")
            return None
        if self.running:
            self._say(_("A sync is already running."), "warning")
            return None
        adapter = self._adapter()
        if adapter is None:
            return None
        erp_bridge.resync_from(self.ws, adapter.backend, self.resync_since)
        return self.run_now(adapter=adapter)

    def decide(self, conflict_id: int, winner: str, adapter: Any = None) -> bool:
        """Keep the ``winner`` side's value ("crm" or "erp") on both sides and close the
        conflict. ``adapter`` defaults to ``adapter_factory()``. True when done."""
        if not self._allowed(
            _("Only managers and admins may decide sync conflicts; you are signed in as {who}.")
        ):
            return False
        if self.running:
            self._say(_("Wait for the running sync to finish."), "warning")
            return False
        if winner not in ("crm", "erp"):
            self._say(_("Keep 'crm' or 'erp', not {winner}.").format(winner=repr(winner)), "danger")
            return False
        adapter = adapter if adapter is not None else self._adapter()
        if adapter is None:
            return False
        done_text = (
            _("Conflict {id}: kept the CRM value on both sides.")
            if winner == "crm"
            else _("Conflict {id}: kept the ERP value on both sides.")
        )
        try:
            done = self.attempt(
                lambda: decide(self.ws, adapter, int(conflict_id), winner) or True,
                done_text.format(id=conflict_id),
            )
        except RemoteError as exc:
            self._say(_("The ERP refused: {reason}").format(reason=exc), "danger")
            done = None
        self.refresh()
        return bool(done)

    # -- internals ------------------------------------------------------------------------------
    def _allowed(self, refusal: str) -> bool:
        """Whether the user may manage the sync; if not, say ``refusal`` (naming ``{who}``)."""
        if self.may_manage:
            return True
        self.field_errors = {}
        self._say(refusal.format(who=f"{self.ws.login} ({self.ws.role})"), "danger")
        return False

    def _adapter(self) -> Any:
        try:
            adapter = self.adapter_factory() if self.adapter_factory else None
        except Exception as exc:  # a bad address, a missing driver: say so, run nothing
            self._say(_("Cannot use the ERP connection: {reason}").format(reason=exc), "danger")
            return None
        if adapter is None:
            self._say(_(NO_ERP), "warning")
        return adapter

    def _progress(self, key: str, count: int) -> None:
        name = key.removeprefix("pull:")
        self._counts[name] = self._counts.get(name, 0) + count
        step = self._steps.index(name) + 1 if name in self._steps else 0
        percent = min(99, int(100 * step / (len(self._steps) + 1)))
        self.param.update(
            progress=max(self.progress, percent),
            progress_text=ngettext(
                "Pulling {what}: {n} record", "Pulling {what}: {n} records", self._counts[name]
            ).format(what=name.replace("_", " "), n=format_number(self._counts[name])),
        )

    def _run(self, adapter: Any, models: list[str] | None = None) -> Any:
        try:
            report = erp_bridge.sync(
                self.ws, adapter, policy=self.policy, models=models, progress=self._progress
            )
        except RunBusy as exc:
            self.param.update(running=False, progress_text="")
            self.refresh()
            self._say(str(exc), "warning")
            return None
        except Exception as exc:  # shown to the user; the run is recorded as failed
            self.param.update(running=False, progress_text=_("Failed"))
            self.refresh()
            self._say(
                _(
                    "The sync failed: {reason}. What was applied is kept; run it again to go on."
                ).format(reason=exc),
                "danger",
            )
            return None
        totals = report.to_frame().drop(columns="model").sum()

        def n(key: str) -> int:
            return int(totals.get(key, 0))

        pushed = n("pushed_created") + n("pushed_updated")
        summary = _(
            "Sync done in {seconds} s: {created} created, {updated} updated, {pushed} pushed, "
            "{conflicts} conflict(s), {errors} error(s)."
        ).format(
            seconds=format_number(round(report.seconds, 1), 1),
            created=format_number(n("created")),
            updated=format_number(n("updated")),
            pushed=format_number(pushed),
            conflicts=format_number(n("conflicts")),
            errors=format_number(len(report.errors)),
        )
        if report.errors:
            summary += " " + _(
                "{errors}. The failed records are listed below and every run tries them again."
            ).format(errors="; ".join(report.errors[:3]))
        self.param.update(running=False, progress=100, progress_text=_("Done"))
        self.refresh()
        self._say(summary, "warning" if report.errors else "success")
        return report


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def _titles(columns: list[str]) -> dict[str, str]:
    """The tables' headings in the session's language."""
    return {name: _(TITLES[name]) for name in columns if name in TITLES}


class SyncPanel(ComponentView):
    """The sync panel: ``SyncPanel(ws)`` in a notebook or the staff app;
    ``SyncPanel(ws, adapter_factory=lambda: odoo)`` with an adapter of your own."""

    model = param.ClassSelector(class_=SyncPanelModel, doc="The panel's view-model.")
    model_class = SyncPanelModel

    def __init__(
        self,
        ws: Workspace | None = None,
        adapter_factory: Callable[[], Any] | None = None,
        **params: Any,
    ):
        super().__init__(ws, adapter_factory, **params)
        self._layout: pn.Column | None = None

    def __panel__(self) -> pn.viewable.Viewable:
        if self._layout is None:
            self._layout = self._build()
        return self._layout

    def _build(self) -> pn.Column:
        model = self.model
        alert = message_alert(model)
        # Tabulator's default formatters show text as text: never the "html" formatter.
        runs = pn.widgets.Tabulator(
            model.runs,
            titles=_titles(RUN_COLUMNS),
            disabled=True,
            show_index=False,
            sizing_mode="stretch_width",
            css_classes=["crm-sync-runs"],
        )
        run = pn.widgets.Button(
            label=_("Run now"),
            color="primary",
            css_classes=["crm-sync-run"],
            disabled=not model.may_manage,
            width=120,
        )
        run.on_click(lambda _: model.run_now())
        bar = pn.indicators.Progress(
            value=model.progress, max=100, width=300, css_classes=["crm-sync-progress"]
        )
        status = pn.pane.HTML(
            html.escape(model.progress_text), css_classes=["crm-sync-progress-text"]
        )
        conflicts = pn.Column(
            *self._conflicts(model.conflicts),
            css_classes=["crm-conflicts"],
            sizing_mode="stretch_width",
        )
        failures = pn.widgets.Tabulator(
            model.failures,
            titles=_titles(FAILURE_COLUMNS),
            disabled=True,
            show_index=False,
            sizing_mode="stretch_width",
            css_classes=["crm-sync-failures"],
            visible=model.may_manage,
        )
        retry = pn.widgets.Button(
            label=_("Retry"),
            css_classes=["crm-sync-retry"],
            disabled=not model.may_manage or model.failures is None or model.failures.empty,
            width=120,
        )
        retry.on_click(lambda _: model.retry())
        since = pn.widgets.DatePicker(
            label=_("Resync from"),
            value=model.resync_since,
            width=160,
            css_classes=["crm-sync-since"],
            disabled=not model.may_manage,
        )
        since.link(model, value="resync_since")
        resync = pn.widgets.Button(
            label=_("Resync from date"),
            css_classes=["crm-sync-resync"],
            disabled=not model.may_manage,
            width=160,
        )
        resync.on_click(lambda _: model.resync())

        def update(*events: param.parameterized.Event) -> None:
            names = {e.name for e in events}
            if "runs" in names:
                runs.value = model.runs
            if "progress" in names:
                bar.value = model.progress
            if "progress_text" in names:
                status.object = html.escape(model.progress_text)
            if "running" in names or "failures" in names:
                idle = not model.running and model.may_manage
                run.disabled = resync.disabled = not idle
                retry.disabled = not idle or model.failures is None or model.failures.empty
            if "conflicts" in names:
                conflicts.objects = self._conflicts(model.conflicts)
            if "failures" in names:
                failures.value = model.failures

        model.param.watch(
            update, ["runs", "progress", "progress_text", "running", "conflicts", "failures"]
        )
        note = pn.pane.HTML(
            "<i>{}</i>".format(
                html.escape(_("Only managers and admins may run the sync or decide conflicts."))
            ),
            visible=not model.may_manage,
            css_classes=["crm-sync-note"],
        )
        return pn.Column(
            pn.pane.HTML("<h3>{}</h3>".format(html.escape(_("ERP sync")))),
            alert,
            note,
            pn.Row(run, bar, status),
            pn.pane.HTML("<b>{}</b>".format(html.escape(_("Last runs")))),
            runs,
            pn.pane.HTML(
                "<b>{}</b> {}".format(
                    html.escape(_("Records waiting to be retried")),
                    html.escape(_("(every run tries them again)")),
                ),
                visible=model.may_manage,
            ),
            failures,
            pn.Row(retry, since, resync, visible=model.may_manage),
            pn.pane.HTML(
                "<b>{}</b>".format(html.escape(_("Conflicts to review"))), visible=model.may_manage
            ),
            conflicts,
            sizing_mode="stretch_width",
            css_classes=["crm-sync"],
        )

    def _conflicts(self, frame: pd.DataFrame | None) -> list[Any]:
        if frame is None or frame.empty:
            return [
                pn.pane.HTML(
                    "<i>{}</i>".format(html.escape(_("No conflict to review."))),
                    css_classes=["crm-no-conflict"],
                )
            ]
        return [self._conflict(c) for c in frame.to_dict("records")]

    def _conflict(self, c: dict[str, Any]) -> pn.Column:
        model, cid = self.model, int(c["id"])
        kept = {"local": "CRM", "remote": "ERP"}.get(str(c["kept"]), str(c["kept"]))
        header = _(
            "{record} ({kind}), field {field}: the sync kept the {side} value ({rule})"
        ).format(
            record=f"<b>{html.escape(str(c['record']))}</b>",
            kind=html.escape(str(c["entity"])),
            field=f"<code>{html.escape(str(c['field']))}</code>",
            side=html.escape(kept),
            rule=html.escape(str(c["rule"])),
        )

        def side(label: str, value: Any, winner: str) -> pn.Column:
            button = pn.widgets.Button(
                label=_("Keep {side} value").format(side=label),
                color="primary" if kept == label else "default",
                css_classes=[f"crm-keep-{winner}"],
            )
            button.on_click(lambda _: model.decide(cid, winner))
            return pn.Column(
                pn.pane.HTML(
                    f'<div class="crm-side-label">{label}</div>'
                    f'<div class="crm-value crm-value-{winner}">{html.escape(shown(value))}</div>'
                ),
                button,
                width=300,
            )

        return pn.Column(
            pn.pane.HTML(header),
            pn.Row(side("CRM", c["crm"], "crm"), side("ERP", c["erp"], "erp")),
            css_classes=["crm-conflict", f"crm-conflict-{cid}"],
            styles={"border": "1px solid #ddd", "border-radius": "4px", "padding": "4px"},
            sizing_mode="stretch_width",
        )
