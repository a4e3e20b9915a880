"""Campaign reports: who was targeted, who responded, what it won and what it paid back.

Aggregated in SQL; amounts in different currencies are never added as they are (one
row per currency): the return on a campaign's cost is worked out once per campaign,
on its won revenue and cost converted to the reporting currency.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import case, cast, func, select

from crm_core.mail.campaigns import mail_counts
from crm_core.models import Campaign, CampaignMember, Opportunity
from crm_core.reports.base import (
    REGISTRY,
    REPORTING_CURRENCY,
    Chart,
    Column,
    Scope,
    converted,
    name_order,
    report,
)
from crm_core.services.figures import MONEY, money, total


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
        REPORTING_CURRENCY,
        converted("won_revenue", "won_revenue"),
        converted("cost", "cost"),
        Column(
            "roi",
            "percent",
            "the campaign's (won revenue - cost) / cost, all its currencies converted; "
            "the same on each of its rows; empty in a view narrowed to some owners (an "
            "owner/team filter, a sales user's own view)",
        ),
        Column("sent", "int", "campaign e-mails the server accepted"),
        Column("delivered", "int", "of which not bounced"),
        Column("bounced", "int", "of which bounced"),
        Column("replied", "int", "members who answered in the thread of their e-mail"),
    ],
    filters=("period_from", "period_to", "owner", "team", "campaign"),
    chart=Chart(
        "column", "campaign", ("won_revenue", "cost"), "Won revenue and cost by campaign", top=10
    ),
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
    elsewhere or when no cost is set); ``reporting_currency``,
    ``won_revenue_converted`` (each won deal converted at the rate of the day it
    closed, ``closed_at`` in the workspace time zone) and ``cost_converted`` (at the
    rate of ``starts_on``, today's for an undated campaign; on the cost's row), None
    when a rate is missing; and ``roi``: one figure per campaign, repeated on each of
    its rows, fraction (sum of won_revenue_converted over its rows - cost_converted)
    / cost_converted; NaN when there is no cost, it is zero, or a rate is missing.
    The ROI is the campaign's, never a part of its revenue against its whole cost: it
    is NaN as well in a view narrowed to some owners (an ``owner`` or ``team`` filter,
    or a sales user's view of their own deals), whoever owns its won deals (so that
    the figure tells nothing of deals the view does not show), the cost still shown;
    the frame's ``attrs["roi_not_computed"]`` then says why, per campaign with a cost.
    Then the campaign's e-mails (crm_core.mail, repeated on each of its rows):
    ``sent`` (accepted by the SMTP server), ``delivered`` (sent and no bounce came
    back), ``bounced`` and ``replied`` (members with an incoming e-mail in the thread
    of the campaign message sent to them).

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
        mail = mail_counts()
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
                mail.c.sent,
                mail.c.delivered,
                mail.c.bounced,
                mail.c.replied,
            )
            .outerjoin(members, members.c.campaign_id == Campaign.id)
            .join(mail, mail.c.campaign_id == Campaign.id)
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
        wins = s.execute(
            select(o.campaign_id, o.currency, o.expected_revenue, o.closed_at).where(
                won, o.campaign_id.in_(select(Campaign.id).where(*picked)), *scope.deals(o)
            )
        ).all()
    tz, today = scope.ws.timezone, scope.today()
    won_converted: dict[tuple[int | None, str], list[Decimal | None]] = {}
    for campaign_id, cur, revenue, closed_at in wins:
        day = closed_at.astimezone(tz).date() if closed_at is not None else today
        parts = won_converted.setdefault((campaign_id, cur), [])
        parts.append(scope.convert(revenue or Decimal(0), cur, day))
    by_campaign: dict[int, dict[str, tuple[int, int, Decimal]]] = {}
    for campaign_id, cur, n, n_won, revenue in deals:
        by_campaign.setdefault(campaign_id, {})[cur] = (int(n), int(n_won), money(revenue, cur))
    default = scope.ws.setting("currency")
    reporting = scope.rates.reporting
    nothing = (0, 0, Decimal("0.00"))
    rows = []
    not_computed: dict[str, str] = {}
    for (
        cid,
        name,
        channel,
        starts_on,
        cost,
        cost_currency,
        targeted,
        responded,
        *emails,
    ) in campaigns:
        figures = by_campaign.get(cid, {})
        currencies = set(figures)
        if cost is not None and cost_currency:
            currencies.add(cost_currency)
        rate = int(responded) / int(targeted) if targeted else float("nan")
        mine = []
        for cur in sorted(currencies) or [cost_currency or default]:
            n, n_won, revenue = figures.get(cur, nothing)
            row_cost = money(cost, cur) if cost is not None and cur == cost_currency else None
            revenue_conv = total(won_converted.get((cid, cur), []))
            cost_conv = scope.convert(row_cost, cur, starts_on or today)
            head = [name, channel, starts_on, int(targeted), int(responded), rate, n, n_won]
            mine.append([*head, cur, revenue, row_cost, reporting, revenue_conv, cost_conv])
        won_total = total([row[12] for row in mine])
        cost_total = next((row[13] for row in mine if row[10] is not None), None)
        has_cost = cost is not None and cost_currency
        # The ROI is the whole campaign's: never part of its revenue against its whole
        # cost, and never a hint of others' deals (a sales user's view).
        whole = scope.owner_ids is None
        roi = (
            float((won_total - cost_total) / cost_total)
            if has_cost and cost_total and won_total is not None and whole
            else float("nan")
        )
        if has_cost and not whole:
            not_computed[name] = PARTIAL_ROI
        rows += [(*row, roi, *(int(x) for x in emails)) for row in mine]
    rows.sort(key=lambda r: (r[2] is None, r[2] or "", name_order(r[0]), r[8]))
    frame = pd.DataFrame(rows, columns=REGISTRY["campaign_results"].column_names)
    for name in ("won_revenue_converted", "cost_converted"):
        frame[name] = frame[name].astype(object)
    frame = frame.astype({"response_rate": float, "roi": float})
    frame.attrs["roi_not_computed"] = not_computed
    return frame


#: Why a campaign's ROI is left empty (``attrs["roi_not_computed"]``).
PARTIAL_ROI = (
    "the ROI is the whole campaign's, and this view (an owner or team filter, or a "
    "sales user's own deals) shows only some of its deals"
)
