"""A report's chart as the figures to draw: :func:`chart_data`, used alike by the Excel
workbooks (crm_core.export) and the app's Reports page, so both show the same chart.

The report's :class:`~crm_core.reports.Chart` says what to show; its DataFrame is
pivoted for it here: one row per category (rows with the same category added up), one
series per value column or per value of the ``series`` column, the categories ordered
(``order``) or cut to the ``top`` largest plus "Other". A money chart never mixes
currencies: it is drawn on the report's ``<value>_converted`` columns (amounts in the
reporting currency) when it has them, else once per currency. A chart that cannot be
read (nothing to draw, more categories or series than anyone can tell apart) comes back
with the ``reason`` it is left out instead of figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from crm_core.money.units import minor_units
from crm_core.reports.base import Chart, Report
from crm_core.reports.labels import CONVERTED, column_label, title, value_label, word

#: The most categories a chart of each type may show and still be read.
MAX_CATEGORIES = {"column": 40, "bar": 40, "line": 120, "pie": 8}
#: The most series a chart may show (lines or bars side by side) and still be read.
MAX_SERIES = 8
#: A category's label on a chart is cut to this many characters (at a word, with an
#: ellipsis): a long name would crowd out the others (LibreOffice then skips labels).
CATEGORY_LABEL_MAX = 40
#: A money chart whose exchange rates are missing is drawn once per currency, for at
#: most this many currencies; with more, or for a ranking (``top``: one currency's
#: ranking is not the ranking), it is left out, saying why.
MAX_CURRENCY_CHARTS = 4


@dataclass(frozen=True)
class ChartData:
    """One chart ready to draw: its ``type`` and ``title``, the ``categories`` (text),
    one list of values per series (series title -> values; None where a series has no
    value for a category: a gap in a line), the value ``axis`` format (number, money,
    percent), the ``currency`` of money values, and a ``note`` (how the categories were
    cut). ``reason`` is set, and the figures empty, when the chart is left out.
    ``emphasis`` names the series drawn stronger than the others (the actual figure
    among forecasts). ``integer``: the values are counts (every value column ``int``),
    written and ticked as whole numbers. Categories are the labels to draw, cut to
    :data:`CATEGORY_LABEL_MAX` characters (:func:`short_label`)."""

    type: str
    title: str
    categories: list[str] = field(default_factory=list)
    series: dict[str, list[float | None]] = field(default_factory=dict)
    axis: str = "number"
    currency: str | None = None
    category_title: str = ""
    note: str = ""
    reason: str = ""
    emphasis: str | None = None
    integer: bool = False

    @property
    def drawn(self) -> bool:
        """True when the chart is to be drawn (it has figures and no reason not to)."""
        return not self.reason

    def table(self) -> pd.DataFrame:
        """The figures as a table: the category, then one column per series."""
        out = pd.DataFrame({self.category_title or "category": self.categories})
        for name, values in self.series.items():
            out[name] = values
        return out


def report_charts(
    spec: Report,
    frame: pd.DataFrame | None,
    *,
    language: str | None = None,
    currency: str | None = None,
    only: str | None = None,
) -> list[ChartData]:
    """The charts of report ``spec`` over its result ``frame`` (see :func:`chart_data`);
    an empty list when the report declares no chart."""
    if spec.chart is None:
        return []
    return chart_data(
        spec.chart,
        frame,
        spec.kinds(),
        report=spec.name,
        default_title=spec.title,
        language=language,
        currency=currency,
        only=only,
    )


def chart_data(
    chart: Chart,
    frame: pd.DataFrame | None,
    kinds: Mapping[str, str],
    *,
    report: str | None = None,
    default_title: str = "",
    language: str | None = None,
    currency: str | None = None,
    only: str | None = None,
) -> list[ChartData]:
    """``frame`` pivoted for ``chart``: one :class:`ChartData` per chart to draw.

    ``kinds`` maps the frame's columns to their kinds (a report's ``spec.kinds()``).
    Money values are drawn on ``<value>_converted`` columns when the frame has them,
    filled wherever the amount is (``currency`` names their reporting currency, shown
    in the title; default: what the run says), else once per currency of the frame's
    ``currency`` column, in alphabetical order (only the currency ``only`` when given
    and present). Titles and series names are in ``language``.
    """
    heading = title(chart.title or default_title, language)
    names = [*chart.values, *chart.common]
    missing = [c for c in chart.columns if frame is not None and c not in frame.columns]
    if frame is None or missing:
        reason = word("nothing_to_draw", language)
        return [ChartData(chart.type, heading, reason=reason)]
    money = [n for n in names if kinds.get(n) == "money"]
    # Converted figures only when every amount was converted: a row whose rate is
    # missing has its converted cells empty, and a chart without it would mislead.
    converted = bool(money) and all(_complete(frame, n) for n in money)
    if converted:
        names = [f"{n}{CONVERTED}" if n in money else n for n in names]
    axis = chart.axis or _axis([kinds.get(n, "number") for n in chart.values])
    additive = all(kinds.get(n) == "int" for n in chart.values)
    split = "currency" in frame.columns and not converted and not additive
    if not split:
        shown = _reporting_currency(frame, currency) if converted else None
        suffix = f" ({shown})" if shown else ""
        drawn = _one(chart, frame, names, heading + suffix, axis, shown, report, language)
        return [replace(drawn, integer=additive and axis != "percent")]
    present = sorted({str(c) for c in frame["currency"] if isinstance(c, str) and c})
    if only and only in present:
        present = [only]
    elif money and (len(present) > MAX_CURRENCY_CHARTS or (chart.top and len(present) > 1)):
        reason = word("needs_rates", language, count=len(present))
        return [ChartData(chart.type, heading, axis=axis, reason=reason)]
    return [
        replace(
            _one(
                chart,
                frame[frame["currency"] == code],
                names,
                f"{heading} ({code})",
                axis,
                code,
                report,
                language,
            ),
            integer=additive and axis != "percent",
        )
        for code in present
    ] or [ChartData(chart.type, heading, axis=axis, reason=word("nothing_to_draw", language))]


def short_label(text: str, limit: int = CATEGORY_LABEL_MAX) -> str:
    """``text`` cut to at most ``limit`` characters for a chart's axis: at the last
    word boundary that leaves at least half of it, else mid-word, with an ellipsis
    ("…"); shorter text as it is."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = text[: limit - 1]
    cut = room.rfind(" ")
    if cut >= limit // 2:
        room = room[:cut]
    return room.rstrip(" ,;:-–—") + "…"


def _short_labels(labels: list[str]) -> list[str]:
    """:func:`short_label` of each, kept apart: two that cut to the same label are
    numbered ("… (2)")."""
    out: list[str] = []
    seen: set[str] = set()
    for label in labels:
        short = short_label(label)
        n = 1
        while short in seen:
            n += 1
            suffix = f" ({n})"
            short = short_label(label, CATEGORY_LABEL_MAX - len(suffix)) + suffix
        seen.add(short)
        out.append(short)
    return out


def _complete(frame: pd.DataFrame, name: str) -> bool:
    """True when ``<name>_converted`` is there and holds a figure wherever ``name``
    does."""
    column = f"{name}{CONVERTED}"
    if column not in frame.columns:
        return False
    given = frame[name].notna()
    return bool(frame.loc[given, column].notna().all())


def _reporting_currency(frame: pd.DataFrame, given: str | None) -> str | None:
    """The currency of the ``*_converted`` columns: ``given``, else what the run says
    (``attrs["reporting_currency"]`` or the ``reporting_currency`` column)."""
    if given:
        return given
    said = frame.attrs.get("reporting_currency")
    if isinstance(said, str) and said:
        return said
    if "reporting_currency" in frame.columns:
        found = [c for c in frame["reporting_currency"] if isinstance(c, str) and c]
        return found[0] if found else None
    return None


def _axis(kinds: Sequence[str]) -> str:
    if "money" in kinds:
        return "money"
    if kinds and all(k == "percent" for k in kinds):
        return "percent"
    return "number"


def _numbers(column: pd.Series) -> pd.Series:
    """A column's values as floats (Decimals, ints, None: NaN)."""
    return pd.to_numeric(column.astype(object), errors="coerce").astype(float)


def _text(value: Any, language: str | None) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return value_label("(none)", language)
    return value_label(str(value), language)


def _one(
    chart: Chart,
    rows: pd.DataFrame,
    names: list[str],
    heading: str,
    axis: str,
    currency: str | None,
    report: str | None,
    language: str | None,
) -> ChartData:
    """One chart over ``rows`` (already one currency, or converted)."""
    category_title = column_label(chart.category, language, report=report)

    def left_out(reason: str) -> ChartData:
        return ChartData(
            chart.type,
            heading,
            axis=axis,
            currency=currency,
            category_title=category_title,
            reason=reason,
        )

    if rows.empty:
        return left_out(word("nothing_to_draw", language))
    categories = [_text(c, language) for c in rows[chart.category]]
    data = pd.DataFrame({"_category": categories}, index=rows.index)
    if chart.series is not None:
        value = names[0]
        keys = [_text(k, language) for k in rows[chart.series]]
        data["_series"] = keys
        data["_value"] = _numbers(rows[value])
        table = (
            data.groupby(["_category", "_series"], sort=False)["_value"]
            .sum(min_count=1)
            .unstack("_series")
        )
        table = table[list(dict.fromkeys(keys))]
        for common in names[1:]:
            data[common] = _numbers(rows[common])
            label = column_label(common.removesuffix(CONVERTED), language, report=report)
            table[label] = data.groupby("_category", sort=False)[common].first()
    else:
        for name in names:
            data[name] = _numbers(rows[name])
        table = data.groupby("_category", sort=False)[names].sum(min_count=1)
        table.columns = [
            column_label(n.removesuffix(CONVERTED), language, report=report) for n in names
        ]
    order = list(dict.fromkeys(categories))
    if chart.order is not None:
        rank = _numbers(rows[chart.order]).groupby(data["_category"], sort=False).min()
        order = sorted(order, key=lambda c: (rank.get(c) != rank.get(c), rank.get(c, 0)))
    table = table.reindex(order)
    note = ""
    if chart.top is not None and len(table) > chart.top:
        totals = table.abs().sum(axis=1)
        keep = list(totals.sort_values(ascending=False, kind="stable").index[: chart.top])
        rest = [c for c in table.index if c not in keep]
        if chart.order is not None:
            keep = [c for c in table.index if c in keep]
        other = table.loc[rest].sum(min_count=1)
        if chart.other:
            note = word("top_of", language, top=chart.top, total=len(table))
            table = table.loc[keep]
            table.loc[word("other", language)] = other
        else:
            rest_total = ", ".join(f"{x:,.0f}" for x in other if not pd.isna(x))
            note = word(
                "top_without_rest",
                language,
                top=chart.top,
                total=len(table),
                rest=len(rest),
                figure=rest_total,
            )
            table = table.loc[keep]
    if chart.type == "pie":
        table = table.iloc[:, :1]
    figures = table.to_numpy(dtype=float)
    if not len(table) or not (abs(figures[~pd.isna(figures)]) > 0).any():
        return left_out(word("nothing_to_draw", language))
    if len(table) > MAX_CATEGORIES[chart.type]:
        return left_out(word("too_many", language, count=len(table)))
    if len(table.columns) > MAX_SERIES:
        return left_out(word("too_many_series", language, count=len(table.columns)))
    # Sums of floats carry binary noise (651969401.9399998): each figure rounded to
    # what it can hold, its currency's minor units (money) or 6 places.
    places = minor_units(currency) if currency else 6
    series = {
        str(name): [None if pd.isna(x) else round(float(x), places) for x in table[name]]
        for name in table.columns
    }
    actual = value_label("actual", language)
    emphasis = actual if chart.series is not None and actual in series else None
    return ChartData(
        type=chart.type,
        title=heading,
        categories=_short_labels([str(c) for c in table.index]),
        series=series,
        axis=axis,
        currency=currency,
        category_title=category_title,
        note=note,
        emphasis=emphasis,
    )
