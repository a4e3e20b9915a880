"""The dashboard: headline figures (pipeline value, weighted pipeline, win rate,
activities done) and three charts (funnel, pipeline by stage, revenue by month), all
computed by crm_core (``ws.metrics``, ``ws.pipeline.by_stage``).

:class:`DashboardModel` holds the period, the figures and the chart data (tested
without a browser); :class:`Dashboard` lays them out. ``Dashboard(ws.as_user("bilal"))``
shows Bilal's figures: crm_core counts only a sales user's own deals and activities.
Stage names come from the database (and from an ERP): the charts draw them as text
and every HTML pane escapes what it shows.
"""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal
from typing import Any

import pandas as pd
import panel as pn
import param
from bokeh.models import (
    AdaptiveTicker,
    ColumnDataSource,
    FactorRange,
    HoverTool,
)
from bokeh.plotting import figure

from crm_core import Workspace
from widgets import design
from widgets.base import ComponentView, ViewModel, message_alert
from widgets.chart_numbers import hover_number, tick_formatter
from widgets.i18n import _, format_number, format_percent

#: The default period: the last 90 days, today included.
DEFAULT_DAYS = 90
_BAR = "#1f6f8b"
_WON = "#7fb069"


def money(amounts: dict[str, Decimal]) -> str:
    """``{"PKR": Decimal("1500000")}`` as ``PKR 1,500,000.00`` (the digits grouped as
    the session's locale does: ``PKR 15,00,000.00`` in Bengali); currencies on one line
    each (amounts in different currencies are never added up)."""
    if not amounts:
        return format_number(0, 2)
    return "\n".join(f"{cur} {format_number(amount, 2)}" for cur, amount in sorted(amounts.items()))


def figure_cards(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The headline figures as ``(key, label, text)`` cards, in display order."""
    if not figures:
        return []
    rate = figures.get("win_rate")
    won, lost = figures.get("won", 0), figures.get("lost", 0)
    win_rate = (
        _("{rate} ({won} won, {lost} lost)").format(
            rate=format_percent(rate), won=format_number(won), lost=format_number(lost)
        )
        if rate is not None
        else _("no deal closed")
    )
    return [
        ("pipeline_value", _("Pipeline value"), money(figures.get("pipeline_value", {}))),
        ("weighted_pipeline", _("Weighted pipeline"), money(figures.get("weighted_pipeline", {}))),
        ("win_rate", _("Win rate"), win_rate),
        ("activities_done", _("Activities done"), format_number(figures.get("activities_done", 0))),
    ]


def _card_html(label: str, text: str) -> str:
    lines = "<br>".join(html.escape(line) for line in text.split("\n"))
    return (
        f'<div class="crm-figure-label" style="opacity:0.75;font-size:0.9em">'
        f"{html.escape(label)}</div>"
        f'<div class="crm-figure-value" style="font-size:1.6em;font-weight:600">{lines}</div>'
    )


class DashboardModel(ViewModel):
    """The dashboard's state: the period, the figures and the chart data.

    The period (From/To) sets the headline figures, the funnel (deals created in it)
    and the revenue chart (its months); the by-stage chart is the open pipeline as it
    is now. Every change of the period, pipeline or months reads them again, a change
    of currency redraws; :meth:`refresh` reads everything again (after others' changes).
    """

    period_from = param.CalendarDate(
        default=None, allow_None=True, doc="First day of the period (None: no lower bound)."
    )
    period_to = param.CalendarDate(
        default=None, allow_None=True, doc="Last day of the period, included (None: no bound)."
    )
    pipeline = param.Parameter(
        default=None, doc="Pipeline (id or name) of the funnel and by-stage charts; None: first."
    )
    months = param.Integer(default=12, bounds=(1, 120), doc="Months in the revenue chart.")
    currency = param.String(
        default="", doc="Currency of the money charts (figures show every currency)."
    )
    currencies = param.List(default=[], item_type=str, doc="Currencies with chart data.")
    figures = param.Dict(default={}, doc="The headline figures (see crm_core ws.metrics.headline).")
    funnel = param.DataFrame(
        default=None, doc="stage_id, stage, sequence, count, entered (ws.metrics.funnel)."
    )
    by_stage = param.DataFrame(
        default=None,
        doc="Open deals per stage: stage_id, stage, sequence, currency, count, value, weighted.",
    )
    revenue = param.DataFrame(
        default=None, doc="month, currency, revenue, won (ws.metrics.revenue_by_month)."
    )

    def __init__(self, ws: Workspace, **params: Any):
        if "period_from" not in params and "period_to" not in params:
            today = ws.today()
            params["period_from"] = today - dt.timedelta(days=DEFAULT_DAYS - 1)
            params["period_to"] = today
        super().__init__(ws, **params)
        self.refresh()

    @param.depends("period_from", "period_to", "pipeline", "months", watch=True)
    def _changed(self) -> None:
        self.refresh()

    def refresh(self) -> bool:
        """Read the figures and every chart again. False if crm_core refused."""
        ws = self.ws

        period = (self.period_from, self.period_to)

        def read() -> dict[str, Any]:
            stages = ws.pipeline.stages(self.pipeline)
            closing = set(stages.loc[stages["is_won"] | stages["is_lost"], "id"])
            by_stage = ws.pipeline.by_stage(self.pipeline, include_closed=False)
            by_stage = by_stage[~by_stage["stage_id"].isin(closing)].reset_index(drop=True)
            return {
                "figures": ws.metrics.headline(*period),
                "funnel": ws.metrics.funnel(self.pipeline, *period),
                "by_stage": by_stage,
                # The period's months; the last ``months`` months when it has no bounds.
                "revenue": ws.metrics.revenue_by_month(
                    self.months, period_from=period[0], period_to=period[1]
                ),
            }

        data = self.attempt(read)
        if data is None:
            return False
        currencies = sorted(
            {c for c in data["by_stage"]["currency"] if isinstance(c, str)}
            | set(data["revenue"]["currency"])
        )
        currency = self.currency if self.currency in currencies else ""
        if not currency:
            default = ws.setting("currency")
            currency = default if default in currencies or not currencies else currencies[0]
        self.param.update(currencies=currencies, currency=currency, **data)
        return True


# -- charts ------------------------------------------------------------------------------------
def _empty_frame(frame: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame:
    return frame if frame is not None else pd.DataFrame(columns=columns)


def funnel_figure(funnel: pd.DataFrame | None) -> Any:
    """Horizontal bars, first stage on top: deals that reached each stage."""
    funnel = _empty_frame(funnel, ["stage", "count", "entered"])
    stages = [str(s) for s in funnel["stage"]]
    source = ColumnDataSource(
        {
            "stage": stages,
            "count": [int(n) for n in funnel["count"]],
            "entered": [int(n) for n in funnel["entered"]],
        }
    )
    fig = figure(
        title=_("Funnel of the deals created in the period"),
        y_range=FactorRange(factors=list(reversed(stages))),
        height=300,
        sizing_mode="stretch_width",
        toolbar_location=None,
        tools="",
    )
    fig.hbar(y="stage", right="count", height=0.7, source=source, color=_BAR)
    fig.add_tools(
        HoverTool(
            tooltips=[(_("Stage"), "@stage"), (_("Reached"), "@count"), (_("Entered"), "@entered")]
        )
    )
    fig.x_range.start = 0
    fig.xaxis.ticker = AdaptiveTicker(min_interval=1)  # whole deals
    fig.xaxis.axis_label = _("deals")
    fig.ygrid.grid_line_color = None
    return _lettered(fig)


def by_stage_figure(by_stage: pd.DataFrame | None, currency: str) -> Any:
    """Bars of the open pipeline's value per stage, in ``currency``."""
    by_stage = _empty_frame(by_stage, ["stage", "sequence", "currency", "count", "value"])
    stages = list(dict.fromkeys(str(s) for s in by_stage.sort_values("sequence")["stage"]))
    rows = by_stage[by_stage["currency"] == currency]
    value = {str(r.stage): float(r.value) for r in rows.itertuples()}
    weighted = {str(r.stage): float(r.weighted) for r in rows.itertuples()}
    count = {str(r.stage): int(r.count) for r in rows.itertuples()}
    source = ColumnDataSource(
        {
            "stage": stages,
            "value": [value.get(s, 0.0) for s in stages],
            "weighted": [weighted.get(s, 0.0) for s in stages],
            "count": [count.get(s, 0) for s in stages],
        }
    )
    fig = figure(
        title=_("Open pipeline now, by stage ({currency})").format(currency=currency),
        x_range=FactorRange(factors=stages),
        height=300,
        sizing_mode="stretch_width",
        toolbar_location=None,
        tools="",
    )
    fig.vbar(x="stage", top="value", width=0.7, source=source, color=_BAR)
    fig.add_tools(
        HoverTool(
            tooltips=[
                (_("Stage"), "@stage"),
                (_("Deals"), "@count"),
                (_("Value"), "@value{custom}"),
                (_("Weighted"), "@weighted{custom}"),
            ],
            formatters={"@value": hover_number(), "@weighted": hover_number()},
        )
    )
    fig.y_range.start = 0
    fig.yaxis.formatter = tick_formatter()
    fig.xgrid.grid_line_color = None
    return _lettered(fig)


def revenue_figure(revenue: pd.DataFrame | None, currency: str) -> Any:
    """Bars per month, in ``currency``: invoiced (ERP) beside won deals' revenue."""
    revenue = _empty_frame(revenue, ["month", "currency", "revenue", "won"])
    rows = revenue[revenue["currency"] == currency]
    months = [str(m) for m in rows["month"]]
    series = ((_("invoiced"), "revenue", _BAR), (_("won"), "won", _WON))
    factors = [(m, name) for m in months for name, _col, _color in series]
    amounts = [float(getattr(r, col)) for r in rows.itertuples() for _n, col, _c in series]
    colors = [color for _m in months for _n, _col, color in series]
    source = ColumnDataSource(
        {
            "x": factors,
            "amount": amounts,
            "color": colors,
            "month": [m for m, _ in factors],
            "series": [s for _, s in factors],
        }
    )
    fig = figure(
        title=_("Revenue by month ({currency}): invoiced and won").format(currency=currency),
        x_range=FactorRange(*factors),
        height=300,
        sizing_mode="stretch_width",
        toolbar_location=None,
        tools="",
    )
    fig.vbar(x="x", top="amount", width=0.8, color="color", source=source)
    fig.add_tools(
        HoverTool(
            tooltips=[(_("Month"), "@month"), ("", "@series"), (_("Amount"), "@amount{custom}")],
            formatters={"@amount": hover_number()},
        )
    )
    fig.y_range.start = 0
    fig.yaxis.formatter = tick_formatter()
    fig.xaxis.major_label_orientation = 1.0
    fig.xgrid.grid_line_color = None
    return _lettered(fig)


def _lettered(fig: Any) -> Any:
    """The chart's texts (stage names in any script) in the app's fonts."""
    fig.title.text_font = design.FONT_STACK
    for axis in (*fig.xaxis, *fig.yaxis):
        axis.major_label_text_font = design.FONT_STACK
        axis.axis_label_text_font = design.FONT_STACK
    return fig


class Dashboard(ComponentView):
    """The dashboard: ``Dashboard(ws)`` in a notebook or the staff app."""

    model = param.ClassSelector(class_=DashboardModel, doc="The dashboard's view-model.")

    model_class = DashboardModel

    def _build(self) -> pn.Column:
        model = self.model
        currency = pn.widgets.Select.from_param(
            model.param.currency,
            name=_("Currency"),
            options=model.currencies,
            width=100,
            visible=len(model.currencies) > 1,
        )

        def currencies_changed(event: param.parameterized.Event) -> None:
            currency.options = event.new
            currency.visible = len(event.new) > 1

        model.param.watch(currencies_changed, "currencies")
        controls = pn.Row(
            pn.widgets.DatePicker.from_param(model.param.period_from, name=_("From"), width=150),
            pn.widgets.DatePicker.from_param(model.param.period_to, name=_("To"), width=150),
            currency,
            pn.widgets.Button(
                label="↻",
                width=40,
                align="end",
                css_classes=["crm-dashboard-refresh"],
                on_click=lambda _: model.refresh(),
            ),
            css_classes=["crm-dashboard-controls"],
        )
        alert = message_alert(model)
        cards = pn.Row(*self._cards(model.figures), css_classes=["crm-figures"])
        model.param.watch(lambda e: setattr(cards, "objects", self._cards(e.new)), "figures")
        funnel = pn.pane.Bokeh(
            funnel_figure(model.funnel),
            css_classes=["crm-chart-funnel"],
            sizing_mode="stretch_width",
        )
        stages = pn.pane.Bokeh(
            by_stage_figure(model.by_stage, model.currency),
            css_classes=["crm-chart-by-stage"],
            sizing_mode="stretch_width",
        )
        revenue = pn.pane.Bokeh(
            revenue_figure(model.revenue, model.currency),
            css_classes=["crm-chart-revenue"],
            sizing_mode="stretch_width",
        )

        def redraw(*events: param.parameterized.Event) -> None:
            names = {e.name for e in events}
            if "funnel" in names:
                funnel.object = funnel_figure(model.funnel)
            if names & {"by_stage", "currency"}:
                stages.object = by_stage_figure(model.by_stage, model.currency)
            if names & {"revenue", "currency"}:
                revenue.object = revenue_figure(model.revenue, model.currency)

        model.param.watch(redraw, ["funnel", "by_stage", "revenue", "currency"])
        return pn.Column(
            controls,
            alert,
            cards,
            pn.Row(funnel, stages, sizing_mode="stretch_width"),
            revenue,
            sizing_mode="stretch_width",
            css_classes=["crm-dashboard"],
        )

    @staticmethod
    def _cards(figures: dict[str, Any]) -> list[pn.pane.HTML]:
        return [
            pn.pane.HTML(
                _card_html(label, text),
                css_classes=["crm-figure", f"crm-figure-{key.replace('_', '-')}"],
                styles={"border": "1px solid #ddd", "border-radius": "6px", "padding": "4px 12px"},
                min_width=200,
            )
            for key, label, text in figure_cards(figures)
        ]
