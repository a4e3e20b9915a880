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
from collections.abc import Sequence
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
    Title,
)
from bokeh.plotting import figure

from crm_core import Workspace
from widgets import design
from widgets.base import ComponentView, ViewModel, message_alert
from widgets.chart_numbers import hover_number, tick_formatter
from widgets.i18n import _, format_amount, format_number, format_percent

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
    return "\n".join(format_amount(amount, cur) for cur, amount in sorted(amounts.items()))


def converted_money(figures: dict[str, Any], key: str) -> str:
    """A money figure as one amount in the reporting currency when crm_core could
    convert it (``<key>_converted``), else every currency on a line of its own."""
    amount = figures.get(f"{key}_converted")
    if amount is None:
        return money(figures.get(key, {}))
    return money({figures["reporting_currency"]: amount})


def figure_details(figures: dict[str, Any], key: str) -> tuple[list[str], str]:
    """What a money card shows on demand: its per-currency amounts (``[]`` when the
    card already lists them, or they are the one reporting-currency amount), and the
    note naming the missing exchange rates ('' when none is)."""
    missing = figures.get("missing_rates") or ""
    note = _("Not converted: {missing}").format(missing=missing) if missing else ""
    amounts = figures.get(key, {})
    converted = figures.get(f"{key}_converted")
    reporting = figures.get("reporting_currency")
    if converted is None or set(amounts) <= {reporting}:
        return [], note
    return money(amounts).split("\n"), note


def figure_cards(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The headline figures as ``(key, label, text)`` cards, in display order. The
    money cards show one figure in the reporting currency first when crm_core could
    convert every amount (:func:`figure_details` gives the per-currency amounts)."""
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
        ("pipeline_value", _("Pipeline value"), converted_money(figures, "pipeline_value")),
        (
            "weighted_pipeline",
            _("Weighted pipeline"),
            converted_money(figures, "weighted_pipeline"),
        ),
        ("win_rate", _("Win rate"), win_rate),
        ("activities_done", _("Activities done"), format_number(figures.get("activities_done", 0))),
    ]


def _card_html(label: str, text: str, details: Sequence[str] = (), note: str = "") -> str:
    lines = "<br>".join(html.escape(line) for line in text.split("\n"))
    out = (
        f'<div class="crm-figure-label" style="opacity:0.75;font-size:0.9em">'
        f"{html.escape(label)}</div>"
        f'<div class="crm-figure-value" style="font-size:1.6em;font-weight:600">{lines}</div>'
    )
    if details:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in details)
        summary = html.escape(_("By currency"))
        out += (
            f'<details class="crm-figure-currencies"><summary>{summary}</summary>'
            f'<ul style="margin:0;padding-inline-start:1.2em">{items}</ul></details>'
        )
    if note:
        out += (
            f'<div class="crm-figure-note" style="font-size:0.85em;color:#8a5300">'
            f"{html.escape(note)}</div>"
        )
    return out


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
        default="",
        doc="The reporting currency: the money cards and charts convert every amount to it "
        "(default: the workspace's); where a rate is missing, the charts show this "
        "currency's own amounts only and the cards every currency, with the rate named.",
    )
    currencies = param.List(
        default=[], item_type=str, doc="Currencies to choose from: in use, and the workspace's."
    )
    figures = param.Dict(default={}, doc="The headline figures (see crm_core ws.metrics.headline).")
    funnel = param.DataFrame(
        default=None, doc="stage_id, stage, sequence, count, entered (ws.metrics.funnel)."
    )
    by_stage = param.DataFrame(
        default=None,
        doc="Open deals per stage: stage_id, stage, sequence, currency, count, value, "
        "weighted, value_converted, weighted_converted (ws.pipeline.by_stage).",
    )
    revenue = param.DataFrame(
        default=None,
        doc="month, currency, revenue, won and their *_converted (ws.metrics.revenue_by_month).",
    )

    def __init__(self, ws: Workspace, **params: Any):
        if "period_from" not in params and "period_to" not in params:
            today = ws.today()
            params["period_from"] = today - dt.timedelta(days=DEFAULT_DAYS - 1)
            params["period_to"] = today
        params.setdefault("currency", ws.setting("currency"))  # read once, not twice
        super().__init__(ws, **params)
        self.refresh()

    @param.depends("period_from", "period_to", "pipeline", "months", "currency", watch=True)
    def _changed(self) -> None:
        self.refresh()

    def refresh(self) -> bool:
        """Read the figures and every chart again. False if crm_core refused."""
        ws = self.ws

        period = (self.period_from, self.period_to)
        reporting = self.currency or ws.setting("currency")

        def read() -> dict[str, Any]:
            stages = ws.pipeline.stages(self.pipeline)
            closing = set(stages.loc[stages["is_won"] | stages["is_lost"], "id"])
            by_stage = ws.pipeline.by_stage(
                self.pipeline, include_closed=False, reporting=reporting
            )
            missing = by_stage.attrs.get("missing_rates", "")
            by_stage = by_stage[~by_stage["stage_id"].isin(closing)].reset_index(drop=True)
            by_stage.attrs.update(missing_rates=missing, reporting_currency=reporting)
            return {
                "figures": ws.metrics.headline(*period, currency=reporting),
                "funnel": ws.metrics.funnel(self.pipeline, *period),
                "by_stage": by_stage,
                # The period's months; the last ``months`` months when it has no bounds.
                "revenue": ws.metrics.revenue_by_month(
                    self.months, period_from=period[0], period_to=period[1], currency=reporting
                ),
            }

        data = self.attempt(read)
        if data is None:
            return False
        currencies = sorted(
            {c for c in data["by_stage"]["currency"] if isinstance(c, str)}
            | set(data["revenue"]["currency"])
            | {ws.setting("currency"), reporting}
        )
        self.param.update(currencies=currencies, currency=reporting, **data)
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


def converted_by_stage(by_stage: pd.DataFrame) -> pd.DataFrame | None:
    """One row per stage with every currency converted and added up (``value``,
    ``weighted``, ``count``: all its deals); None when a rate is missing (or the frame
    has no converted columns): then nothing is added up."""
    if "value_converted" not in by_stage or by_stage["value_converted"].isna().any():
        return None
    return _stage_totals(by_stage)


def _stage_totals(by_stage: pd.DataFrame) -> pd.DataFrame:
    frame = by_stage.assign(
        value=by_stage["value_converted"], weighted=by_stage["weighted_converted"]
    )
    return (
        frame.groupby(["stage", "sequence"], as_index=False, sort=False)
        .agg({"count": "sum", "value": "sum", "weighted": "sum"})
        .assign(currency="")
    )


def unconverted_by_stage(by_stage: pd.DataFrame) -> dict[str, list[str]]:
    """Stage -> the currencies of its deals that no rate converts (stages whose every
    deal converts are not listed)."""
    if "value_converted" not in by_stage:
        return {}
    missing: dict[str, list[str]] = {}
    for row in by_stage[by_stage["value_converted"].isna()].itertuples():
        names = missing.setdefault(str(row.stage), [])
        if str(row.currency) not in names:
            names.append(str(row.currency))
    return missing


def by_stage_figure(by_stage: pd.DataFrame | None, currency: str) -> Any:
    """Bars of the open pipeline's value per stage, converted to ``currency``: every
    deal crm_core could convert is added up in it; a deal in a currency with no rate to
    ``currency`` is left out of its stage's bar, and the chart says which currencies
    were (as the board and the money cards do). Without converted columns (an older
    frame): ``currency``'s own deals."""
    by_stage = _empty_frame(by_stage, ["stage", "sequence", "currency", "count", "value"])
    stages = list(dict.fromkeys(str(s) for s in by_stage.sort_values("sequence")["stage"]))
    # converted to another currency than the one asked for: not these amounts
    reporting = by_stage.attrs.get("reporting_currency") or currency
    has_converted = "value_converted" in by_stage and len(by_stage) > 0 and reporting == currency
    missing = unconverted_by_stage(by_stage) if has_converted else {}
    if has_converted:
        rows = _stage_totals(by_stage[by_stage["value_converted"].notna()])
    else:
        rows = by_stage[by_stage["currency"] == currency]
    value = {str(r.stage): float(r.value) for r in rows.itertuples()}
    weighted = {str(r.stage): float(r.weighted) for r in rows.itertuples()}
    count = {str(r.stage): int(r.count) for r in rows.itertuples()}
    title = (
        _("Open pipeline now, by stage (all in {currency})")
        if has_converted and not missing
        else _("Open pipeline now, by stage ({currency})")
    )
    currencies = sorted({c for names in missing.values() for c in names})
    note = (
        _("Not converted to {currency}: no rate for {missing}").format(
            currency=currency, missing=", ".join(currencies)
        )
        if currencies
        else ""
    )
    source = ColumnDataSource(
        {
            "stage": stages,
            "value": [value.get(s, 0.0) for s in stages],
            "weighted": [weighted.get(s, 0.0) for s in stages],
            "count": [count.get(s, 0) for s in stages],
            # the currencies left out of the stage's bar ('' when none is)
            "unconverted": [", ".join(missing.get(s, [])) for s in stages],
        }
    )
    fig = figure(
        title=title.format(currency=currency),
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
                *([(_("Not converted"), "@unconverted")] if note else []),
            ],
            formatters={"@value": hover_number(), "@weighted": hover_number()},
        )
    )
    if note:  # on the chart, under it: which deals its bars leave out
        fig.add_layout(
            Title(
                text=note,
                text_color="#8a5300",
                text_font=design.FONT_STACK,
                text_font_style="normal",
                name="crm-note",
            ),
            "below",
        )
    fig.y_range.start = 0
    fig.yaxis.formatter = tick_formatter()
    fig.xgrid.grid_line_color = None
    return _lettered(fig)


def converted_revenue(revenue: pd.DataFrame) -> pd.DataFrame | None:
    """One row per month, every currency converted and added up; None when a rate is
    missing (or the frame has no converted columns)."""
    columns = ["revenue_converted", "won_converted"]
    if any(c not in revenue for c in columns) or revenue[columns].isna().any().any():
        return None
    frame = revenue.assign(revenue=revenue["revenue_converted"], won=revenue["won_converted"])
    return frame.groupby("month", as_index=False, sort=False).agg({"revenue": "sum", "won": "sum"})


def revenue_figure(revenue: pd.DataFrame | None, currency: str) -> Any:
    """Bars per month: invoiced (ERP) beside won deals' revenue, every currency
    converted to ``currency`` when crm_core could convert them all, else
    ``currency``'s own amounts."""
    revenue = _empty_frame(revenue, ["month", "currency", "revenue", "won"])
    converted = converted_revenue(revenue) if len(revenue) else None
    rows = converted if converted is not None else revenue[revenue["currency"] == currency]
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
        title=(
            _("Revenue by month (all in {currency}): invoiced and won")
            if converted is not None
            else _("Revenue by month ({currency}): invoiced and won")
        ).format(currency=currency),
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
        )  # the reporting currency: cards and charts are converted to it

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
        def details(key: str) -> tuple[list[str], str]:
            if key in ("pipeline_value", "weighted_pipeline"):
                return figure_details(figures, key)
            return [], ""

        return [
            pn.pane.HTML(
                _card_html(label, text, *details(key)),
                css_classes=["crm-figure", f"crm-figure-{key.replace('_', '-')}"],
                styles={"border": "1px solid #ddd", "border-radius": "6px", "padding": "4px 12px"},
                min_width=200,
            )
            for key, label, text in figure_cards(figures)
        ]
