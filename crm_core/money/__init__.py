"""Money across currencies: exchange rates, conversion, minor units and formatting.

``Rates.load(session, "EUR")`` reads the workspace's rate table once; ``convert``
turns an amount of any currency into the reporting currency at the rate of a
record's date (falling back to the latest earlier rate, never to 1). ``minor_units``,
``quantize`` and ``format_amount`` keep and write each currency's own decimals.
"""

from crm_core.money.rates import RATE_DIGITS, MissingRate, Rates, rate_value
from crm_core.money.units import (
    digit_groups,
    format_amount,
    format_figure,
    indian_grouping,
    minor_units,
    quantize,
)

__all__ = [
    "RATE_DIGITS",
    "MissingRate",
    "Rates",
    "digit_groups",
    "format_amount",
    "format_figure",
    "indian_grouping",
    "minor_units",
    "quantize",
    "rate_value",
]
