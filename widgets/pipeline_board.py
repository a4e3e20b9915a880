"""The pipeline board: a column per open stage with its count and weighted value,
cards that move forward and back, win, or lose with a reason; filters by owner, tag
and expected-close month.

:class:`PipelineBoardModel` holds the state and the actions (tested without a
browser); :class:`PipelineBoard` lays it out. ``PipelineBoard(ws.as_user("bilal"))``
shows Bilal's board: crm_core lets a sales user see and move only their own deals.
"""

from __future__ import annotations

import calendar
import datetime as dt
import html
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd
import panel as pn
import param

from crm_core import FieldError, ValidationError, Workspace
from widgets.base import ComponentView, ViewModel, message_alert

CENT = Decimal("0.01")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# Every ASCII punctuation character may be backslash-escaped in CommonMark; the HTML
# ones are left to html.escape so that the entities it writes stay entities.


def money(amounts: dict[str, Decimal], currency: str = "") -> str:
    """``{"USD": Decimal("1500")}`` as ``USD 1,500.00``; several currencies joined;
    nothing as ``{currency} 0.00``."""
    if not amounts:
        return f"{currency} 0.00".strip()
    return " + ".join(f"{cur} {amount:,.2f}" for cur, amount in sorted(amounts.items()))


def month_range(month: str) -> tuple[dt.date, dt.date] | None:
    """First and last day of ``"YYYY-MM"``; None for ""; ValidationError otherwise."""
    month = (month or "").strip()
    if not month:
        return None
    found = _MONTH.match(month)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        reason = "must be a month written YYYY-MM, such as 2026-06"
        raise ValidationError([FieldError("pipeline board", "close_month", month, reason)])
    year, mon = int(found.group(1)), int(found.group(2))
    return dt.date(year, mon, 1), dt.date(year, mon, calendar.monthrange(year, mon)[1])


def _sums(rows: pd.DataFrame) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Value and weighted value per currency of the deals in ``rows`` (exact Decimals)."""
    value: dict[str, Decimal] = {}
    weighted: dict[str, Decimal] = {}
    for cur, revenue, prob in zip(
        rows["currency"], rows["expected_revenue"], rows["probability"], strict=True
    ):
        revenue = Decimal(str(revenue))
        value[cur] = value.get(cur, Decimal(0)) + revenue
        weighted[cur] = weighted.get(cur, Decimal(0)) + revenue * Decimal(str(prob)) / 100
    return (
        {c: v.quantize(CENT) for c, v in value.items()},
        {c: w.quantize(CENT) for c, w in weighted.items()},
    )


class PipelineBoardModel(ViewModel):
    """State and actions of the pipeline board.

    ``columns`` has one dict per open stage, in pipeline order: ``stage_id``,
    ``stage``, ``probability``, ``count`` (deals matching the filters), ``value`` and
    ``weighted`` (``{currency: Decimal}``), ``cards`` (a DataFrame of at most
    ``page_size`` of those deals, soonest expected close first, the columns of
    ``ws.pipeline.search``) and ``more`` (how many matching deals are not shown).
    """

    owner = param.String(default="", doc="Login whose deals to show; '' for everyone visible.")
    tag = param.String(default="", doc="Show only deals with this tag; '' for all.")
    close_month = param.String(
        default="", doc="Show only deals expected to close in this month, 'YYYY-MM'; '' for all."
    )
    pipeline = param.Parameter(default=None, doc="Pipeline id or name; None for the first.")
    page_size = param.Integer(default=30, bounds=(1, 500), doc="Most cards shown per column.")
    columns = param.List(default=[], doc="One dict per open stage (see the class docstring).")
    lost_reasons = param.List(default=[], doc="The lost reasons a deal can be lost with.")
    users = param.List(default=[], doc="Active users as {'login', 'name'} for the owner filter.")
    show_closed = param.Boolean(default=False, doc="Also list the closed (won or lost) deals.")
    closed = param.DataFrame(
        default=None,
        doc="The most recently closed deals (owner and tag filters applied), at most "
        "``page_size``; None while ``show_closed`` is off.",
    )

    def __init__(self, ws: Workspace, **params: Any):
        super().__init__(ws, **params)
        self.refresh()

    # -- reading ------------------------------------------------------------------
    @param.depends(
        "owner", "tag", "close_month", "pipeline", "page_size", "show_closed", watch=True
    )
    def refresh(self) -> None:
        """Reload stages, totals and cards for the current filters."""
        self.attempt(self._load)

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

    def _load(self) -> bool:
        pipeline = self.ws.pipeline
        filters = self._filters()
        stages = pipeline.stages(self.pipeline)
        open_stages = stages[~stages["is_won"] & ~stages["is_lost"]]
        # by_stage aggregates in SQL but knows only the owner filter; with a tag or a
        # month the totals are summed from the matching deals themselves.
        narrowed = "tag" in filters or "close_from" in filters
        totals = None
        if not narrowed:
            totals = pipeline.by_stage(
                self.pipeline, owner=self.owner or None, include_closed=False
            )
        columns = []
        for stage in open_stages.itertuples():
            stage_id = int(stage.id)
            cards = pipeline.search(stage=stage_id, limit=self.page_size, **filters)
            if totals is not None:
                rows = totals[(totals["stage_id"] == stage_id) & (totals["count"] > 0)]
                count = int(rows["count"].sum())
                value = dict(zip(rows["currency"], rows["value"], strict=True))
                weighted = dict(zip(rows["currency"], rows["weighted"], strict=True))
            else:
                every = cards
                if len(cards) >= self.page_size:
                    total = pipeline.count(stage=stage_id, **filters)
                    every = pipeline.search(stage=stage_id, limit=max(total, 1), **filters)
                count = len(every)
                value, weighted = _sums(every)
            columns.append(
                {
                    "stage_id": stage_id,
                    "stage": stage.name,
                    "probability": stage.probability,
                    "count": count,
                    "value": value,
                    "weighted": weighted,
                    "cards": cards.reset_index(drop=True),
                    "more": max(count - len(cards), 0),
                }
            )
        closed = None
        if self.show_closed:
            wanted = {k: v for k, v in filters.items() if k in ("owner", "tag", "pipeline")}
            closed = pipeline.search(
                status="closed", order_by="closed", limit=self.page_size, **wanted
            )
        users = self.ws.users.list()
        users = users[users["active"].astype(bool)]
        self.param.update(
            closed=closed,
            columns=columns,
            lost_reasons=pipeline.lost_reasons(),
            users=[{"login": u.login, "name": u.name} for u in users.itertuples()],
        )
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
    def move(self, deal_id: int, stage: Any, expected_version: int | None = None) -> Any:
        """Move a deal to ``stage`` (id or name). Moving to the won stage wins it; the
        lost stage needs :meth:`lose`. With ``expected_version`` (the version the user
        saw) a deal changed meanwhile is not moved and ``message`` says so."""
        return self._act(
            lambda: self.ws.pipeline.move(deal_id, stage, expected_version=expected_version),
            lambda d: f"Moved {d['name']!r} to {d['stage']}.",
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
            record = f"opportunity #{deal_id} {deal['name']!r}"
            if deal["stage_id"] not in order:
                reason = "is not in an open stage of this board; reopen it first"
                raise ValidationError([FieldError(record, "stage", deal.get("stage"), reason)])
            index = order.index(deal["stage_id"]) + offset
            if not 0 <= index < len(order):
                where = "first" if offset < 0 else "last"
                reason = f"is already in the {where} open stage; use Won or Lost to close it"
                raise ValidationError([FieldError(record, "stage", deal.get("stage"), reason)])
            return self.ws.pipeline.move(
                deal_id, order[index], expected_version=int(deal["version"])
            )

        return self._act(write, lambda d: f"Moved {d['name']!r} to {d['stage']}.")

    def win(self, deal_id: int, expected_version: int | None = None) -> Any:
        """Mark a deal won (default version check: the version on its card)."""

        def write() -> dict[str, Any]:
            version = expected_version
            if version is None:
                version = int(self._shown(deal_id)["version"])
            return self.ws.pipeline.win(deal_id, expected_version=version)

        return self._act(write, lambda d: f"Won {d['name']!r}.")

    def reopen(self, deal_id: int, expected_version: int | None = None) -> Any:
        """Reopen a won or lost deal in the first stage (default version check: the
        version it is listed with among the closed deals)."""

        def write() -> dict[str, Any]:
            version = expected_version
            if version is None and self.closed is not None:
                listed = self.closed[self.closed["id"] == deal_id]
                version = int(listed["version"].iloc[0]) if len(listed) else None
            return self.ws.pipeline.reopen(deal_id, expected_version=version)

        return self._act(write, lambda d: f"Reopened {d['name']!r} in {d['stage']}.")

    def lose(
        self,
        deal_id: int,
        reason: str | None,
        expected_version: int | None = None,
        note: str | None = None,
    ) -> Any:
        """Mark a deal lost with ``reason`` (required; one of ``lost_reasons`` or a new
        one) and an optional ``note``."""

        def write() -> dict[str, Any]:
            version = expected_version
            if version is None:
                version = int(self._shown(deal_id)["version"])
            # a missing or empty reason is refused by crm_core, with the field named
            return self.ws.pipeline.lose(deal_id, reason, note=note, expected_version=version)

        return self._act(write, lambda d: f"Lost {d['name']!r}: {d['lost_reason']}.")


# -- the view -------------------------------------------------------------------------


def _card_html(card: dict[str, Any]) -> str:
    """The text of a card; every value is escaped (names are user data)."""
    close = card.get("expected_close")
    close_text = close.isoformat() if isinstance(close, dt.date) else "no close date"
    company = card.get("company")
    # A deal with no company has None, or NaN where pandas filled the column.
    company = company if isinstance(company, str) and company else None
    revenue = Decimal(str(card["expected_revenue"]))
    return (
        f'<div class="crm-card-name"><b>{html.escape(str(card["name"]))}</b></div>'
        f'<div class="crm-card-company">{html.escape(str(company)) if company else "—"}</div>'
        f'<div class="crm-card-value">{html.escape(str(card["currency"]))} {revenue:,.2f}'
        f" · {html.escape(close_text)}</div>"
    )


def _closed_html(deal: dict[str, Any]) -> str:
    """One closed deal's line: name, won or lost (with the reason), amount, owner."""
    status = "Won" if deal.get("status") == "won" else "Lost"
    reason = deal.get("lost_reason")
    if status == "Lost" and isinstance(reason, str) and reason:
        status = f"Lost: {reason}"
    revenue = Decimal(str(deal["expected_revenue"]))
    owner = deal.get("owner")
    parts = [
        f"<b>{html.escape(str(deal['name']))}</b>",
        html.escape(status),
        f"{html.escape(str(deal['currency']))} {revenue:,.2f}",
    ]
    if isinstance(owner, str) and owner:
        parts.append(html.escape(owner))
    return " · ".join(parts)


def _column_header(column: dict[str, Any], currency: str) -> str:
    deals = "deal" if column["count"] == 1 else "deals"
    weighted, value = money(column["weighted"], currency), money(column["value"], currency)
    return (
        f'<div class="crm-board-column-title"><b>{html.escape(column["stage"])}</b>'
        f" · {column['count']} {deals}</div>"
        f"<div>Weighted {html.escape(weighted)}</div>"
        f'<div style="opacity:0.7">of {html.escape(value)}</div>'
    )


class PipelineBoard(ComponentView):
    """The pipeline board: ``PipelineBoard(ws)`` in a notebook or the staff app."""

    model = param.ClassSelector(class_=PipelineBoardModel, doc="The board's view-model.")

    model_class = PipelineBoardModel

    def __panel__(self) -> pn.viewable.Viewable:
        model = self.model
        owners = {"Everyone": ""} | {u["name"]: u["login"] for u in model.users}
        filters = pn.Row(
            pn.widgets.Select.from_param(
                model.param.owner,
                name="Owner",
                options=owners,
                width=200,
                # a sales user sees only their own deals: nobody else to pick
                visible=model.ws.role != "sales",
            ),
            pn.widgets.TextInput.from_param(
                model.param.tag, name="Tag", placeholder="any tag", width=160
            ),
            pn.widgets.TextInput.from_param(
                model.param.close_month, name="Close month", placeholder="YYYY-MM", width=120
            ),
            pn.widgets.Checkbox.from_param(
                model.param.show_closed, name="Closed deals", align="end", width=120
            ),
            pn.widgets.Button(name="↻", width=40, align="end", on_click=lambda _: model.refresh()),
            css_classes=["crm-board-filters"],
        )
        alert = message_alert(model)
        board = pn.bind(self._board, model.param.columns, model.param.lost_reasons)
        closed = pn.bind(self._closed, model.param.closed)
        return pn.Column(
            filters,
            alert,
            pn.panel(board),
            pn.panel(closed),
            sizing_mode="stretch_width",
            css_classes=["crm-board"],
        )

    def _closed(self, closed: pd.DataFrame | None) -> pn.Column:
        """The closed deals, most recently closed first, each with Reopen."""
        if closed is None:
            return pn.Column(visible=False)
        rows: list[Any] = [pn.pane.HTML("<b>Closed deals</b> (most recently closed first)")]
        if closed.empty:
            rows.append(pn.pane.HTML("<i>No closed deal.</i>"))
        for deal in closed.to_dict("records"):
            deal_id = int(deal["id"])
            reopen = pn.widgets.Button(
                name="Reopen", css_classes=["crm-closed-reopen"], width=80, margin=(2, 2)
            )
            reopen.on_click(lambda _, d=deal_id: self.model.reopen(d))
            rows.append(
                pn.Row(
                    pn.pane.HTML(_closed_html(deal), margin=(2, 5), width=680),
                    reopen,
                    css_classes=["crm-closed-deal", f"crm-closed-{deal_id}"],
                )
            )
        return pn.Column(*rows, css_classes=["crm-board-closed"])

    def _board(self, columns: list[dict[str, Any]], lost_reasons: list[str]) -> pn.Row:
        last = len(columns) - 1
        currency = self.model.ws.setting("currency")
        shown = []
        for index, column in enumerate(columns):
            cards = [
                self._card(card, index == 0, index == last, lost_reasons)
                for card in column["cards"].to_dict("records")
            ]
            if column["more"]:
                cards.append(pn.pane.HTML(f"<i>+ {column['more']} more</i>"))
            shown.append(
                pn.Column(
                    pn.pane.HTML(
                        _column_header(column, currency), css_classes=["crm-board-column-header"]
                    ),
                    *cards,
                    width=270,
                    css_classes=["crm-board-column", f"crm-board-column-{column['stage_id']}"],
                    styles={"background": "#f4f5f7", "border-radius": "6px"},
                )
            )
        return pn.Row(*shown, css_classes=["crm-board-columns"], scroll=True)

    def _card(
        self, card: dict[str, Any], first: bool, last: bool, lost_reasons: list[str]
    ) -> pn.Column:
        model, deal_id = self.model, int(card["id"])
        version = int(card["version"])

        def button(label: str, css: str, action: Callable[[], Any], **kw: Any) -> Any:
            return pn.widgets.Button(
                name=label,
                css_classes=[css],
                width=50,
                margin=(2, 2),
                on_click=lambda _: action(),
                **kw,
            )

        reason = pn.widgets.Select(
            options=lost_reasons, width=150, css_classes=["crm-card-lost-reason"]
        )
        confirm = pn.widgets.Button(
            name="Confirm lost", button_type="danger", css_classes=["crm-card-lost-confirm"]
        )
        confirm.on_click(lambda _: model.lose(deal_id, reason.value, expected_version=version))
        lost_box = pn.Row(reason, confirm, visible=False, css_classes=["crm-card-lost-box"])

        def open_lost() -> None:
            lost_box.visible = not lost_box.visible
            won_box.visible = False

        # Winning closes the deal: one more click to confirm, like losing.
        confirm_won = pn.widgets.Button(
            name="Confirm won", button_type="success", css_classes=["crm-card-won-confirm"]
        )
        confirm_won.on_click(lambda _: model.win(deal_id, expected_version=version))
        won_box = pn.Row(confirm_won, visible=False, css_classes=["crm-card-won-box"])

        def open_won() -> None:
            won_box.visible = not won_box.visible
            lost_box.visible = False

        return pn.Column(
            pn.pane.HTML(_card_html(card), margin=(2, 5)),
            pn.Row(
                button("◀", "crm-card-back", lambda: model.back(deal_id), disabled=first),
                button("▶", "crm-card-forward", lambda: model.forward(deal_id), disabled=last),
                button("Won", "crm-card-won", open_won, button_type="success"),
                button("Lost", "crm-card-lost", open_lost, button_type="danger"),
            ),
            won_box,
            lost_box,
            width=250,
            css_classes=["crm-card", f"crm-card-{deal_id}"],
            styles={"background": "white", "border": "1px solid #ddd", "border-radius": "4px"},
        )
