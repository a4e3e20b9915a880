"""Campaign reports: who was targeted, who responded, what it won and what it paid back.

Aggregated in SQL; amounts in different currencies are never added (one row per
currency), and the return on a campaign's cost is only worked out against revenue in
the cost's own currency.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import case, cast, func, select

from crm_core.models import Campaign, CampaignMember, Opportunity
from crm_core.reports.base import REGISTRY, Chart, Column, Scope, report
from crm_core.services.metrics import MONEY, _money


@report(
    "campaign_results",
    title="Campaign results",
    columns=[
        Column("campaign", "text", "the campaign"),
        Column("channel", "text", "its channel"),
        Column("starts_on", "date", "when it started"),
        Column("targeted", "int", "contacts targeted (campaign members)"),
        Column("responded", "int", "members who responded"),
        Column("response_rate", "percent", "responded / targeted"),
        Column("opportunities", "int", "deals brought by the campaign, in this currency"),
        Column("won", "int", "of which won"),
        Column("currency", "text", "currency of won_revenue and cost"),
        Column("won_revenue", "money", "expected revenue of the won deals"),
        Column("cost", "money", "the campaign's cost (on the row of its currency)"),
        Column("roi", "percent", "(won_revenue - cost) / cost"),
    ],
    filters=("period_from", "period_to", "owner", "team", "campaign"),
    chart=Chart("column", "campaign", ("won_revenue",), "Won revenue by campaign"),
)
def campaign_results(scope: Scope) -> pd.DataFrame:
    """What each campaign reached, won and paid back.

    One row per campaign and currency, campaigns by start date (undated last) then
    name. A campaign's currencies are those of its deals in scope plus its cost's;
    a campaign with neither has one row in the workspace currency.

    Columns: ``campaign``, ``channel``, ``starts_on``; ``targeted`` (contacts the
    campaign targeted), ``responded`` (those with a response recorded) and
    ``response_rate`` (fraction responded / targeted, NaN when nobody was targeted):
    these three are about the campaign as a whole and repeat on each of its rows;
    ``opportunities`` (active deals carrying the campaign, in the row's currency),
    ``won`` (of which won now), ``currency``, ``won_revenue`` (their expected revenue,
    0.00 when none), ``cost`` (Decimal, only on the row of the cost's currency; None
    elsewhere or when no cost is set) and ``roi`` (fraction (won_revenue - cost) /
    cost on that row; NaN when there is no cost, it is zero, or on rows in another
    currency: revenue is never converted).

    Filters: the period keeps the campaigns *starting* in it (``starts_on``; undated
    campaigns are then left out); ``owner``/``team`` count only the deals those users
    own (a sales user sees only their own deals; targeted and responded are not
    owned and are not affected); ``campaign`` picks one campaign.
    """
    o, m = Opportunity, CampaignMember
    with scope.ws.transaction() as s:
        members = (
            select(
                m.campaign_id,
                func.count().label("targeted"),
                func.count(m.responded_at).label("responded"),
            )
            .group_by(m.campaign_id)
            .subquery()
        )
        picked: list[Any] = scope.days_in_period(Campaign.starts_on)
        if scope.campaign_id is not None:
            picked.append(Campaign.id == scope.campaign_id)
        campaigns = s.execute(
            select(
                Campaign.id,
                Campaign.name,
                Campaign.channel,
                Campaign.starts_on,
                Campaign.cost,
                Campaign.currency,
                func.coalesce(members.c.targeted, 0),
                func.coalesce(members.c.responded, 0),
            )
            .outerjoin(members, members.c.campaign_id == Campaign.id)
            .where(*picked)
        ).all()
        won = o.status == "won"
        deals = s.execute(
            select(
                o.campaign_id,
                o.currency,
                func.count(o.id),
                func.coalesce(func.sum(case((won, 1), else_=0)), 0),
                cast(func.coalesce(func.sum(case((won, o.expected_revenue), else_=0)), 0), MONEY),
            )
            .where(o.campaign_id.in_(select(Campaign.id).where(*picked)), *scope.deals(o))
            .group_by(o.campaign_id, o.currency)
        ).all()
    by_campaign: dict[int, dict[str, tuple[int, int, Decimal]]] = {}
    for campaign_id, cur, n, n_won, revenue in deals:
        by_campaign.setdefault(campaign_id, {})[cur] = (int(n), int(n_won), _money(revenue))
    default = scope.ws.setting("currency")
    nothing = (0, 0, Decimal("0.00"))
    rows = []
    for cid, name, channel, starts_on, cost, cost_currency, targeted, responded in campaigns:
        figures = by_campaign.get(cid, {})
        currencies = set(figures)
        if cost is not None and cost_currency:
            currencies.add(cost_currency)
        rate = int(responded) / int(targeted) if targeted else float("nan")
        for cur in sorted(currencies) or [cost_currency or default]:
            n, n_won, revenue = figures.get(cur, nothing)
            row_cost = _money(cost) if cost is not None and cur == cost_currency else None
            roi = float((revenue - row_cost) / row_cost) if row_cost else float("nan")
            rows.append(
                (
                    name,
                    channel,
                    starts_on,
                    int(targeted),
                    int(responded),
                    rate,
                    n,
                    n_won,
                    cur,
                    revenue,
                    row_cost,
                    roi,
                )
            )
    rows.sort(key=lambda r: (r[2] is None, r[2] or "", r[0], r[8]))
    frame = pd.DataFrame(rows, columns=REGISTRY["campaign_results"].column_names)
    return frame.astype({"response_rate": float, "roi": float})
