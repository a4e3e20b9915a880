"""The pipeline board: a column per open stage with its count and total, cards that
move by drag and drop or by buttons, win (confirmed), lose with a reason, a deal
quick-created in a column, the closed deals with Reopen; filters by owner, tag and
expected-close month.

:class:`PipelineBoardModel` holds the state and the actions (tested without a
browser); :class:`PipelineBoard` shows it as one browser element
(:mod:`widgets.board_view`). ``PipelineBoard(ws.as_user("bilal"))`` shows Bilal's
board: crm_core lets a sales user see and move only their own deals.

What the staff app uses (all on ``board.model``):

- filters, to keep in the URL: ``owner`` (a login, '' for everyone), ``tag`` ('' for
  any), ``close_month`` ('YYYY-MM', '' for any) and ``view`` ('open', or 'closed' to
  list the closed deals under the board, with Reopen; ``show_closed`` is the same
  switch as a Boolean); setting them reloads the board, and the board sets them when
  the user filters;
- ``open_deal``: the id of the deal whose name was clicked last (re-triggered when the
  same deal is clicked again), and ``on_open``, a callable called with that id: show
  the deal page (``#/deals/<id>``).

A move reloads only the two columns it touches (their cards and totals); the other
columns keep their dicts (and their ``rev``), so the view redraws nothing else.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd
import param

from crm_core import FieldError, ValidationError, Workspace
from crm_core.services.figures import total
from crm_core.services.pipeline import OPP_COLUMNS
from widgets import i18n
from widgets.base import ViewModel
from widgets.shared_reads import shared

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
#: Characters that set a direction; a name holding one is isolated wherever it is shown.
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


def quoted(name: Any) -> str:
    """A deal's name as the board's messages put it: in plain quotes (``'Uniforms'``,
    never Python's repr with its escapes). In a right-to-left page, or when the name
    holds direction controls of its own, it is isolated (U+2068 ... U+2069): it keeps
    its own direction and cannot turn the rest of the message around."""
    text = str(name)
    if i18n.direction() == "rtl" or _BIDI_CONTROLS.search(text):
        text = f"\u2068{text}\u2069"
    return f"'{text}'"


def _stage(name: Any) -> str:
    """A stage's name in a message, isolated in a right-to-left page."""
    return f"\u2068{name}\u2069" if i18n.direction() == "rtl" else str(name)


def money(amounts: dict[str, Decimal], currency: str = "") -> str:
    """``{"USD": Decimal("1500")}`` as ``USD 1,500.00``; several currencies joined;
    nothing as ``{currency} 0.00``."""
    if not amounts:
        return f"{currency} 0.00".strip()
    return " + ".join(f"{cur} {amount:,.2f}" for cur, amount in sorted(amounts.items()))


def column_totals(column: dict[str, Any], reporting_currency: str) -> list[dict[str, Any]]:
    """A column's total as ``[{"currency", "weighted", "value", "count"}, ...]``, the
    headline first.

    The one place a column's money is totalled. When crm_core converted every deal of
    the column to ``reporting_currency`` (``value_converted``/``weighted_converted``),
    the headline is that one converted figure (``"converted": True``) and the
    per-currency entries follow as its breakdown (left out when the column holds
    only the reporting currency). Otherwise (a rate is missing: never taken as 1)
    there is one entry per currency: the reporting currency first when the column has
    deals in it, then the currency with the most deals.
    """
    counts: dict[str, int] = column["counts"]

    def rank(cur: str) -> tuple[int, int, str]:
        return (cur != reporting_currency, -counts.get(cur, 0), cur)

    per_currency = [
        {
            "currency": cur,
            "weighted": column["weighted"][cur],
            "value": column["value"][cur],
            "count": counts.get(cur, 0),
        }
        for cur in sorted(column["value"], key=rank)
    ]
    value, weighted = column.get("value_converted"), column.get("weighted_converted")
    if value is None or weighted is None or not per_currency:
        return per_currency
    if set(column["value"]) == {reporting_currency}:
        return per_currency
    headline = {
        "currency": reporting_currency,
        "weighted": weighted,
        "value": value,
        "count": sum(counts.values()),
        "converted": True,
    }
    return [headline, *per_currency]


def month_range(month: str) -> tuple[dt.date, dt.date] | None:
    """First and last day of ``"YYYY-MM"``; None for ""; ValidationError otherwise."""
    month = (month or "").strip()
    if not month:
        return None
    found = _MONTH.match(month)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        reason = i18n._("must be a month written YYYY-MM, such as 2026-06")
        raise ValidationError([FieldError("pipeline board", "close_month", month, reason)])
    year, mon = int(found.group(1)), int(found.group(2))
    return dt.date(year, mon, 1), dt.date(year, mon, calendar.monthrange(year, mon)[1])


class PipelineBoardModel(ViewModel):
    """State and actions of the pipeline board.

    ``columns`` has one dict per open stage, in pipeline order: ``stage_id``,
    ``stage``, ``probability``, ``count`` (deals matching the filters), ``counts``,
    ``value`` and ``weighted`` (``{currency: ...}``; amounts as Decimals),
    ``value_converted`` and ``weighted_converted`` (their sum in the workspace
    currency; None when a rate is missing), ``unconverted`` (the currencies without a
    rate to it, sorted),
    ``cards`` (a
    DataFrame of at most ``page_size`` of those deals, soonest expected close first, the
    columns of ``ws.pipeline.search``), ``more`` (how many matching deals are not
    shown) and ``rev`` (a number that changes whenever the column is reloaded).
    """

    owner = param.String(default="", doc="Login whose deals to show; '' for everyone visible.")
    tag = param.String(default="", doc="Show only deals with this tag; '' for all.")
    close_month = param.String(
        default="", doc="Show only deals expected to close in this month, 'YYYY-MM'; '' for all."
    )
    show_closed = param.Boolean(default=False, doc="Also list the closed (won or lost) deals.")
    view: param.Selector = param.Selector(
        default="open",
        objects=["open", "closed"],
        doc="'closed': also list the closed deals (``show_closed`` as a word, for the URL).",
    )
    pipeline = param.Parameter(default=None, doc="Pipeline id or name; None for the first.")
    page_size = param.Integer(default=30, bounds=(1, 500), doc="Most cards shown per column.")
    columns = param.List(default=[], doc="One dict per open stage (see the class docstring).")
    lost_reasons = param.List(default=[], doc="The lost reasons a deal can be lost with.")
    users = param.List(default=[], doc="Active users as {'login', 'name'} for the owner filter.")
    closed = param.DataFrame(
        default=None,
        doc="The most recently closed deals (owner and tag filters applied), at most "
        "``page_size``; None while ``show_closed`` is off.",
    )
    error_form = param.String(
        default="",
        doc="Which form ``field_errors`` belong to: 'create:<stage id>', 'lose:<deal id>' "
        "or 'filters'.",
    )
    open_deal = param.Integer(
        default=None,
        allow_None=True,
        doc="The deal whose name was clicked last (see :meth:`open`); the app shows it.",
    )
    on_open = param.Callable(
        default=None, doc="Called with a deal id when its card's name is clicked; None: nothing."
    )

    def __init__(self, ws: Workspace, **params: Any):
        if params.get("view") == "closed":
            params["show_closed"] = True
        elif params.get("show_closed"):
            params["view"] = "closed"
        super().__init__(ws, **params)
        self._open_stages: pd.DataFrame | None = None
        self._rev = 0
        self.refresh()

    # -- reading ------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload everything: stages, users, lost reasons, totals and cards."""
        self._open_stages = None
        self.error_form = "filters"
        self.attempt(self._load)

    @param.depends("owner", "tag", "close_month", "page_size", "show_closed", watch=True)
    def _filtered(self) -> None:
        self.view = "closed" if self.show_closed else "open"
        self.error_form = "filters"
        self.attempt(self._load)

    @param.depends("view", watch=True)
    def _view_changed(self) -> None:
        self.show_closed = self.view == "closed"

    @param.depends("pipeline", watch=True)
    def _pipeline_changed(self) -> None:
        self.refresh()

    def _filters(self) -> dict[str, Any]:
        filters: dict[str, Any] = {"status": "open"}
        if self.owner:
            filters["owner"] = self.owner
        if self.tag.strip():
            filters["tag"] = self.tag.strip()
        bounds = month_range(self.close_month)
        if bounds is not None:
            filters["close_from"], filters["close_to"] = bounds
        if self.pipeline is not None:
            filters["pipeline"] = self.pipeline
        return filters

    def may_filter_owner(self, login: str) -> bool:
        """Whether the owner filter may name ``login``: a sales user sees only their
        own deals, so the staff app ignores any other owner in their address (such as
        ``#/pipeline?owner=olga``) and shows their own board. (Set here, another owner
        only narrows: an empty board, never someone else's deals.)"""
        return self.ws.role != "sales" or login in ("", self.ws.login)

    def _reference(self) -> pd.DataFrame:
        """The open stages; with them (once per refresh) the users and lost reasons."""
        if self._open_stages is None:
            ws, pipeline = self.ws, self.ws.pipeline
            stages = shared(ws, "stages", self.pipeline, lambda: pipeline.stages(self.pipeline))
            users = shared(ws, "users", None, ws.users.list)
            users = users[users["active"].astype(bool)]
            self.param.update(
                lost_reasons=shared(ws, "lost_reasons", None, pipeline.lost_reasons),
                users=[{"login": u.login, "name": u.name} for u in users.itertuples()],
            )
            self._open_stages = stages[~stages["is_won"] & ~stages["is_lost"]]
        return self._open_stages

    def _load(self) -> bool:
        stages = self._reference()
        filters = self._filters()
        totals = self._totals(filters)
        columns = [self._column(stage, totals, filters) for stage in stages.itertuples()]
        self.param.update(columns=columns, closed=self._closed(filters))
        return True

    def _totals(self, filters: dict[str, Any]) -> pd.DataFrame:
        """The columns' counts and sums, in each currency and converted to the
        reporting currency (the workspace's): what every manager's board (and every
        board with the same filters) asks for, so computed once per change and shared."""
        reporting = self.ws.setting("currency")
        args = (reporting, *sorted((k, str(v)) for k, v in filters.items()))
        return shared(
            self.ws,
            "stage_totals",
            args,
            lambda: self.ws.pipeline.stage_totals(reporting=reporting, **filters),
        )

    def _column(self, stage: Any, totals: pd.DataFrame, filters: dict[str, Any]) -> dict:
        stage_id = int(stage.id)
        rows = totals[totals["stage_id"] == stage_id]
        counts = {c: int(n) for c, n in zip(rows["currency"], rows["count"], strict=True)}
        count = sum(counts.values())
        if count:
            cards = self.ws.pipeline.search(stage=stage_id, limit=self.page_size, **filters)
        else:  # nothing to ask the database for
            cards = pd.DataFrame(columns=OPP_COLUMNS)
        self._rev += 1
        return {
            "stage_id": stage_id,
            "stage": stage.name,
            "probability": stage.probability,
            "count": count,
            "counts": counts,
            "value": dict(zip(rows["currency"], rows["value"], strict=True)),
            "weighted": dict(zip(rows["currency"], rows["weighted"], strict=True)),
            "value_converted": total(list(rows["value_converted"])),
            "weighted_converted": total(list(rows["weighted_converted"])),
            # the currencies of the column without a rate to the reporting currency
            "unconverted": sorted(
                {
                    c
                    for c, x in zip(rows["currency"], rows["value_converted"], strict=True)
                    if x is None
                }
            ),
            "cards": cards.reset_index(drop=True),
            "more": max(count - len(cards), 0),
            "rev": self._rev,
        }

    def _closed(self, filters: dict[str, Any]) -> pd.DataFrame | None:
        if not self.show_closed:
            return None
        wanted = {k: v for k, v in filters.items() if k in ("owner", "tag", "pipeline")}
        return self.ws.pipeline.search(
            status="closed", order_by="closed", limit=self.page_size, **wanted
        )

    def _reload(self, stage_ids: set[int], closed: bool) -> bool:
        """Reload the columns of ``stage_ids`` (and the closed list); keep the others."""
        stages = self._reference()
        filters = self._filters()
        columns = list(self.columns)
        for index, stage in enumerate(stages.itertuples()):
            if int(stage.id) in stage_ids:
                totals = self._totals({**filters, "stage": int(stage.id)})
                columns[index] = self._column(stage, totals, filters)
        update: dict[str, Any] = {"columns": columns}
        if closed:
            update["closed"] = self._closed(filters)
        self.param.update(**update)
        return True

    def card(self, deal_id: int) -> dict[str, Any] | None:
        """The shown card of a deal as a dict (with its column's ``stage_id``), or None."""
        for column in self.columns:
            cards = column["cards"]
            found = cards[cards["id"] == deal_id]
            if len(found):
                return {**found.iloc[0].to_dict(), "stage_id": column["stage_id"]}
        return None

    def _shown(self, deal_id: int) -> dict[str, Any]:
        """The deal as the user saw it: its card, or (not shown) as stored now."""
        card = self.card(deal_id)
        if card is not None:
            return card
        return self.ws.pipeline.get(deal_id)  # crm_core checks the user may see it

    # -- acting -------------------------------------------------------------------
    def _change(
        self,
        write: Callable[[], dict[str, Any]],
        done: Callable[[dict], str],
        deal_id: int | None = None,
        form: str = "",
    ) -> Any:
        """Run ``write``; on success reload only the columns the deal left and entered
        (and the closed list when it is shown), on a refusal the whole board (what is
        shown may be out of date); keep the outcome message."""
        self.error_form = form
        source = self.card(deal_id) if deal_id is not None else None
        result = self.attempt(write)
        if result is not None:
            self._say(done(result), "success")
        outcome = {
            "message": self.message,
            "message_kind": self.message_kind,
            "field_errors": self.field_errors,
        }
        if result is None:
            reloaded = self.attempt(self._load)
        else:
            touched = {int(result["stage_id"])}
            if source is not None:
                touched.add(int(source["stage_id"]))
            reloaded = self.attempt(lambda: self._reload(touched, closed=self.show_closed))
        if reloaded:
            self.param.update(**outcome)
        return result

    def move(self, deal_id: int, stage: Any, expected_version: int | None = None) -> Any:
        """Move a deal to ``stage`` (id or name), as a drag and drop does. Moving to the
        won stage wins it; the lost stage needs :meth:`lose`. With ``expected_version``
        (the version the user saw) a deal changed meanwhile is not moved and
        ``message`` says so."""
        return self._change(
            lambda: self.ws.pipeline.move(deal_id, stage, expected_version=expected_version),
            self._moved,
            deal_id,
        )

    @staticmethod
    def _moved(deal: dict[str, Any]) -> str:
        return i18n._("Moved {name} to {stage}.").format(
            name=quoted(deal["name"]), stage=_stage(deal["stage"])
        )

    def forward(self, deal_id: int) -> Any:
        """Move a deal to the next open stage."""
        return self._step(deal_id, +1)

    def back(self, deal_id: int) -> Any:
        """Move a deal to the previous open stage."""
        return self._step(deal_id, -1)

    def _step(self, deal_id: int, offset: int) -> Any:
        def write() -> dict[str, Any]:
            deal = self._shown(deal_id)
            order = [c["stage_id"] for c in self.columns]
            record = f"opportunity #{deal_id} {quoted(deal['name'])}"
            if deal["stage_id"] not in order:
                reason = i18n._("is not in an open stage of this board; reopen it first")
                raise ValidationError([FieldError(record, "stage", deal.get("stage"), reason)])
            index = order.index(deal["stage_id"]) + offset
            if not 0 <= index < len(order):
                if offset < 0:
                    reason = i18n._(
                        "is already in the first open stage; use Won or Lost to close it"
                    )
                else:
                    reason = i18n._(
                        "is already in the last open stage; use Won or Lost to close it"
                    )
                raise ValidationError([FieldError(record, "stage", deal.get("stage"), reason)])
            return self.ws.pipeline.move(
                deal_id, order[index], expected_version=int(deal["version"])
            )

        return self._change(write, self._moved, deal_id)

    def win(self, deal_id: int, expected_version: int | None = None) -> Any:
        """Mark a deal won (default version check: the version on its card). The view
        asks for a confirmation first."""

        def write() -> dict[str, Any]:
            version = expected_version
            if version is None:
                version = int(self._shown(deal_id)["version"])
            return self.ws.pipeline.win(deal_id, expected_version=version)

        return self._change(
            write, lambda d: i18n._("Won {name}.").format(name=quoted(d["name"])), deal_id
        )

    def reopen(self, deal_id: int, expected_version: int | None = None) -> Any:
        """Reopen a won or lost deal in the first stage (default version check: the
        version it is listed with among the closed deals)."""

        def write() -> dict[str, Any]:
            version = expected_version
            if version is None and self.closed is not None:
                listed = self.closed[self.closed["id"] == deal_id]
                version = int(listed["version"].iloc[0]) if len(listed) else None
            return self.ws.pipeline.reopen(deal_id, expected_version=version)

        return self._change(
            write,
            lambda d: i18n._("Reopened {name} in {stage}.").format(
                name=quoted(d["name"]), stage=_stage(d["stage"])
            ),
        )

    def lose(
        self,
        deal_id: int,
        reason: str | None,
        expected_version: int | None = None,
        note: str | None = None,
    ) -> Any:
        """Mark a deal lost with ``reason`` (required; one of ``lost_reasons`` or a new
        one) and an optional ``note``; a refusal names the field, for the form
        ``lose:<deal_id>``."""

        def write() -> dict[str, Any]:
            version = expected_version
            if version is None:
                version = int(self._shown(deal_id)["version"])
            # a missing or empty reason is refused by crm_core, with the field named
            return self.ws.pipeline.lose(deal_id, reason, note=note, expected_version=version)

        return self._change(
            write,
            lambda d: i18n._("Lost {name}: {reason}.").format(
                name=quoted(d["name"]), reason=d["lost_reason"]
            ),
            deal_id,
            f"lose:{deal_id}",
        )

    def create(
        self,
        stage: int,
        name: str,
        expected_revenue: Any = None,
        expected_close: Any = None,
        **values: Any,
    ) -> Any:
        """Quick-create a deal in the column of ``stage`` (an open stage's id), owned by
        the acting user; empty fields are left to their defaults. A refused value is
        reported per field for the form ``create:<stage>``."""
        given = {"expected_revenue": expected_revenue, "expected_close": expected_close}
        given = {k: v for k, v in {**given, **values}.items() if v not in (None, "")}
        return self._change(
            lambda: self.ws.pipeline.create(name, stage=stage, pipeline=self.pipeline, **given),
            lambda d: i18n._("Created {name} in {stage}.").format(
                name=quoted(d["name"]), stage=_stage(d["stage"])
            ),
            form=f"create:{stage}",
        )

    def open(self, deal_id: int) -> None:
        """Ask the app to show a deal: sets ``open_deal`` (again, if it is the same
        deal) and calls ``on_open``."""
        if self.open_deal == deal_id:
            self.param.trigger("open_deal")
        else:
            self.open_deal = deal_id
        if self.on_open is not None:
            self.on_open(deal_id)


# The view lives in widgets.board_view, which imports this module. It is imported with
# this module, not on first use: a page learns the types of Panel's ReactiveHTML
# elements when it is first sent (Bokeh's document "defs"), not when an element is
# added to it later, so the board's element type must exist before the staff app's
# first page goes out (the app imports its pages' modules when a session starts).
import widgets.board_view  # noqa: E402


def __getattr__(name: str) -> Any:
    # ``from widgets.pipeline_board import PipelineBoard``, as the staff app does
    if name == "PipelineBoard":
        return widgets.board_view.PipelineBoard
    raise AttributeError(name)
