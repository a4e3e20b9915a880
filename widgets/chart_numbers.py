"""Numbers on the charts in the session's locale: axis ticks and hover values written
by the browser's ``Intl.NumberFormat`` with the same locale as the figures around them
(:func:`widgets.i18n.js_locale`), so a Bengali or Indian English page shows
``15,00,000`` on its axes as on its cards. Digits stay Latin (``-u-nu-latn``), as Babel
writes them.
"""

from __future__ import annotations

from bokeh.models import CustomJSHover, CustomJSTickFormatter

from widgets import i18n

_OPTIONS = """
const options = percent
  ? {style: "percent", maximumFractionDigits: digits}
  : {minimumFractionDigits: fixed ? digits : 0, maximumFractionDigits: digits};
"""


def tick_formatter(percent: bool = False) -> CustomJSTickFormatter:
    """Axis ticks grouped as the session's locale groups them (``0 %`` style when
    ``percent``: the values are fractions)."""
    return CustomJSTickFormatter(
        args={"locale": i18n.js_locale(), "percent": percent, "digits": 2, "fixed": False},
        code=_OPTIONS + "return new Intl.NumberFormat(locale, options).format(tick);",
    )


def hover_number(percent: bool = False, digits: int = 2) -> CustomJSHover:
    """A hover value (``@field{custom}``) with exactly ``digits`` decimals, grouped as
    the session's locale groups them."""
    return CustomJSHover(
        args={"locale": i18n.js_locale(), "percent": percent, "digits": digits, "fixed": True},
        code=_OPTIONS + "return new Intl.NumberFormat(locale, options).format(value);",
    )


def axis_formatter(axis: str = "number") -> CustomJSTickFormatter:
    """Value-axis ticks for a chart's axis format (crm_core.reports.AXIS_FORMATS):
    ``money`` grouped without decimals, ``percent`` as ``0 %``, ``number`` grouped."""
    return CustomJSTickFormatter(
        args={
            "locale": i18n.js_locale(),
            "percent": axis == "percent",
            "digits": 0 if axis == "money" else 2,
            "fixed": False,
        },
        code=_OPTIONS + "return new Intl.NumberFormat(locale, options).format(tick);",
    )
