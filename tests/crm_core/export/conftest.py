"""Small reports of the tests' own, registered for a test and removed after it, so the
export tests do not depend on the built-in reports."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from crm_core.models import Opportunity, Stage
from crm_core.reports import REGISTRY, Chart, Column, report

DEALS_COLUMNS = [
    Column("stage", "text", "stage name"),
    Column("currency", "text"),
    Column("deals", "int", "active deals in the stage"),
    Column("value", "money", "sum of expected revenue"),
]
PERIOD_COLUMNS = [Column("period_from", "date"), Column("period_to", "date")]


@pytest.fixture
def test_reports():
    """Register ``xt_deals_by_stage`` (filters owner, tag; a column chart) and
    ``xt_period`` (filters period_from, period_to: echoes them), then remove them."""
    before = dict(REGISTRY)

    @report(
        "xt_deals_by_stage",
        title="Deals by stage",
        columns=DEALS_COLUMNS,
        filters=("owner", "tag"),
        chart=Chart("column", "stage", ("deals",)),
    )
    def deals_by_stage(scope):
        """Active deals per stage and currency."""
        o = Opportunity
        with scope.ws.transaction() as s:
            rows = s.execute(
                select(Stage.name, o.currency, func.count(o.id), func.sum(o.expected_revenue))
                .join(Stage, Stage.id == o.stage_id)
                .where(*scope.deals())
                .group_by(Stage.name, Stage.sequence, o.currency)
                .order_by(Stage.sequence, o.currency)
            ).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=[c.name for c in DEALS_COLUMNS])

    @report(
        "xt_period", title="Period", columns=PERIOD_COLUMNS, filters=("period_from", "period_to")
    )
    def period(scope):
        """The period asked for."""
        return pd.DataFrame(
            [(scope.period_from, scope.period_to)], columns=["period_from", "period_to"]
        )

    yield ["xt_deals_by_stage", "xt_period"]
    for name in list(REGISTRY):
        if name not in before:
            del REGISTRY[name]
    REGISTRY.update(before)
