"""The Reports page: pick a report, set its filters, see its chart and table, and
download the same Excel workbook as ``ws.export.xlsx`` (one report or a layout).

:class:`ReportsModel` holds the chosen report, the filters, the last result and the
workbook being prepared (tested without a browser); :class:`ReportsPage` lays it out.
Every report in ``ws.reports.names()`` is offered, so a user's own report (a plugin
declared with :func:`crm_core.reports.report` or an entry point) shows here too.

The page acts through the logged-in user's workspace (``ws.as_user``): a sales user's
reports cover only their own deals, because crm_core scopes every report that way.
Report names, stage names and customers are data (some come from an ERP): the chart
draws them as text, the table uses Tabulator's plain formatters and every HTML pane
escapes what it shows.

The charts are crm_core's (:func:`crm_core.reports.charts.report_charts`), the same
the workbooks draw: the currency picker is the run's reporting currency (``currency=``
of ``ws.reports.run``), money charts are drawn on the converted amounts, or per
currency (the picked one) when exchange rates are missing, and the page says which.
"""

from __future__ import annotations

import datetime as dt
import html
import io
from typing import Any

import pandas as pd
import panel as pn
import param
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    HTMLTemplateFormatter,
    NumberFormatter,
)
from bokeh.plotting import figure

from crm_core import Workspace
from crm_core.errors import AccessDenied, ValidationError
from crm_core.reports import FILTERS, Chart, Column
from crm_core.reports import notes as report_notes
from crm_core.reports.base import currency_sources
from crm_core.reports.charts import ChartData, report_charts
from crm_core.reports.labels import column_label
from crm_core.reports.labels import title as report_title
from widgets import design
from widgets.base import ComponentView, message_alert
from widgets.chart_numbers import axis_formatter, hover_number
from widgets.i18n import _, current_language, format_amount_number, format_number, table_pager
from widgets.long_work import LongWorkModel

#: The ``workbook`` choice that exports only the selected report.
THIS_REPORT = "this report"
#: Rows per page of the table (the rest is sent to the browser page by page).
PAGE_SIZE = 50
#: Series colours of the charts, in order.
PALETTE = ("#1f6f8b", "#7fb069", "#e6aa68", "#ca3c25", "#6c5b7b", "#99b2dd")
#: Tabulator number formats per column kind (percent columns hold fractions 0..1);
#: money columns are written per row's currency instead (see :func:`amount_texts`).
NUMBER_FORMATS = {"percent": "0.0 %", "number": "0,0.[00]"}
#: The hidden column that holds a money column's amounts as written (``<name>__shown``).
SHOWN = "__shown"
#: The colour of the actual figure among forecasts.
ACTUAL_COLOR = "#222222"
_NUMERIC_KINDS = ("money", "percent", "number", "int")


class ReportsModel(LongWorkModel):
    """The Reports page's state: the report, its filters, its result and the workbook.

    Choosing a report or changing a filter runs the report again (:meth:`run`); only
    the filters the report accepts (``accepted``) are sent. :meth:`make_workbook`
    writes the workbook chosen in ``workbook`` with the same filters, reporting its
    progress; served by Panel it runs in a thread and ``workbook_data`` is set when it
    is ready.
    """

    report = param.Selector(default=None, objects=[], doc="Name of the selected report.")
    reports = param.Dict(default={}, doc="Report name -> title, every report (plugins too).")
    period_from = param.CalendarDate(
        default=None, allow_None=True, doc="First day of the period (None: no lower bound)."
    )
    period_to = param.CalendarDate(
        default=None, allow_None=True, doc="Last day of the period, included (None: no bound)."
    )
    owner = param.String(default="", doc="Login of the owner to report on ('' = everyone).")
    team = param.String(default="", doc="Sales team to report on ('' = every team).")
    tag = param.String(default="", doc="Tag the deals must carry ('' = any).")
    source = param.String(default="", doc="Source the deals came from ('' = any).")
    campaign = param.String(default="", doc="Campaign name of the deals ('' = any).")
    title = param.String(default="", doc="The selected report's title.")
    doc = param.String(default="", doc="The selected report's documentation (plain text).")
    accepted = param.List(default=[], item_type=str, doc="Filters the selected report accepts.")
    kinds = param.Dict(default={}, doc="Column name -> kind (text, int, money, percent, ...).")
    chart = param.ClassSelector(
        class_=Chart, default=None, allow_None=True, doc="How the report is drawn (None: no chart)."
    )
    charts = param.List(
        default=[],
        item_type=ChartData,
        doc="The report's charts as drawn (crm_core.reports.charts), left-out ones included.",
    )
    frame = param.DataFrame(default=None, doc="The result of the last run (the spec's columns).")
    currency = param.String(
        default="",
        doc="The reporting currency: passed as currency= to ws.reports.run ('' = the "
        "workspace's); also the currency drawn when amounts could not be converted.",
    )
    currencies = param.List(
        default=[], item_type=str, doc="Currencies to choose from (workspace, rates, result)."
    )
    missing_rates = param.String(
        default="", doc="The exchange rates the last run lacked, in words ('' = none)."
    )
    left_out = param.List(
        default=[],
        item_type=str,
        doc="The figures the last run left out and why, in the page's language "
        "(crm_core.reports.notes.left_out: a campaign's ROI, a forecast method).",
    )
    workbook = param.Selector(
        default=THIS_REPORT,
        objects=[THIS_REPORT],
        doc="What the download holds: 'this report' or a workbook layout's name.",
    )
    layouts = param.Dict(default={}, doc="Workbook layout name -> title (ws.export.layouts()).")
    workbook_data = param.Bytes(default=None, allow_None=True, doc="The last workbook made.")
    workbook_name = param.String(default="", doc="File name of the last workbook made.")

    def __init__(self, ws: Workspace, **params: Any):
        super().__init__(ws, **params)
        self._sheets = 1
        self._labels: list[str] = []
        if not self.currency:
            self.currency = ws.setting("currency")
        chosen = self.report
        self.refresh_choices()
        if self.report == chosen:  # unchanged, so no watcher ran: read the spec now
            self._report_changed()
        self.param.watch(self._filters_changed, list(FILTERS))
        self.param.watch(self._currency_changed, "currency")

    # -- choices ----------------------------------------------------------------------------
    def refresh_choices(self) -> None:
        """Read the reports (built-in and plugins) and the workbook layouts again."""
        names = self.ws.reports.names()
        reports = {name: self.ws.reports.spec(name).title for name in names}
        layouts = self.ws.export.layouts()
        self.param.report.objects = names
        self.param.workbook.objects = [THIS_REPORT, *layouts]
        report = self.report if self.report in names else self._default_report(names)
        workbook = self.workbook if self.workbook in layouts else THIS_REPORT
        self.param.update(reports=reports, layouts=layouts, report=report, workbook=workbook)

    @staticmethod
    def _default_report(names: list[str]) -> str | None:
        if "pipeline_by_stage" in names:
            return "pipeline_by_stage"
        return names[0] if names else None

    def filters(self) -> dict[str, Any]:
        """The filters set on the page that the selected report accepts (unset ones
        and those it does not take are left out)."""
        return {k: v for k, v in self._set_filters().items() if k in self.accepted}

    def _set_filters(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in FILTERS}
        return {k: v.strip() if isinstance(v, str) else v for k, v in values.items() if v}

    # -- running ----------------------------------------------------------------------------
    @param.depends("report", watch=True)
    def _report_changed(self) -> None:
        self.run()

    def _currency_changed(self, *_events: param.parameterized.Event) -> None:
        self.run()

    def _filters_changed(self, *events: param.parameterized.Event) -> None:
        # A filter the report does not take changes nothing it shows.
        if any(e.name in self.accepted for e in events):
            self.run()

    def run(self) -> bool:
        """Run the selected report with the filters it accepts and keep the result in
        ``frame`` (with the report's title, doc, columns and chart, set together so a
        view never draws one report's chart from another's rows). A refusal (a bad
        owner, an unknown tag, ...) is reported in ``message`` and leaves an empty
        ``frame``. True when it ran."""
        if self.report is None:
            return False
        spec = self.ws.reports.spec(self.report)
        accepted = [f for f in FILTERS if f in spec.filters]
        given = {k: v for k, v in self._set_filters().items() if k in accepted}
        reporting = self.currency or None
        frame = self.attempt(lambda: self.ws.reports.run(spec.name, reporting, **given))
        ran = frame is not None
        if frame is None:
            frame = pd.DataFrame(columns=spec.column_names)
        charts = report_charts(
            spec,
            frame,
            language=current_language(),
            currency=frame.attrs.get("reporting_currency") or reporting,
            only=self.currency or None,
        )
        self.param.update(
            title=spec.title,
            doc=spec.doc,
            accepted=accepted,
            kinds=spec.kinds(),
            chart=spec.chart,
            charts=charts,
            frame=frame,
            currencies=self._currency_choices(frame),
            missing_rates=str(frame.attrs.get("missing_rates") or ""),
            left_out=report_notes.left_out(frame, current_language()),
        )
        return ran

    def _currency_choices(self, frame: pd.DataFrame) -> list[str]:
        """The workspace's currency, those with exchange rates, and those of the
        results seen so far (the choices do not shrink from one report to the next)."""
        found = {self.ws.setting("currency"), *self.currencies}
        if self.currency:
            found.add(self.currency)
        try:
            rates = self.ws.rates.list()
        except (AccessDenied, ValidationError):  # the choices then come from the rest
            rates = None
        if rates is not None:
            found.update(str(c) for c in (*rates["currency"], *rates["base"]) if c)
        if "currency" in frame.columns:
            found.update(c for c in frame["currency"] if isinstance(c, str) and c)
        return sorted(found)

    # -- the workbook -------------------------------------------------------------------------
    def file_name(self) -> str:
        """The download's file name: ``<report or layout>-<today>.xlsx``."""
        stem = self.report if self.workbook == THIS_REPORT else self.workbook
        return f"{stem}-{self.ws.today().isoformat()}.xlsx"

    def make_workbook(self) -> bytes | None:
        """Write the chosen workbook (the selected report, or a layout whose reports
        each get the filters they accept) into memory, with progress. Returns its
        bytes when written here and then; None when refused, failed, or written in the
        background (watch ``workbook_data``)."""
        if self.running:
            self._say(_("A workbook is already being prepared."), "warning")
            return None
        if self.report is None and self.workbook == THIS_REPORT:
            self._say(_("Choose a report first."), "warning")
            return None
        if self.workbook == THIS_REPORT:
            what, given, sheets = str(self.report), self.filters(), 1
        else:
            layout = self.attempt(lambda: self.ws.export.layout(self.workbook))
            if layout is None:
                return None
            what, given, sheets = self.workbook, self._set_filters(), len(layout.sheets)
        self._sheets, self._labels = max(1, sheets), []
        name = self.file_name()
        self.param.update(
            running=True,
            progress=0,
            progress_text=_("Running the reports"),
            workbook_data=None,
            workbook_name="",
        )
        self._say("", "info")
        options = {"language": current_language(), "currency": self.currency or None}
        return self._launch(
            self._write, what, given, name, options, name="crmbook-reports-workbook"
        )

    def _progress(self, done: int, total: int | None, label: str) -> None:
        if label not in self._labels:
            self._labels.append(label)
        part = done / total if total else 0.0
        step = len(self._labels) - 1 + min(1.0, part)
        percent = min(99, int(100 * step / self._sheets))
        rows = (
            _("{done} of {total} rows").format(done=format_number(done), total=format_number(total))
            if total is not None
            else _("{done} rows").format(done=format_number(done))
        )
        self.param.update(
            progress=max(self.progress, percent),
            progress_text=_("Writing {sheet}: {rows}").format(sheet=label, rows=rows),
        )

    def _write(
        self, what: str, given: dict[str, Any], name: str, options: dict[str, Any]
    ) -> bytes | None:
        buffer = io.BytesIO()
        try:
            written = self.attempt(
                lambda: self.ws.export.xlsx(
                    buffer, what, progress=self._progress, **options, **given
                )
            )
        except Exception as exc:  # shown to the user instead of a silent dead button
            self.param.update(running=False, progress=0, progress_text=_("Failed"))
            self._say(_("The workbook failed: {reason}").format(reason=exc), "danger")
            return None
        if written is None:  # refused: attempt() said why
            self.param.update(running=False, progress=0, progress_text=_("Not written"))
            return None
        data = buffer.getvalue()
        self.param.update(
            running=False,
            progress=100,
            progress_text=_("Ready: {file} ({size} KB)").format(
                file=name, size=format_number(round(len(data) / 1024))
            ),
            workbook_data=data,
            workbook_name=name,
        )
        return data


# -- display ---------------------------------------------------------------------------------
def display_frame(frame: pd.DataFrame | None, kinds: dict[str, str]) -> pd.DataFrame:
    """``frame`` ready for the table: Decimals as floats (missing ones as NaN), dates
    as ISO text, missing text as ''."""
    if frame is None:
        return pd.DataFrame(columns=list(kinds))
    out = frame.copy()
    for name, kind in kinds.items():
        if name not in out.columns:
            continue
        column = out[name]
        if kind in ("money", "percent", "number"):
            out[name] = pd.to_numeric(column.astype(object), errors="coerce").astype(float)
        elif kind in ("date", "datetime"):
            out[name] = [_date_text(value) for value in column]
        elif kind == "text":
            out[name] = ["" if _missing(value) else str(value) for value in column]
    return out.reset_index(drop=True)


def amount_texts(
    frame: pd.DataFrame | None, kinds: dict[str, str], currency: str | None = None
) -> dict[str, list[str]]:
    """Each money column's amounts as the session writes them, in their row's currency
    (the row's ``currency``, ``reporting_currency`` for ``*_converted`` columns, else
    ``currency``: as the workbooks decide, crm_core.reports.base.currency_sources):
    KWD with 3 decimals, JPY with none, grouped as the workspace's ``amount_grouping``
    asks (i18n.format_amount_number); '' where there is no amount. Keyed by the hidden
    column that carries them (``<name>__shown``)."""
    if frame is None:
        return {}
    columns = [Column(str(name), kinds.get(str(name), "text")) for name in frame.columns]
    out: dict[str, list[str]] = {}
    for i, (at, default) in currency_sources(columns, currency or None).items():
        codes = frame.iloc[:, at] if at is not None else [None] * len(frame)
        texts = []
        for value, own in zip(frame.iloc[:, i], codes, strict=True):
            code = own if isinstance(own, str) and own else default
            if value is None or pd.isna(value):
                texts.append("")
            elif code:
                texts.append(format_amount_number(value, code))
            else:
                texts.append(format_number(value, 2))
        out[columns[i].name + SHOWN] = texts
    return out


def table_formatters(kinds: dict[str, str]) -> dict[str, Any]:
    """Formatters per column: percent ``0.0 %``, number ``0,0.[00]`` (Bokeh number
    formatters); a money column shows its hidden ``<name>__shown`` text (see
    :func:`amount_texts`, escaped) while the column keeps its numbers, so it sorts by
    amount."""
    out: dict[str, Any] = {
        name: NumberFormatter(format=NUMBER_FORMATS[kind], text_align="right")
        for name, kind in kinds.items()
        if kind in NUMBER_FORMATS
    }
    for name, kind in kinds.items():
        if kind != "money":
            continue
        if name.isidentifier():
            out[name] = HTMLTemplateFormatter(template=f"<%- {name}{SHOWN} %>")
        else:  # a plugin's column no template can name: its figures with 2 decimals
            out[name] = NumberFormatter(format="0,0.00", text_align="right")
    return out


def _date_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    return value.isoformat() if isinstance(value, dt.date) else ""


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def report_figure(data: ChartData | None) -> Any:
    """A Bokeh figure of one chart as crm_core pivots it (the workbook's chart):
    ``column`` (vertical bars, the series side by side), ``bar`` (horizontal bars, first
    category on top) or ``line`` (one line per series, gaps where a series has no
    value; the actual figure drawn dark and thick among forecasts). A ``pie`` is drawn
    as columns: bars compare parts more exactly than slices, and the Excel sheet keeps
    the native pie. None for no chart or one left out."""
    if data is None or not data.drawn:
        return None
    categories = list(data.categories)
    names = list(data.series)
    percent = data.axis == "percent"
    heading = data.title if not data.note else f"{data.title}: {data.note}"
    height = 340 if data.type != "bar" else max(300, 80 + 26 * len(categories))
    options: dict[str, Any] = {
        "title": heading,
        "height": height,
        "sizing_mode": "stretch_width",
        "toolbar_location": None,
        "tools": "",
    }
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    if data.emphasis in colors:
        colors[data.emphasis] = ACTUAL_COLOR

    def values(name: str) -> list[float]:
        return [float("nan") if x is None else x for x in data.series[name]]

    if data.type == "line":
        fig = figure(x_range=FactorRange(factors=categories), **options)
        for name in names:
            source = ColumnDataSource(
                {"category": categories, "value": values(name), "series": [name] * len(categories)}
            )
            strong = name == data.emphasis
            fig.line(
                "category",
                "value",
                source=source,
                color=colors[name],
                line_width=3 if strong else 2,
                legend_label=name,
            )
            fig.scatter("category", "value", source=source, color=colors[name], size=6)
        _hover(fig, percent)
        fig.xaxis.major_label_orientation = 1.0 if len(categories) > 8 else 0.0
        fig.yaxis.formatter = axis_formatter(data.axis)
        return _lettered(_legend(fig, len(names)))
    factors = [(c, name) for c in categories for name in names] if len(names) > 1 else categories
    source = ColumnDataSource(
        {
            "x": factors,
            "category": [f[0] if isinstance(f, tuple) else f for f in factors],
            "series": [f[1] if isinstance(f, tuple) else names[0] for f in factors],
            "value": [values(name)[i] for i in range(len(categories)) for name in names],
            "color": [colors[name] for _c in categories for name in names],
        }
    )
    legend = {"legend_field": "series"} if len(names) > 1 else {}
    if data.type == "bar":
        fig = figure(y_range=FactorRange(*reversed(factors)), **options)
        fig.hbar(y="x", right="value", height=0.8, color="color", source=source, **legend)
        fig.x_range.start = 0
        fig.xaxis.formatter = axis_formatter(data.axis)
        fig.ygrid.grid_line_color = None
    else:  # column, and pie drawn as columns
        fig = figure(x_range=FactorRange(*factors), **options)
        fig.vbar(x="x", top="value", width=0.8, color="color", source=source, **legend)
        fig.y_range.start = 0
        fig.yaxis.formatter = axis_formatter(data.axis)
        fig.xaxis.major_label_orientation = 1.0 if len(categories) > 8 else 0.0
        fig.xgrid.grid_line_color = None
    if len(names) > 1:
        # One legend entry per series (legend_field), and no series name under every
        # bar: the categories alone name the groups.
        axis = fig.yaxis if data.type == "bar" else fig.xaxis
        axis.major_label_text_font_size = "0px"
        axis.group_text_font_size = "13px"
        axis.group_text_color = "#444444"
        if data.type != "bar":
            axis.group_label_orientation = 0.6 if len(categories) > 6 else 0.0
    _hover(fig, percent)
    return _lettered(_legend(fig, len(names)))


def chart_notes(model: ReportsModel) -> str:
    """What the page says under the charts, escaped: the charts left out and why, the
    exchange rates the run lacked, and the figures it left out."""
    lines = [
        _("{title}: chart left out ({reason}).").format(title=c.title, reason=c.reason)
        for c in model.charts
        if not c.drawn and model.chart is not None
    ]
    if model.missing_rates:
        lines.append(
            _("Not converted for want of exchange rates: {missing}.").format(
                missing=model.missing_rates
            )
        )
    lines += model.left_out
    return "".join(f"<div>{html.escape(line)}</div>" for line in lines)


def _hover(fig: Any, percent: bool) -> None:
    fig.add_tools(
        HoverTool(
            tooltips=[("", "@category"), ("", "@series"), (_("Value"), "@value{custom}")],
            formatters={"@value": hover_number(percent, 1 if percent else 2)},
        )
    )


def _lettered(fig: Any) -> Any:
    """The chart's texts (names in any script) in the app's fonts, drawn left to right
    on a right-to-left page too: Bokeh lays its canvas out left to right, and a canvas
    inheriting ``direction: rtl`` draws the legend below the plot out of sight (an
    Urdu page showed two series with no legend). Urdu names still read right to left
    within themselves."""
    fig.styles = {**(fig.styles or {}), "direction": "ltr"}
    fig.title.text_font = design.FONT_STACK
    for axis in (*fig.xaxis, *fig.yaxis):
        axis.major_label_text_font = design.FONT_STACK
        axis.axis_label_text_font = design.FONT_STACK
        if hasattr(axis, "group_text_font"):  # the category names under grouped bars
            axis.group_text_font = design.FONT_STACK
    if fig.legend:
        fig.legend.label_text_font = design.FONT_STACK
    return fig


def _legend(fig: Any, series: int) -> Any:
    """Several series: their legend in one row under the chart (never over the bars);
    one series: none (the title names it)."""
    if series > 1:
        legend = fig.legend[0]
        legend.orientation = "horizontal"
        legend.location = "center"
        legend.border_line_alpha = 0
        fig.center = [r for r in fig.center if r is not legend]
        fig.add_layout(legend, "below")
    elif fig.legend:
        fig.legend.visible = False
    return fig


def doc_html(doc: str) -> str:
    """The report's documentation as escaped text in a fold-out block."""
    if not doc:
        return ""
    summary = html.escape(_("About this report"))
    return (
        f"<details><summary>{summary}</summary>"
        f'<div style="white-space: pre-wrap; opacity: 0.85">{html.escape(doc)}</div></details>'
    )


class ReportsPage(ComponentView):
    """The Reports page: ``ReportsPage(ws)`` in a notebook or the staff app."""

    model = param.ClassSelector(class_=ReportsModel, doc="The page's view-model.")
    model_class = ReportsModel

    # -- building -----------------------------------------------------------------------------
    def _build(self) -> pn.Column:
        model = self.model
        filters = self._filter_widgets()
        report = pn.widgets.Select.from_param(
            model.param.report,
            name=_("Report"),
            options=self._report_options(),
            width=260,
            css_classes=["crm-reports-select"],
        )
        refresh = pn.widgets.Button(
            label="↻",
            width=40,
            align="end",
            css_classes=["crm-reports-run"],
            on_click=lambda _: model.run(),
        )
        currency = pn.widgets.Select(
            name=_("Reporting currency"),
            options=model.currencies or [""],
            value=model.currency,
            width=140,
            visible=len(model.currencies) > 1,
            css_classes=["crm-reports-currency"],
        )

        def currency_chosen(event: param.parameterized.Event) -> None:
            if event.new in model.currencies:
                model.currency = event.new

        currency.param.watch(currency_chosen, "value")
        controls = pn.Column(
            pn.Row(report, refresh, currency),
            pn.FlexBox(*filters.values(), sizing_mode="stretch_width"),
            css_classes=["crm-reports-controls"],
            sizing_mode="stretch_width",
        )
        alert = message_alert(model)
        heading = pn.pane.HTML(self._heading(), css_classes=["crm-reports-title"])
        help_text = pn.pane.HTML(
            doc_html(model.doc), css_classes=["crm-reports-help"], sizing_mode="stretch_width"
        )
        chart = pn.Column(
            *self._figures(), visible=model.chart is not None, sizing_mode="stretch_width"
        )
        notes = pn.pane.HTML(
            chart_notes(model), css_classes=["crm-reports-chart-notes"], sizing_mode="stretch_width"
        )
        table = pn.Column(self._table(), sizing_mode="stretch_width")
        workbook = self._workbook_controls()

        def update(*events: param.parameterized.Event) -> None:
            names = {e.name for e in events}
            if "reports" in names:
                report.options = self._report_options()
            if "accepted" in names:
                for name, widget in filters.items():
                    widget.disabled = name not in model.accepted
            if names & {"title", "report"}:
                heading.object = self._heading()
            if "doc" in names:
                help_text.object = doc_html(model.doc)
            if names & {"currencies", "currency"}:
                # Options and value together: a value outside the options is reset.
                currency.param.update(
                    options=model.currencies or [""],
                    value=model.currency,
                    visible=len(model.currencies) > 1,
                )
            if names & {"charts", "chart", "missing_rates", "left_out"}:
                chart.objects = self._figures()
                chart.visible = model.chart is not None
                notes.object = chart_notes(model)
            if names & {"frame", "kinds"}:
                table.objects = [self._table()]

        model.param.watch(
            update,
            [
                "reports",
                "accepted",
                "title",
                "report",
                "doc",
                "currencies",
                "frame",
                "chart",
                "charts",
                "currency",
                "kinds",
                "missing_rates",
                "left_out",
            ],
        )
        for name, widget in filters.items():
            widget.disabled = name not in model.accepted
        if not self._may_choose_owner():
            # a sales user's reports are their own deals: no one else to choose (another
            # owner would show a table of zeros that reads as a fact)
            filters["owner"].visible = filters["team"].visible = False
        return pn.Column(
            controls,
            alert,
            heading,
            help_text,
            chart,
            notes,
            table,
            workbook,
            sizing_mode="stretch_width",
            css_classes=["crm-reports"],
        )

    def _report_options(self) -> dict[str, str]:
        # Titles may repeat between plugins: the name keeps each choice distinct.
        language = current_language()
        shown = {name: report_title(t, language) for name, t in self.model.reports.items()}
        titles = list(shown.values())
        return {
            (title if titles.count(title) == 1 else f"{title} ({name})"): name
            for name, title in shown.items()
        }

    def _filter_widgets(self) -> dict[str, pn.widgets.Widget]:
        model = self.model
        users = self._users() if self._may_choose_owner() else []
        owners = {_("(anyone)"): "", **{f"{name} ({login})": login for login, name, _t in users}}
        teams = {_("(any team)"): "", **{t: t for t in sorted({t for _l, _n, t in users if t})}}
        if model.owner and model.owner not in owners.values():
            owners[model.owner] = model.owner
        if model.team and model.team not in teams.values():
            teams[model.team] = model.team

        def text(name: str, label: str) -> pn.widgets.TextInput:
            return pn.widgets.TextInput.from_param(
                getattr(model.param, name),
                name=label,
                placeholder=_("any"),
                width=140,
                css_classes=[f"crm-reports-filter-{name.replace('_', '-')}"],
            )

        return {
            "period_from": pn.widgets.DatePicker.from_param(
                model.param.period_from,
                name=_("From"),
                width=140,
                css_classes=["crm-reports-filter-period-from"],
            ),
            "period_to": pn.widgets.DatePicker.from_param(
                model.param.period_to,
                name=_("To"),
                width=140,
                css_classes=["crm-reports-filter-period-to"],
            ),
            "owner": pn.widgets.Select.from_param(
                model.param.owner,
                name=_("Owner"),
                options=owners,
                width=200,
                css_classes=["crm-reports-filter-owner"],
            ),
            "team": pn.widgets.Select.from_param(
                model.param.team,
                name=_("Team"),
                options=teams,
                width=140,
                css_classes=["crm-reports-filter-team"],
            ),
            "tag": text("tag", _("Tag")),
            "source": text("source", _("Source")),
            "campaign": text("campaign", _("Campaign")),
        }

    def _may_choose_owner(self) -> bool:
        """Whether the owner and team filters are offered: not to a sales user, who
        sees only their own deals (as on the pipeline board)."""
        return getattr(self.model.ws, "role", None) != "sales"

    def _users(self) -> list[tuple[str, str, str]]:
        """(login, name, team) of the active users, for the owner and team choices."""
        ws = self.model.ws
        found = self.model.attempt(ws.users.list)
        if found is None:
            return []
        users = found[found["active"].astype(bool)]
        return [
            (str(u.login), str(u.name), u.team if isinstance(u.team, str) else "")
            for u in users.itertuples()
        ]

    def _heading(self) -> str:
        shown = report_title(self.model.title, current_language())
        return f"<h3>{html.escape(shown)}</h3>"

    def _figures(self) -> list[pn.Column]:
        """One pane per chart drawn (a money chart per currency when not converted), each
        in a box of its own that carries the page's class (a Bokeh pane does not)."""
        return [
            pn.Column(
                pn.pane.Bokeh(report_figure(data), sizing_mode="stretch_width"),
                css_classes=["crm-reports-chart"],
                sizing_mode="stretch_width",
            )
            for data in self.model.charts
            if data.drawn
        ]

    def _table(self) -> pn.widgets.Tabulator:
        # Tabulator's default formatters show text as text: never the "html" formatter.
        model = self.model
        language = current_language()
        titles = {
            name: column_label(name, language, report=model.report)
            for name in (model.frame.columns if model.frame is not None else ())
        }
        shown = display_frame(model.frame, model.kinds)
        currency = model.frame.attrs.get("reporting_currency") if model.frame is not None else None
        texts = amount_texts(model.frame, model.kinds, currency or model.currency)
        for name, values in texts.items():
            shown[name] = values
        money = [n for n, k in model.kinds.items() if k == "money" and n in shown.columns]
        return pn.widgets.Tabulator(
            shown,
            formatters=table_formatters(model.kinds),
            text_align=dict.fromkeys(money, "right"),
            hidden_columns=list(texts),
            titles=titles,
            disabled=True,
            show_index=False,
            pagination="remote",
            page_size=PAGE_SIZE,
            configuration=table_pager(),  # "First", "Next"... in the page's language
            sizing_mode="stretch_width",
            css_classes=["crm-reports-table"],
        )

    def _workbook_controls(self) -> pn.Column:
        model = self.model
        choice = pn.widgets.Select.from_param(
            model.param.workbook,
            name=_("Workbook"),
            options=self._workbook_options(),
            width=220,
            css_classes=["crm-reports-workbook"],
        )
        prepare = pn.widgets.Button(
            label=_("Prepare workbook"),
            color="primary",
            align="end",
            width=180,
            css_classes=["crm-reports-prepare"],
            disabled=model.running,
        )
        prepare.on_click(lambda _: model.make_workbook())
        bar = pn.indicators.Progress(
            value=model.progress,
            max=100,
            width=250,
            align="center",
            css_classes=["crm-reports-progress"],
        )
        status = pn.pane.HTML(
            html.escape(model.progress_text),
            align="center",
            css_classes=["crm-reports-progress-text"],
        )
        download = pn.widgets.FileDownload(
            label=_("Download workbook"),
            filename=model.workbook_name or "workbook.xlsx",
            disabled=True,
            align="end",
            width=340,
            css_classes=["crm-reports-download"],
        )

        def update(*events: param.parameterized.Event) -> None:
            names = {e.name for e in events}
            if "layouts" in names:
                choice.options = self._workbook_options()
            if "progress" in names:
                bar.value = model.progress
            if "progress_text" in names:
                status.object = html.escape(model.progress_text)
            if "running" in names:
                prepare.disabled = model.running
            if names & {"workbook_data", "workbook_name"}:
                ready = model.workbook_data is not None
                download.param.update(
                    filename=model.workbook_name or "workbook.xlsx",
                    file=io.BytesIO(model.workbook_data) if ready else None,
                    label=(
                        _("Download {file}").format(file=model.workbook_name)
                        if ready
                        else _("Download workbook")
                    ),
                    disabled=not ready,
                )

        model.param.watch(
            update,
            ["layouts", "progress", "progress_text", "running", "workbook_data", "workbook_name"],
        )
        return pn.Column(
            pn.pane.HTML("<b>{}</b>".format(html.escape(_("Excel workbook")))),
            pn.Row(choice, prepare, download),
            pn.Row(bar, status),
            css_classes=["crm-reports-export"],
            sizing_mode="stretch_width",
        )

    def _workbook_options(self) -> dict[str, str]:
        return {_("This report"): THIS_REPORT, **{t: n for n, t in self.model.layouts.items()}}
