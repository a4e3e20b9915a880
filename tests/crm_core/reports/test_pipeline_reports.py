"""Pipeline reports (pipeline_by_stage, funnel, stage_velocity, win_loss) against values
worked out by hand on a small book of deals with explicit stage paths."""

import datetime as dt
import math
from decimal import Decimal

import pytest

from crm_core import ValidationError
from crm_core.models import Opportunity

D = Decimal
NAN = float("nan")


def at(text):
    """A UTC instant from ``"MM-DD HH:MM"`` in 2026."""
    return dt.datetime.fromisoformat(f"2026-{text}").replace(tzinfo=dt.UTC)


@pytest.fixture
def book(ws, clock):
    """Ten deals on the Sales pipeline and one on a second pipeline, in Asia/Karachi
    (UTC+5). Sales stages: New 10 (10%), Qualified 20 (30%), Proposition 30 (60%),
    Negotiation 40 (80%), Won 50, Lost 60. Times are UTC, 2026; "now" is 05-15 09:30.

    ========  =====  ===========  ==========================================  =========
    deal      owner  revenue      path (entered at)                           outcome
    ========  =====  ===========  ==========================================  =========
    uniforms  bilal  PKR 1000000  New 03-02 09:30, Qualified 03-12,           open
                                  Proposition 04-15 (all 09:30)
    towels    olga   PKR  500000  New 03-31 20:00 (= 04-01 01:00 in Karachi)  open
    export    bilal  USD   20000  New 04-05, Negotiation 04-10                open
    shirts    bilal  PKR  300000  New 03-05, Qualified 03-09, Won 03-15       won
    bedding   olga   PKR  200000  New 04-02, Proposition 04-04, Lost 04-12    lost: Too expensive
    lamps     bilal  USD    5000  New 04-06, Lost 04-16                       lost: (reason erased)
    curtains  olga   USD   10000  New 04-20, Won 05-02                        won
    rugs      olga   PKR   50000  New 04-08, Lost 05-09                       lost: Too expensive
    ghost     bilal  PKR     999  New 03-03, Qualified 03-04                  open, archived
    hidden    bilal  PKR     888  New 03-03, Won 03-03                        won, archived
    crate     bilal  EUR    3000  pipeline "Export", stage Offer (50%)        open
    ========  =====  ===========  ==========================================  =========

    Teams: bilal "Karachi", olga "Москва". Tag vip: uniforms, curtains, ghost, hidden.
    Source fair: uniforms, shirts, curtains, ghost, hidden; web: towels, export.
    Campaign Expo: uniforms, shirts, curtains, ghost, hidden. Expected close: uniforms
    06-10, towels 05-20, export 07-15, ghost 05-31, crate 08-01.
    """
    ws.set_setting("timezone", "Asia/Karachi")
    ws.users.add("Bilal Ahmed", "bilal", role="sales", team="Karachi")
    ws.users.add("Olga Smirnova", "olga", role="sales", team="Москва")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    indus = ws.companies.create(name="Indus Textiles", country="PK")["id"]
    kazan = ws.companies.create(name="Kazan Home", country="RU")["id"]
    expo = ws.campaigns.create("Expo", channel="fair", starts_on="2026-03-01")["id"]
    ws.pipeline.create_pipeline(
        "Export",
        [("Lead", 20, False, False), ("Offer", 50, False, False), ("Signed", 100, True, False)],
    )
    p = ws.pipeline
    start = clock.now

    def deal(when, name, owner, revenue, currency, **more):
        clock.now = at(when)
        company = indus if owner == "bilal" else kazan
        return p.create(
            name,
            owner=owner,
            expected_revenue=revenue,
            currency=currency,
            company=company,
            **more,
        )["id"]

    def then(when, action, deal_id, *args):
        clock.now = at(when)
        getattr(p, action)(deal_id, *args)

    fair = {"source": "fair", "campaign": expo}
    uniforms = deal(
        "03-02 09:30",
        "uniforms",
        "bilal",
        "1000000",
        "PKR",
        tags=["vip"],
        expected_close="2026-06-10",
        **fair,
    )
    then("03-12 09:30", "move", uniforms, "Qualified")
    then("04-15 09:30", "move", uniforms, "Proposition")
    deal(
        "03-31 20:00", "towels", "olga", "500000", "PKR", source="web", expected_close="2026-05-20"
    )
    export = deal(
        "04-05 09:30", "export", "bilal", "20000", "USD", source="web", expected_close="2026-07-15"
    )
    then("04-10 09:30", "move", export, "Negotiation")
    shirts = deal("03-05 09:30", "shirts", "bilal", "300000", "PKR", **fair)
    then("03-09 09:30", "move", shirts, "Qualified")
    then("03-15 09:30", "win", shirts)
    bedding = deal("04-02 09:30", "bedding", "olga", "200000", "PKR")
    then("04-04 09:30", "move", bedding, "Proposition")
    then("04-12 09:30", "lose", bedding, "Too expensive")
    lamps = deal("04-06 09:30", "lamps", "bilal", "5000", "USD")
    then("04-16 09:30", "lose", lamps, "Not responsive")
    with ws.transaction() as s:  # as an ERP import may leave a lost deal: no reason
        s.get(Opportunity, lamps).lost_reason_id = None
    curtains = deal("04-20 09:30", "curtains", "olga", "10000", "USD", tags=["vip"], **fair)
    then("05-02 09:30", "win", curtains)
    rugs = deal("04-08 09:30", "rugs", "olga", "50000", "PKR")
    then("05-09 09:30", "lose", rugs, "Too expensive")
    ghost = deal(
        "03-03 09:30",
        "ghost",
        "bilal",
        "999",
        "PKR",
        tags=["vip"],
        expected_close="2026-05-31",
        **fair,
    )
    then("03-04 09:30", "move", ghost, "Qualified")
    p.archive(ghost)
    hidden = deal("03-03 09:30", "hidden", "bilal", "888", "PKR", tags=["vip"], **fair)
    then("03-03 09:30", "win", hidden)
    p.archive(hidden)
    clock.now = start
    p.create(
        "crate",
        pipeline="Export",
        stage="Offer",
        owner="bilal",
        expected_revenue="3000",
        currency="EUR",
        expected_close="2026-08-01",
    )
    return {"expo": expo}


def per_currency(frame):
    """The frame without the reporting-currency columns (tested in test_converted)."""
    return frame.drop(
        columns=[c for c in frame.columns if c.endswith("_converted") or c == "reporting_currency"]
    )


def rows(frame):
    """The frame's per-currency columns as plain lists, NaN replaced by None so that
    lists compare."""
    return [
        [None if isinstance(x, float) and math.isnan(x) else x for x in row]
        for row in per_currency(frame).values.tolist()
    ]


# -- pipeline by stage ---------------------------------------------------------------------
def test_pipeline_by_stage_lists_every_open_stage_per_currency(ws, book):
    frame = ws.reports.pipeline_by_stage()
    assert list(per_currency(frame).columns) == [
        "pipeline",
        "stage",
        "sequence",
        "currency",
        "count",
        "value",
        "weighted_value",
    ]
    assert rows(frame) == [
        ["Sales", "New", 10, "PKR", 1, D("500000.00"), D("50000.00")],  # towels at 10%
        ["Sales", "New", 10, "USD", 0, D("0.00"), D("0.00")],
        ["Sales", "Qualified", 20, "PKR", 0, D("0.00"), D("0.00")],  # ghost is archived
        ["Sales", "Qualified", 20, "USD", 0, D("0.00"), D("0.00")],
        ["Sales", "Proposition", 30, "PKR", 1, D("1000000.00"), D("600000.00")],
        ["Sales", "Proposition", 30, "USD", 0, D("0.00"), D("0.00")],
        ["Sales", "Negotiation", 40, "PKR", 0, D("0.00"), D("0.00")],
        ["Sales", "Negotiation", 40, "USD", 1, D("20000.00"), D("16000.00")],
        ["Export", "Lead", 10, "EUR", 0, D("0.00"), D("0.00")],
        ["Export", "Offer", 20, "EUR", 1, D("3000.00"), D("1500.00")],
    ]


def test_pipeline_by_stage_filters_and_a_sales_users_view(ws, book):
    def figures(frame):
        return [r[:2] + r[3:] for r in rows(frame) if r[4]]  # non-empty rows only

    olga = ws.reports.pipeline_by_stage(owner="olga")
    assert figures(olga) == [["Sales", "New", "PKR", 1, D("500000.00"), D("50000.00")]]
    # the Export pipeline has none of her deals: its stages in the workspace currency
    assert olga[olga.pipeline == "Export"][["stage", "currency", "count"]].values.tolist() == [
        ["Lead", "USD", 0],
        ["Offer", "USD", 0],
    ]
    # period = expected close date: uniforms 06-10 and towels 05-20, not export 07-15
    closing = ws.reports.pipeline_by_stage(period_from="2026-05-01", period_to="2026-06-30")
    assert figures(closing) == [
        ["Sales", "New", "PKR", 1, D("500000.00"), D("50000.00")],
        ["Sales", "Proposition", "PKR", 1, D("1000000.00"), D("600000.00")],
    ]
    assert figures(ws.reports.pipeline_by_stage(tag="VIP")) == [
        ["Sales", "Proposition", "PKR", 1, D("1000000.00"), D("600000.00")],
    ]
    assert figures(ws.reports.pipeline_by_stage(source="web")) == [
        ["Sales", "New", "PKR", 1, D("500000.00"), D("50000.00")],
        ["Sales", "Negotiation", "USD", 1, D("20000.00"), D("16000.00")],
    ]
    # a source as the deals write it, in any case and spacing
    assert rows(ws.reports.pipeline_by_stage(source=" WEB ")) == rows(
        ws.reports.pipeline_by_stage(source="web")
    )
    bilal = ws.as_user("bilal").reports.pipeline_by_stage()
    assert figures(bilal) == [
        ["Sales", "Proposition", "PKR", 1, D("1000000.00"), D("600000.00")],
        ["Sales", "Negotiation", "USD", 1, D("20000.00"), D("16000.00")],
        ["Export", "Offer", "EUR", 1, D("3000.00"), D("1500.00")],
    ]
    assert rows(ws.reports.pipeline_by_stage(team="Karachi")) == rows(bilal)
    # a sales user asking for someone else's deals is refused, not given zeros
    with pytest.raises(ValidationError, match="sees only their own figures"):
        ws.as_user("bilal").reports.pipeline_by_stage(owner="olga")


# -- funnel ----------------------------------------------------------------------------------
def test_funnel_per_creation_month_from_the_stage_history(ws, book):
    """Cohort 2026-03: uniforms (top: Proposition), shirts (won). Cohort 2026-04 (Karachi
    time): towels (New), bedding (Proposition, then lost), export (New straight to
    Negotiation), lamps (New, lost), curtains (New straight to won), rugs (New, lost).
    The archived ghost and hidden and the Export pipeline's crate are not counted."""
    frame = ws.reports.funnel()
    assert list(frame.columns) == [
        "cohort",
        "stage",
        "sequence",
        "reached",
        "conversion",
        "win_rate",
    ]
    assert frame[["cohort", "stage", "sequence", "reached"]].values.tolist() == [
        ["2026-03", "New", 10, 2],
        ["2026-03", "Qualified", 20, 2],
        ["2026-03", "Proposition", 30, 2],
        ["2026-03", "Negotiation", 40, 1],
        ["2026-03", "Won", 50, 1],
        ["2026-04", "New", 10, 6],
        ["2026-04", "Qualified", 20, 3],
        ["2026-04", "Proposition", 30, 3],
        ["2026-04", "Negotiation", 40, 2],
        ["2026-04", "Won", 50, 1],
    ]
    assert frame["conversion"].tolist() == pytest.approx(
        [1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 0.5, 1.0, 2 / 3, 0.5]
    )
    assert frame["win_rate"].tolist() == pytest.approx([0.5] * 5 + [1 / 6] * 5)


def test_funnel_filters_and_time_zone(ws, book):
    april = ws.reports.funnel(period_from="2026-04-01")  # towels: 01:00 on 1 April there
    assert april[["cohort", "reached"]].values.tolist() == [["2026-04", n] for n in (6, 3, 3, 2, 1)]
    fair = ws.reports.funnel(source="fair", period_from="2026-04-01")  # curtains only
    assert fair["reached"].tolist() == [1, 1, 1, 1, 1]
    assert fair["conversion"].tolist() == [1.0] * 5
    assert fair["win_rate"].tolist() == [1.0] * 5
    bilal = ws.reports.funnel(owner="bilal", period_from="2026-04-01")  # export, lamps
    assert bilal["reached"].tolist() == [2, 1, 1, 1, 0]
    assert bilal["conversion"].tolist() == [1.0, 0.5, 1.0, 1.0, 0.0]
    assert bilal["win_rate"].tolist() == [0.0] * 5
    expo = ws.reports.funnel(campaign="Expo")  # uniforms, shirts / curtains
    assert expo[["cohort", "reached"]].values.tolist() == [
        *(["2026-03", n] for n in (2, 2, 2, 1, 1)),
        *(["2026-04", 1] for _ in range(5)),
    ]
    ws.set_setting("timezone", "UTC")  # towels now belongs to March
    utc = ws.reports.funnel()
    assert utc[utc.stage == "New"][["cohort", "reached"]].values.tolist() == [
        ["2026-03", 3],
        ["2026-04", 5],
    ]
    assert utc[utc.stage == "Won"]["win_rate"].tolist() == pytest.approx([1 / 3, 1 / 5])


def test_funnel_of_an_empty_book_has_no_rows(ws):
    frame = ws.reports.funnel()
    assert frame.empty and list(frame.columns) == ws.reports.spec("funnel").column_names


# -- stage velocity --------------------------------------------------------------------------
def test_stage_velocity_median_days_per_stage(ws, book):
    """Stays that ended (days): New 10 uniforms, 4 shirts, 2 bedding, 5 export,
    10 lamps, 12 curtains, 31 rugs: median 10, mean 74/7 = 10.57. Qualified 34
    uniforms, 6 shirts. Proposition 8 bedding. Still there now (05-15 09:30): towels in
    New since 03-31 20:00 (44.56 days), uniforms in Proposition (30), export in
    Negotiation (35). Archived deals (ghost: 1 day in New, hidden: 0) are left out."""
    frame = ws.reports.stage_velocity()
    assert list(frame.columns) == [
        "stage",
        "sequence",
        "transitions",
        "median_days",
        "mean_days",
        "still_in_stage",
        "still_median_days",
    ]
    assert rows(frame) == [
        ["New", 10, 7, 10.0, 10.6, 1, 44.6],
        ["Qualified", 20, 2, 20.0, 20.0, 0, None],
        ["Proposition", 30, 1, 8.0, 8.0, 1, 30.0],
        ["Negotiation", 40, 0, None, None, 1, 35.0],
    ]


def test_stage_velocity_period_counts_stays_that_entered_in_it(ws, book):
    # entered 3 April to 31 May: New export 5, lamps 10, rugs 31, curtains 12;
    # Proposition bedding 8 and uniforms (still); Negotiation export (still)
    frame = ws.reports.stage_velocity(period_from="2026-04-03", period_to="2026-05-31")
    assert rows(frame) == [
        ["New", 10, 4, 11.0, 14.5, 0, None],
        ["Qualified", 20, 0, None, None, 0, None],
        ["Proposition", 30, 1, 8.0, 8.0, 1, 30.0],
        ["Negotiation", 40, 0, None, None, 1, 35.0],
    ]
    # any case in any script (SQLite's lower() folds only ASCII)
    moscow = ws.reports.stage_velocity(team="МОСКВА")  # towels, bedding, curtains, rugs
    assert rows(moscow) == [
        ["New", 10, 3, 12.0, 15.0, 1, 44.6],
        ["Qualified", 20, 0, None, None, 0, None],
        ["Proposition", 30, 1, 8.0, 8.0, 0, None],
        ["Negotiation", 40, 0, None, None, 0, None],
    ]
    assert rows(ws.reports.stage_velocity(tag="vip")) == [  # uniforms, curtains
        ["New", 10, 2, 11.0, 11.0, 0, None],
        ["Qualified", 20, 1, 34.0, 34.0, 0, None],
        ["Proposition", 30, 0, None, None, 1, 30.0],
        ["Negotiation", 40, 0, None, None, 0, None],
    ]


# -- win and loss ----------------------------------------------------------------------------
def test_win_loss_by_outcome_reason_and_currency(ws, book):
    frame = ws.reports.win_loss()
    assert list(per_currency(frame).columns) == [
        "outcome",
        "reason",
        "currency",
        "count",
        "value",
        "share",
    ]
    assert per_currency(frame).drop(columns="share").values.tolist() == [
        ["won", "won", "PKR", 1, D("300000.00")],  # shirts (hidden is archived)
        ["won", "won", "USD", 1, D("10000.00")],  # curtains
        ["lost", "(no reason)", "USD", 1, D("5000.00")],  # lamps
        ["lost", "Too expensive", "PKR", 2, D("250000.00")],  # bedding, rugs
    ]
    assert frame["share"].tolist() == pytest.approx([0.5, 0.5, 1 / 3, 2 / 3])


def test_win_loss_filters(ws, book):
    def table(frame):
        return per_currency(frame).values.tolist()

    april = ws.reports.win_loss(period_from="2026-04-01", period_to="2026-04-30")
    assert table(april) == [
        ["lost", "(no reason)", "USD", 1, D("5000.00"), 0.5],
        ["lost", "Too expensive", "PKR", 1, D("200000.00"), 0.5],
    ]
    may = ws.reports.win_loss(period_from="2026-05-01", period_to="2026-05-31")
    assert table(may) == [
        ["won", "won", "USD", 1, D("10000.00"), 1.0],
        ["lost", "Too expensive", "PKR", 1, D("50000.00"), 1.0],
    ]
    assert table(ws.reports.win_loss(campaign="Expo")) == [
        ["won", "won", "PKR", 1, D("300000.00"), 0.5],
        ["won", "won", "USD", 1, D("10000.00"), 0.5],
    ]
    assert table(ws.reports.win_loss(campaign=book["expo"], owner="bilal")) == [
        ["won", "won", "PKR", 1, D("300000.00"), 1.0],
    ]
    assert table(ws.as_user("olga").reports.win_loss()) == [
        ["won", "won", "USD", 1, D("10000.00"), 1.0],
        ["lost", "Too expensive", "PKR", 2, D("250000.00"), 1.0],
    ]
    assert ws.reports.win_loss(period_to="2026-03-14").empty  # shirts was won on 15 March


# -- bad filters -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("filters", "field", "reason"),
    [
        ({"owner": "nobody"}, "owner", "no such user"),
        ({"team": "Lahore"}, "team", "no user is in this team"),
        ({"tag": "gold"}, "tag", "no such tag"),
        ({"source": "fax"}, "source", "no deal has this source"),
        ({"campaign": "Nope"}, "campaign", "no such campaign"),
        ({"period_from": "last week"}, "period_from", "YYYY-MM-DD"),
        ({"period_from": "2026-05-31", "period_to": "2026-05-01"}, "period_to", "before"),
        ({"stage": "New"}, "stage", "is not a filter"),
    ],
)
def test_bad_filters_are_refused_naming_the_filter(ws, filters, field, reason):
    for name in ("pipeline_by_stage", "funnel", "stage_velocity", "win_loss"):
        with pytest.raises(ValidationError) as caught:
            ws.reports.run(name, **filters)
        assert [e.field for e in caught.value.errors] == [field]
        assert reason in str(caught.value)
