"""Round 7: an unpaid credit note reduces its customer's open balance, in the
``sales_per_customer`` report and its aging as in ``ws.accounts.open_balance`` (one
definition: ``crm_core.services.accounts.open_residual``), as the ERP nets them.

Today is 2026-05-15 (the ``clock`` fixture)."""

import datetime as dt
from decimal import Decimal

import pytest

from tests.crm_core.reports.books import posted

D = Decimal
Z = D("0.00")
BUCKETS = ("age_0_30", "age_31_60", "age_61_90", "age_90_plus")
day = dt.date.fromisoformat


def unpaid(n, date, amount, currency="USD", due=None, **more):
    """Invoice (or credit note, when negative) #n, posted and not paid at all."""
    fields = {"amount_residual": abs(D(amount)), "payment_state": "not_paid", **more}
    if due is not None:
        fields["due_date"] = day(due)
    return posted(n, date, amount, currency, **fields)


@pytest.fixture
def deco(ws):
    """Deco Addict as Odoo's demo data syncs it: three invoices and the three credit
    notes reversing them, all posted, none paid: Odoo's receivable is 0."""
    deco = ws.companies.create(name="Deco Addict")["id"]
    with ws.transaction("sync:odoo-test") as s:
        for n, amount in ((1, "50000.00"), (2, "40000.00"), (3, "16662.50")):
            s.add(unpaid(n, "2026-05-02", amount, due="2026-06-01", company=deco))
            s.add(unpaid(n + 10, "2026-05-02", f"-{amount}", company=deco))
    return deco


def test_unpaid_credit_notes_net_the_open_balance_to_zero(ws, deco):
    (row,) = ws.reports.run("sales_per_customer").itertuples()
    assert (row.customer, row.currency, row.revenue, row.invoices) == ("Deco Addict", "USD", Z, 3)
    assert row.open_balance == Z  # was 106,662.50
    assert [getattr(row, b) for b in BUCKETS] == [Z, Z, Z, Z]
    assert ws.accounts.open_balance(company_id=deco) == {"USD": Z}
    # the credit notes are open items of the account all the same
    listed = ws.accounts.invoices(company_id=deco, open_only=True)
    assert sorted(listed["number"]) == ["INV/1", "INV/11", "INV/12", "INV/13", "INV/2", "INV/3"]


def test_a_credit_note_ages_in_its_own_bucket_negative(ws):
    """Kazan: invoice 1,000.00 due 1 March (75 days: 61-90) and an unpaid credit note
    of 300.00 on 10 May (0-30); a paid credit note (nothing left) and a reversed one
    (payment state "reversed", whatever its residual) do not count."""
    kazan = ws.companies.create(name="Kazan Home")["id"]
    with ws.transaction("sync:odoo-test") as s:
        s.add(unpaid(1, "2026-02-01", "1000.00", "PKR", due="2026-03-01", company=kazan))
        s.add(unpaid(2, "2026-05-10", "-300.00", "PKR", company=kazan))
        s.add(posted(3, "2026-05-11", "-70.00", "PKR", company=kazan, payment_state="paid"))
        s.add(
            posted(
                4,
                "2026-05-12",
                "-50.00",
                "PKR",
                company=kazan,
                amount_residual=D("50.00"),
                payment_state="reversed",
            )
        )
    frame = ws.reports.sales_per_customer(period_from="2026-05-01", period_to="2026-05-31")
    (row,) = frame.itertuples()
    assert row.revenue == D("-420.00")
    assert row.open_balance == D("700.00")
    assert [getattr(row, b) for b in BUCKETS] == [D("-300.00"), Z, D("1000.00"), Z]
    assert row.open_balance == sum(getattr(row, b) for b in BUCKETS)
    assert ws.accounts.open_balance(company_id=kazan) == {"PKR": D("700.00")}


def test_a_customer_owed_money_back_shows_a_negative_balance(ws):
    """Lahore's only open item is a credit note from March, outside the period: the
    customer is still listed, with a negative balance; so is Volga, whose open invoice
    and credit note cancel out in total but not by age."""
    lahore = ws.companies.create(name="Lahore Looms")["id"]
    volga = ws.companies.create(name="Volga Linen")["id"]
    with ws.transaction("sync:odoo-test") as s:
        s.add(unpaid(1, "2026-03-05", "-250.00", "PKR", company=lahore))
        s.add(unpaid(2, "2026-05-05", "400.00", "PKR", due="2026-06-04", company=volga))
        s.add(unpaid(3, "2026-01-05", "-400.00", "PKR", company=volga))
    frame = ws.reports.sales_per_customer(period_from="2026-05-10", period_to="2026-05-15")
    got = {
        r.customer: (r.open_balance, *(getattr(r, b) for b in BUCKETS)) for r in frame.itertuples()
    }
    assert got == {
        "Lahore Looms": (D("-250.00"), Z, Z, D("-250.00"), Z),  # 5 March: 71 days
        "Volga Linen": (Z, D("400.00"), Z, Z, D("-400.00")),  # 5 January: 130 days
    }
    assert ws.accounts.open_balance(company_id=lahore) == {"PKR": D("-250.00")}
    assert ws.accounts.open_balance() == {"PKR": D("-250.00")}
