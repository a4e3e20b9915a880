"""The customer reports (sales per customer with aging, RFM segments) from ERP invoice
copies, checked against values worked out by hand on a small book."""

import datetime as dt
from decimal import Decimal

import pytest

from crm_core import ValidationError
from crm_core.models import Invoice
from crm_core.reports.customers import segment

D = Decimal
day = dt.date.fromisoformat

# One invoice per line: n, move type, state, invoice date, due date ("-": none),
# currency, untaxed, total, residual, payment state, paid on, customer key.
INVOICES = """
 1 out_invoice posted 2026-04-02 2026-05-02 PKR 100000 118000     0 paid     2026-04-12 indus
 2 out_invoice posted 2026-04-10 2026-04-25 PKR  50000  59000     0 paid     2026-05-10 ali
 3 out_refund  posted 2026-04-20 -          PKR  20000  23600     0 paid     -          indus
 4 out_invoice posted 2026-03-01 2026-03-31 PKR  40000  47200 47200 not_paid -          indus
 5 out_invoice draft  2026-04-15 -          PKR    999    999   999 not_paid -          kazan
 6 out_invoice posted 2026-04-05 -          USD   1000   1000   400 partial  -          indus
 7 out_invoice posted 2026-05-01 2026-05-31 PKR  10000  11800 11800 not_paid -          kazan
 8 out_invoice posted 2026-03-20 2026-04-15 PKR   2000   2000  1000 partial  -          kazan
 9 out_invoice posted 2026-02-01 2026-03-16 PKR   3000   3000  3000 not_paid -          kazan
10 out_invoice posted 2026-01-15 2026-02-14 PKR   5000   5000  5000 not_paid -          kazan
11 out_invoice posted 2025-12-01 2025-12-31 PKR   7000   7000  7000 not_paid -          kazan
12 out_invoice posted 2026-04-25 2026-05-25 PKR  20000  23600     0 paid     2026-05-05 kazan
13 out_invoice cancel 2026-04-26 -          PKR  99999  99999     0 not_paid -          kazan
14 out_invoice posted 2026-02-10 2026-03-12 PKR   8000   8000     0 paid     2026-03-01 masha
15 out_invoice posted 2026-04-20 -          USD    500    500     0 paid     2026-04-22 masha
16 out_refund  posted 2026-05-05 -          PKR   1000   1180  1180 not_paid -          kazan
17 out_invoice posted 2026-05-14 -          PKR   8000   8000     0 paid     2026-05-14 lahore
18 out_invoice posted 2026-04-10 -          PKR  30000  30000     0 paid     2026-04-30 volga
19 out_invoice posted 2026-04-30 -          PKR  30000  30000     0 paid     2026-05-10 volga
20 in_invoice  posted 2026-04-11 -          PKR   5555   5555  5555 not_paid -          volga
"""


@pytest.fixture
def book(ws):
    """Customers and their ERP invoice copies; today is 2026-05-15.

    Customers and owners: Indus Textiles (company, bilal; Ali Raza works there, so
    invoice 2, made out to Ali, is Indus's), Lahore Looms (company, bilal), Kazan
    Home (company, olga), Volga Linen (company, olga), Masha Petrova (contact without
    a company, olga). Bilal is in team Karachi, Olga in team Moscow.

    Left out everywhere: the draft (5), the cancelled invoice (13) and the vendor bill
    (20). Open balances and days past due (today minus due date, or invoice date):

    ====  =====  ========  ======  =====  =========
    inv   cust   residual  due     days   bucket
    ====  =====  ========  ======  =====  =========
    4     Indus  47200     Mar 31  45     31-60
    6     Indus  400 USD   (Apr 5) 40     31-60
    7     Kazan  11800     May 31  -16    0-30
    8     Kazan  1000      Apr 15  30     0-30
    9     Kazan  3000      Mar 16  60     31-60
    10    Kazan  5000      Feb 14  90     61-90
    11    Kazan  7000      Dec 31  135    90+
    16    Kazan  -1180     May 5   10     0-30 (an unpaid credit note subtracts)
    ====  =====  ========  ======  =====  =========
    """
    ws.users.add("Bilal Ahmed", "bilal", role="sales", team="Karachi")
    ws.users.add("Olga Smirnova", "olga", role="sales", team="Moscow")
    ids = {
        "indus": ("company", ws.companies.create(name="Indus Textiles", owner="bilal")["id"]),
        "lahore": ("company", ws.companies.create(name="Lahore Looms", owner="bilal")["id"]),
        "kazan": ("company", ws.companies.create(name="Kazan Home", owner="olga")["id"]),
        "volga": ("company", ws.companies.create(name="Volga Linen", owner="olga")["id"]),
        "masha": ("contact", ws.contacts.create(name="Masha Petrova", owner="olga")["id"]),
    }
    ali = ws.contacts.create(name="Ali Raza", company=ids["indus"][1], owner="olga")["id"]
    with ws.transaction() as s:
        for line in INVOICES.strip().splitlines():
            fields = [None if x == "-" else x for x in line.split()]
            n, kind, state, date, due, cur, untaxed, total, residual, pay, paid, who = fields
            if who == "ali":  # erp_bridge fills in the company of a contact who has one
                company, contact = ids["indus"][1], ali
            else:
                company = ids[who][1] if ids[who][0] == "company" else None
                contact = ids[who][1] if ids[who][0] == "contact" else None
            s.add(
                Invoice(
                    backend="odoo-test",
                    remote_id=int(n),
                    number=f"INV/{n}",
                    move_type=kind,
                    company_id=company,
                    contact_id=contact,
                    invoice_date=day(date),
                    due_date=day(due) if due else None,
                    currency=cur,
                    amount_untaxed=D(untaxed),
                    amount_total=D(total),
                    amount_residual=D(residual),
                    state=state,
                    payment_state=pay,
                    paid_on=day(paid) if paid else None,
                )
            )
    return {key: value[1] for key, value in ids.items()}


def per_currency(frame):
    """The frame without the reporting-currency columns (tested in test_converted)."""
    extra = [c for c in frame.columns if c.endswith("_converted")]
    extra += [c for c in ("reporting_currency", "rank") if c in frame.columns]
    return frame.drop(columns=extra)


def rows(frame):
    return [tuple(r) for r in per_currency(frame).itertuples(index=False)]


Z = D("0.00")


def sales_rows(b):
    """The expected April rows, by key."""
    return {
        # 100000 + 50000 - 20000; paid after 10 and 30 days
        "indus_pkr": ("Indus Textiles", "company", b["indus"], "PKR", D("130000.00"), 2,
                      D("65000.00"), 20.0, D("47200.00"), Z, D("47200.00"), Z, Z),
        # 30000 + 30000, paid after 20 and 10 days
        "volga_pkr": ("Volga Linen", "company", b["volga"], "PKR", D("60000.00"), 2,
                      D("30000.00"), 15.0, Z, Z, Z, Z, Z),
        # 11800 + 1000 - 1180 | 3000 | 5000 | 7000
        "kazan_pkr": ("Kazan Home", "company", b["kazan"], "PKR", D("20000.00"), 1,
                      D("20000.00"), 10.0, D("26620.00"), D("11620.00"), D("3000.00"),
                      D("5000.00"), D("7000.00")),
        "indus_usd": ("Indus Textiles", "company", b["indus"], "USD", D("1000.00"), 1,
                      D("1000.00"), None, D("400.00"), Z, D("400.00"), Z, Z),
        "masha_usd": ("Masha Petrova", "contact", b["masha"], "USD", D("500.00"), 1,
                      D("500.00"), 2.0, Z, Z, Z, Z, Z),
    }  # fmt: skip


# -- sales per customer ----------------------------------------------------------------------
def test_sales_per_customer_in_a_month(ws, book):
    frame = ws.reports.sales_per_customer(period_from="2026-04-01", period_to="2026-04-30")
    assert list(per_currency(frame).columns) == [
        "customer",
        "customer_type",
        "customer_id",
        "currency",
        "revenue",
        "invoices",
        "average_ticket",
        "days_to_pay",
        "open_balance",
        "age_0_30",
        "age_31_60",
        "age_61_90",
        "age_90_plus",
    ]
    expected = sales_rows(book)
    # Masha's PKR (February, paid) and Lahore (May, paid) have nothing in April.
    # Ranked in the reporting currency (USD), which has no rate from PKR here: Masha
    # (USD only) first, then the customers without a rank, by their largest row.
    assert rows(frame) == [
        expected[k] for k in ("masha_usd", "indus_pkr", "indus_usd", "volga_pkr", "kazan_pkr")
    ]
    assert all(type(x) is Decimal for x in frame["revenue"])


def test_open_balance_keeps_a_customer_and_a_refund_subtracts(ws, book):
    b = book
    frame = ws.reports.sales_per_customer(period_from="2026-04-20", period_to="2026-04-20")
    assert rows(frame) == [
        ("Masha Petrova", "contact", b["masha"], "USD", D("500.00"), 1, D("500.00"), 2.0,
         Z, Z, Z, Z, Z),
        # no revenue in the period is 0 in any currency: ranked second
        ("Kazan Home", "company", b["kazan"], "PKR", Z, 0, None, None,
         D("26620.00"), D("11620.00"), D("3000.00"), D("5000.00"), D("7000.00")),
        # only the credit note of 20 April, in PKR (no rate to USD here): unranked
        ("Indus Textiles", "company", b["indus"], "PKR", D("-20000.00"), 0, None, None,
         D("47200.00"), Z, D("47200.00"), Z, Z),
        ("Indus Textiles", "company", b["indus"], "USD", Z, 0, None, None,
         D("400.00"), Z, D("400.00"), Z, Z),
    ]  # fmt: skip


def test_sales_per_customer_for_all_time(ws, book):
    frame = ws.reports.sales_per_customer()
    got = {
        (r.customer, r.currency): (r.revenue, r.invoices, r.days_to_pay) for r in frame.itertuples()
    }
    assert got == {
        ("Indus Textiles", "PKR"): (D("170000.00"), 3, 20.0),  # + invoice 4 (unpaid)
        ("Kazan Home", "PKR"): (D("46000.00"), 6, 10.0),  # 47000 - refund 16
        ("Volga Linen", "PKR"): (D("60000.00"), 2, 15.0),
        ("Masha Petrova", "PKR"): (D("8000.00"), 1, 19.0),  # 10 Feb -> 1 Mar
        ("Lahore Looms", "PKR"): (D("8000.00"), 1, 0.0),
        ("Indus Textiles", "USD"): (D("1000.00"), 1, None),
        ("Masha Petrova", "USD"): (D("500.00"), 1, 2.0),
    }  # fmt: skip
    # every customer has a PKR row and no PKR rate: unranked, by their largest row
    assert list(frame["customer"].drop_duplicates()[:2]) == ["Indus Textiles", "Volga Linen"]
    assert frame["rank"].isna().all()


def test_sales_per_customer_by_owner_team_and_for_a_sales_user(ws, book):
    april = {"period_from": "2026-04-01", "period_to": "2026-04-30"}
    expected = sales_rows(book)
    bilal = ws.reports.sales_per_customer(owner="bilal", **april)
    assert rows(bilal) == [expected["indus_pkr"], expected["indus_usd"]]
    moscow = ws.reports.sales_per_customer(team="Moscow", **april)
    assert rows(moscow) == [expected[k] for k in ("masha_usd", "volga_pkr", "kazan_pkr")]
    as_olga = ws.as_user("olga").reports.sales_per_customer(**april)
    assert rows(as_olga) == rows(moscow)
    # another user's figures are refused, not answered with an empty table that reads
    # as a fact about them; her own name, an id as the command line gives it, her team
    # in any case are hers
    with pytest.raises(ValidationError, match="a sales user sees only their own figures"):
        ws.as_user("olga").reports.sales_per_customer(owner="bilal", **april)
    with pytest.raises(ValidationError, match="a sales user sees only their own figures"):
        ws.as_user("bilal").reports.sales_per_customer(team="Moscow", **april)
    olga_id = str(ws.users.get("olga")["id"])
    for owner in ("olga", olga_id):
        assert rows(ws.as_user("olga").reports.sales_per_customer(owner=owner, **april)) == rows(
            moscow
        )
    assert rows(ws.reports.sales_per_customer(team="moscow", **april)) == rows(moscow)


def test_aging_is_as_of_today(ws, book, clock):
    # Ten days later, invoice 8 (due 15 April) is 40 days past due, 7 still not due,
    # 9 is 70, 10 is 100, credit note 16 (5 May) 20: 11800 - 1180 | 1000 | 3000 | 5000 + 7000.
    clock.advance(days=10)
    frame = ws.reports.sales_per_customer(owner="olga", period_from="2026-04-01")
    kazan = frame[frame["customer"] == "Kazan Home"].iloc[0]
    assert (kazan.age_0_30, kazan.age_31_60, kazan.age_61_90, kazan.age_90_plus) == (
        D("10620.00"),
        D("1000.00"),
        D("3000.00"),
        D("12000.00"),
    )


# -- RFM ------------------------------------------------------------------------------------
RFM_COLUMNS = [
    "customer",
    "customer_type",
    "customer_id",
    "currency",
    "last_invoice",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "segment",
]


def test_rfm_up_to_today(ws, book):
    """PKR, five customers (score = rank):

    ======  ====  ========  =====  ========  =====  ==========
    cust    last  recency   freq   monetary  r f m  segment
    ======  ====  ========  =====  ========  =====  ==========
    Indus   4-10  35        3      170000    2 4 5  At risk
    Volga   4-30  15        2      60000     3 3 4  Others
    Kazan   5-01  14        6      46000     4 5 3  Champions
    Lahore  5-14  1         1      8000      5 1 1  New
    Masha   2-10  94        1      8000      1 1 1  Lost
    ======  ====  ========  =====  ========  =====  ==========

    Lahore and Masha tie on frequency and money: both take the lower rank, 1.
    USD, two customers and no rate to rank them among all: not scored (a lone or second
    customer of a currency scored "Lost" however recent and frequent).
    """
    b = book
    frame = ws.reports.rfm()
    assert list(per_currency(frame).columns) == RFM_COLUMNS
    NO_USD_RATE = "Not scored: too few customers in USD, and no rate to rank among all currencies'"
    assert rows(frame) == [
        ("Indus Textiles", "company", b["indus"], "PKR", day("2026-04-10"), 35, 3,
         D("170000.00"), 2, 4, 5, "At risk"),
        ("Volga Linen", "company", b["volga"], "PKR", day("2026-04-30"), 15, 2,
         D("60000.00"), 3, 3, 4, "Others"),
        ("Kazan Home", "company", b["kazan"], "PKR", day("2026-05-01"), 14, 6,
         D("46000.00"), 4, 5, 3, "Champions"),
        ("Lahore Looms", "company", b["lahore"], "PKR", day("2026-05-14"), 1, 1,
         D("8000.00"), 5, 1, 1, "New"),
        ("Masha Petrova", "contact", b["masha"], "PKR", day("2026-02-10"), 94, 1,
         D("8000.00"), 1, 1, 1, "Lost"),
        # two USD customers and no rates: too few to rank, and nothing to rank them among
        ("Indus Textiles", "company", b["indus"], "USD", day("2026-04-05"), 40, 1,
         D("1000.00"), None, None, None, NO_USD_RATE),
        ("Masha Petrova", "contact", b["masha"], "USD", day("2026-04-20"), 25, 1,
         D("500.00"), None, None, None, NO_USD_RATE),
    ]  # fmt: skip


def test_rfm_window_ends_at_period_to(ws, book):
    """Up to 30 April: Kazan loses invoice 7 and refund 16, Lahore drops out; four PKR
    customers score 1 + floor(5 * (rank - 1) / 4) = 1, 2, 3, 4; recency counts from
    30 April."""
    b = book
    frame = ws.reports.rfm(period_to="2026-04-30")
    pkr = frame[frame["currency"] == "PKR"]
    assert rows(pkr) == [
        ("Indus Textiles", "company", b["indus"], "PKR", day("2026-04-10"), 20, 3,
         D("170000.00"), 2, 3, 4, "At risk"),
        ("Volga Linen", "company", b["volga"], "PKR", day("2026-04-30"), 0, 2,
         D("60000.00"), 4, 2, 3, "Promising"),
        ("Kazan Home", "company", b["kazan"], "PKR", day("2026-04-25"), 5, 5,
         D("37000.00"), 3, 4, 2, "Loyal"),
        ("Masha Petrova", "contact", b["masha"], "PKR", day("2026-02-10"), 79, 1,
         D("8000.00"), 1, 1, 1, "Lost"),
    ]  # fmt: skip
    april = ws.reports.rfm(period_from="2026-04-01", period_to="2026-04-30")
    indus = april[(april["customer"] == "Indus Textiles") & (april["currency"] == "PKR")]
    assert (int(indus.frequency.iloc[0]), indus.monetary.iloc[0]) == (2, D("130000.00"))
    assert "Masha Petrova" not in set(april[april["currency"] == "PKR"]["customer"])


def test_rfm_by_owner_and_for_a_sales_user(ws, book):
    bilal = ws.reports.rfm(owner="bilal")
    # Among Bilal's customers only: two in PKR, one in USD, no rates: too few to score
    # in a currency, and no rate to score them together.
    no_rate = "Not scored: too few customers in {}, and no rate to rank among all currencies'"
    assert [(r.customer, r.currency, r.r_score, r.f_score, r.m_score, r.segment)
            for r in bilal.itertuples()] == [
        ("Indus Textiles", "PKR", None, None, None, no_rate.format("PKR")),
        ("Lahore Looms", "PKR", None, None, None, no_rate.format("PKR")),
        ("Indus Textiles", "USD", None, None, None, no_rate.format("USD")),
    ]  # fmt: skip
    moscow_scored = ws.reports.rfm(team="Moscow")  # three PKR customers: scored
    assert moscow_scored[moscow_scored.currency == "PKR"]["r_score"].notna().all()
    as_bilal = ws.as_user("bilal").reports.rfm()
    assert rows(as_bilal) == rows(bilal)
    moscow = ws.reports.rfm(team="Moscow")
    assert sorted(set(moscow["customer"])) == ["Kazan Home", "Masha Petrova", "Volga Linen"]
    assert ws.reports.rfm(period_to="2025-01-01").empty


@pytest.mark.parametrize(
    ("r", "f", "name"),
    [
        (5, 5, "Champions"),
        (4, 4, "Champions"),
        (2, 3, "At risk"),
        (1, 5, "At risk"),
        (3, 4, "Loyal"),
        (5, 1, "New"),
        (4, 3, "Promising"),
        (1, 2, "Lost"),
        (3, 3, "Others"),
        (2, 1, "Others"),
    ],
)
def test_segment_table(r, f, name):
    assert segment(r, f) == name


# -- bad filters ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sales_per_customer", "rfm"])
def test_bad_filters_are_refused_by_name(ws, book, name):
    with pytest.raises(ValidationError) as caught:
        ws.reports.run(name, source="web", period_to="30/04/2026", owner="nobody")
    found = {(e.field, e.reason) for e in caught.value.errors}
    assert found == {
        ("source", "does not apply here (filters: period_from, period_to, owner, team)"),
        ("period_to", "is not a date in YYYY-MM-DD form"),
        ("owner", "no such user (give a login or id)"),
    }
    with pytest.raises(ValidationError, match="no user is in this team"):
        ws.reports.run(name, team="Nowhere")
