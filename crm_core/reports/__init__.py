"""Reports: the business in figures, aggregated in SQL, one DataFrame each.

``ws.reports.run("funnel", period_from="2026-01-01")`` or ``ws.reports.funnel(...)``
runs a report; ``ws.reports.names()`` lists them and ``ws.reports.spec(name)`` says
what a report's columns mean. The built-in reports live in this package by subject:

- ``pipeline``: pipeline by stage, funnel conversion per cohort, stage velocity,
  win and loss reasons;
- ``people``: workload and outcomes per employee per week, interaction metrics;
- ``customers``: sales per customer from ERP invoices with aging, RFM segments;
- ``campaigns``: campaign results and ROI;
- ``forecast``: weighted pipeline by close month, learned stage-to-won rates,
  invoiced revenue forecast and their backtest.

A user adds a report with :func:`report` (see :mod:`crm_core.reports.base`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from crm_core.errors import NotFoundError
from crm_core.reports.base import (
    CHART_TYPES,
    FILTERS,
    KINDS,
    REGISTRY,
    Chart,
    Column,
    Report,
    Scope,
    load_plugins,
    make_scope,
    report,
)

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

__all__ = [
    "CHART_TYPES",
    "FILTERS",
    "KINDS",
    "REGISTRY",
    "Chart",
    "Column",
    "Report",
    "Reports",
    "Scope",
    "load_plugins",
    "report",
]

_BUILT_IN = ("pipeline", "people", "customers", "campaigns", "forecast")
_plugins_loaded = False


def _load_all() -> None:
    """Import the built-in report modules and, once, the entry-point plugins."""
    global _plugins_loaded
    import importlib

    for module in _BUILT_IN:
        importlib.import_module(f"crm_core.reports.{module}")
    if not _plugins_loaded:
        _plugins_loaded = True
        load_plugins()


class Reports:
    """Run the declared reports against a workspace: ``ws.reports``."""

    def __init__(self, ws: Workspace):
        self.ws = ws

    def names(self) -> list[str]:
        """Every report's name, built-in and plugins, sorted."""
        _load_all()
        return sorted(REGISTRY)

    def spec(self, name: str) -> Report:
        """A report's declaration: title, columns and their meaning, filters, chart."""
        _load_all()
        try:
            return REGISTRY[name]
        except KeyError:
            raise NotFoundError("report", name) from None

    def run(self, name: str, currency: str | None = None, **filters: Any) -> pd.DataFrame:
        """Run report ``name`` with the given filters (see :data:`FILTERS`) and return
        its DataFrame, with exactly the declared columns in order.

        ``currency``: the reporting currency of the run (default: the workspace's
        ``currency`` setting). Money reports give their amounts in each row's own
        currency and beside them ``<column>_converted`` in the reporting currency.
        The DataFrame's ``attrs`` say ``reporting_currency`` and ``missing_rates``:
        the exchange rates the run lacked, in words ('' when none), e.g. ``'no rate
        for LKR on or before 2026-03-01 (to EUR)'``, and ``missing_rate_list`` the
        same as data (:meth:`crm_core.money.Rates.missing_rates`); a row whose rate is
        missing has its converted cells empty (never converted at 1).
        """
        spec = self.spec(name)
        scope = make_scope(self.ws, spec, filters, currency)
        frame = spec.function(scope)
        if list(frame.columns) != spec.column_names:
            raise RuntimeError(
                f"report {name!r} returned columns {list(frame.columns)}, "
                f"declared {spec.column_names}"
            )
        frame.attrs["reporting_currency"] = scope.currency
        frame.attrs["missing_rates"] = scope.missing_rates()
        frame.attrs["missing_rate_list"] = scope.missing_rate_list()
        return frame

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self.names():
            raise AttributeError(f"no report named {name!r}; ws.reports.names() lists them")

        def run(currency: str | None = None, **filters: Any) -> pd.DataFrame:
            return self.run(name, currency, **filters)

        run.__doc__ = self.spec(name).doc
        run.__name__ = name
        return run

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.names()))
