"""Stored amounts keep their own currency's minor units (migration 0014): a KWD amount
its third decimal, a JPY amount none; typed amounts with more decimals than their
currency has are refused by name, the ERP's are rounded to the currency; on SQLite and
PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm_core import bulk
from crm_core.errors import ValidationError
from crm_core.models import Campaign, Invoice, Opportunity, SalesOrder, SalesOrderLine
from erp_bridge import sync
from tests.erp_bridge.fake_odoo import FakeOdoo

D = Decimal


def _stored(ws, deal_id: int) -> Decimal:
    """The deal's amount as the database hands it back (a fresh transaction)."""
    with ws.transaction() as s:
        return s.scalar(select(Opportunity.expected_revenue).where(Opportunity.id == deal_id))


def _deals(ws) -> int:
    with ws.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(Opportunity)) or 0)


def _refusal(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[str, str]:
    (error,) = exc.value.errors
    return error.field, error.reason


def test_currency_amount_refuses_or_rounds_to_the_minor_units():
    from crm_core import validation as v

    assert str(v.currency_amount(D("1.235"), "KWD")) == "1.235"
    assert str(v.currency_amount(D("1500"), "JPY")) == "1500.00"  # as a Money column reads
    assert str(v.currency_amount(D("1500.50"), "PKR")) == "1500.50"
    # what an ERP sent: rounded half up, never refused for its decimals
    assert str(v.currency_amount(D("1.2345"), "KWD", rounded=True)) == "1.235"
    assert str(v.currency_amount(D("1500.5"), "JPY", rounded=True)) == "1501.00"
    assert str(v.currency_amount(D("0.30000000000000004"), "EUR", rounded=True)) == "0.30"
    for amount, reason in [
        (D("1E+30"), "KWD amounts are kept exactly only below 1,000,000,000,000"),
        (D("999999999999.9999"), "only below 1,000,000,000,000"),
        (D("NaN"), "is not a finite number"),
    ]:
        with pytest.raises(v.Reject, match=reason):
            v.currency_amount(amount, "KWD", rounded=True)
    # typed with too many decimals and too large once rounded: "too large", not a
    # suggestion of the rounded amount, which would itself be refused
    with pytest.raises(v.Reject, match="is too large: PKR amounts are kept exactly only below"):
        v.currency_amount(D("9999999999999.999"), "PKR")


def test_a_kwd_deal_keeps_its_third_decimal_and_a_fourth_is_refused(ws):
    deal = ws.pipeline.create("Kuwait fit-out", currency="KWD", expected_revenue="1.235")
    assert deal["expected_revenue"] == D("1.235")
    assert str(_stored(ws, deal["id"])) == "1.235"  # not 1.24, as NUMERIC(18, 2) kept it
    before = _deals(ws)
    with pytest.raises(ValidationError) as exc:
        ws.pipeline.create("Too precise", currency="KWD", expected_revenue=D("1.2345"))
    assert _refusal(exc) == (
        "expected_revenue",
        "has 4 decimal places, but KWD amounts have 3 decimal places (such as 1.235)",
    )
    assert _deals(ws) == before  # nothing half-written
    # BHD and OMR alike
    bhd = ws.pipeline.create("Manama", currency="BHD", expected_revenue="250000.125")
    assert str(_stored(ws, bhd["id"])) == "250000.125"


def test_a_jpy_deal_holds_no_fraction_of_a_yen(ws):
    with pytest.raises(ValidationError) as exc:
        ws.pipeline.create("Osaka", currency="JPY", expected_revenue="1500.5")
    assert _refusal(exc) == (
        "expected_revenue",
        "has 1 decimal place, but JPY amounts have none (such as 1501)",
    )
    with pytest.raises(ValidationError) as exc:  # the decimals as written, not 1500.5's
        ws.pipeline.create("Osaka", currency="JPY", expected_revenue="1500.50")
    assert _refusal(exc)[1].startswith("has 2 decimal places, but JPY amounts have none")
    deal = ws.pipeline.create("Osaka", currency="JPY", expected_revenue="1500")
    assert _stored(ws, deal["id"]) == D("1500")


def test_two_decimal_currencies_are_unchanged(ws):
    deal = ws.pipeline.create("Lahore", currency="PKR", expected_revenue="1,500,000.55")
    assert str(_stored(ws, deal["id"])) == "1500000.55"
    whole = ws.pipeline.create("Karachi", currency="PKR", expected_revenue=1500)
    assert str(_stored(ws, whole["id"])) == "1500.00"  # read back with its cents, as before
    with pytest.raises(ValidationError) as exc:
        ws.pipeline.update(deal["id"], expected_revenue="10.555")
    assert "PKR amounts have 2 decimal places" in _refusal(exc)[1]


def test_changing_the_currency_checks_the_amount_against_the_new_one(ws):
    deal = ws.pipeline.create("Colombo", currency="EUR", expected_revenue="10.50")
    with pytest.raises(ValidationError) as exc:
        ws.pipeline.update(deal["id"], currency="JPY")
    assert _refusal(exc) == (
        "expected_revenue",
        "has 2 decimal places, but JPY amounts have none (such as 11)",
    )
    assert ws.pipeline.get(deal["id"])["currency"] == "EUR"
    # both together are fine; an unrelated change never re-checks the amount
    assert ws.pipeline.update(deal["id"], currency="KWD", expected_revenue="10.505")[
        "expected_revenue"
    ] == D("10.505")
    assert ws.pipeline.update(deal["id"], name="Colombo 2")["name"] == "Colombo 2"


def test_the_limit_of_an_exact_amount_depends_on_the_decimals(ws):
    ws.pipeline.create("Big PKR", currency="PKR", expected_revenue="9999999999999.99")
    with pytest.raises(ValidationError) as exc:
        ws.pipeline.create("Big KWD", currency="KWD", expected_revenue="1000000000000")
    assert "KWD amounts are kept exactly only below 1,000,000,000,000" in _refusal(exc)[1]
    deal = ws.pipeline.create("Big KWD", currency="KWD", expected_revenue="999999999999.999")
    assert str(_stored(ws, deal["id"])) == "999999999999.999"


def test_a_campaign_cost_keeps_its_currencys_decimals(ws):
    with pytest.raises(ValidationError) as exc:
        ws.campaigns.create("Gulf fair", cost="0.1234", currency="KWD")
    assert _refusal(exc) == (
        "cost",
        "has 4 decimal places, but KWD amounts have 3 decimal places (such as 0.123)",
    )
    ws.campaigns.create("Gulf fair", cost="18500.125", currency="KWD")
    with ws.transaction() as s:
        assert str(s.scalar(select(Campaign.cost))) == "18500.125"


def test_an_import_refuses_the_row_naming_the_currencys_decimals(ws):
    rows = [
        {"name": "Fine", "currency": "KWD", "expected_revenue": "1.235"},
        {"name": "Too many", "currency": "KWD", "expected_revenue": "1.2345"},
        {"name": "Yen cents", "currency": "JPY", "expected_revenue": "99.9"},
        {"name": "Rupees", "currency": "PKR", "expected_revenue": "1500.50"},
    ]
    report = bulk.import_opportunities(ws, rows)
    assert (report.inserted, report.rejected) == (2, 2)
    said = " ".join(report.messages)
    assert "KWD amounts have 3 decimal places" in said
    assert "JPY amounts have none" in said
    with ws.transaction() as s:
        got = dict(s.execute(select(Opportunity.name, Opportunity.expected_revenue)).all())
    assert {k: str(v) for k, v in got.items()} == {"Fine": "1.235", "Rupees": "1500.50"}


def test_sums_come_back_as_decimals_not_binary_tails(ws):
    for amount in ("0.10", "0.20", "0.005"):
        ws.pipeline.create(f"Part {amount}", currency="KWD", expected_revenue=amount)
    with ws.transaction() as s:
        total = s.scalar(select(func.sum(Opportunity.expected_revenue)))
    assert str(total) == "0.305"


# -- amounts the ERP sends: rounded to the record's currency ----------------------------
@pytest.fixture
def odoo():
    erp = FakeOdoo()
    erp.currency = {code: erp.add("res.currency", name=code) for code in ("KWD", "JPY", "PKR")}
    erp.user = erp.add("res.users", name="Ayesha", login="ayesha", email="ayesha@example.com")
    erp.stage = erp.add("crm.stage", name="New", sequence=1, is_won=False)
    erp.add("crm.stage", name="Won", sequence=2, is_won=True)
    erp.add("ir.model", model="crm.lead")
    erp.add("ir.model", model="res.partner")
    return erp


def test_the_erps_amounts_are_stored_rounded_to_their_currency(ws, odoo):
    ws.set_setting("currency", "KWD")
    partner = odoo.add("res.partner", name="Gulf Trading", is_company=True, category_id=[])
    kwd, jpy, pkr = (odoo.currency[c] for c in ("KWD", "JPY", "PKR"))
    lead = odoo.add(
        "crm.lead",
        name="Fit-out",
        type="opportunity",
        partner_id=partner,
        user_id=odoo.user,
        stage_id=odoo.stage,
        probability=10.0,
        expected_revenue=1.2345,
        priority="1",
        tag_ids=[],
        description=False,
        date_deadline=False,
        lost_reason_id=False,
    )
    invoice = dict(
        move_type="out_invoice", partner_id=partner, invoice_date="2026-04-01",
        invoice_date_due="2026-05-01", state="posted", payment_state="not_paid",
    )  # fmt: skip
    odoo.add("account.move", name="INV/KWD", currency_id=kwd, amount_untaxed=12.3456,
             amount_total=12.3456, amount_residual=0.1 + 0.2, **invoice)  # fmt: skip
    odoo.add("account.move", name="INV/JPY", currency_id=jpy, amount_untaxed=1500.5,
             amount_total=1500.4, amount_residual=0.0, **invoice)  # fmt: skip
    odoo.add("account.move", name="INV/PKR", currency_id=pkr, amount_untaxed=1000.0,
             amount_total=1170.555, amount_residual=170.5, **invoice)  # fmt: skip
    product = odoo.add("product.product", name="Tiles", default_code="T1", list_price=2.0005,
                       currency_id=kwd, active=True)  # fmt: skip
    line = odoo.add("sale.order.line", order_id=0, product_id=product, name="Tiles",
                    product_uom_qty=3.0, price_subtotal=6.0015)  # fmt: skip
    order = odoo.add("sale.order", name="SO1", partner_id=partner, currency_id=kwd,
                     date_order="2026-04-01 10:00:00", amount_total=6.0015, state="sale",
                     order_line=[line])  # fmt: skip
    odoo.set("sale.order.line", line, order_id=order)
    sync(ws, odoo, xmlid_prefix="crmbook_test")
    with ws.transaction() as s:
        deal = s.scalars(select(Opportunity)).one()
        assert (deal.currency, str(deal.expected_revenue)) == ("KWD", "1.235")
        amounts = {
            i.number: (i.currency, *map(str, (i.amount_untaxed, i.amount_total, i.amount_residual)))
            for i in s.scalars(select(Invoice))
        }
        so = s.scalars(select(SalesOrder)).one()
        so_line = s.scalars(select(SalesOrderLine)).one()
    assert amounts == {
        "INV/KWD": ("KWD", "12.346", "12.346", "0.30"),
        "INV/JPY": ("JPY", "1501.00", "1500.00", "0.00"),
        "INV/PKR": ("PKR", "1000.00", "1170.56", "170.50"),
    }
    assert (str(so.amount_total), str(so_line.price_subtotal)) == ("6.002", "6.002")
    # A second run finds nothing changed on either side: the rounded amount is not
    # pushed back over the ERP's own.
    sync(ws, odoo, xmlid_prefix="crmbook_test")
    assert odoo.read("crm.lead", [lead], ["expected_revenue"])[0]["expected_revenue"] == 1.2345


# -- reports keep each currency's decimals -----------------------------------------------
def test_reports_keep_kwd_third_decimal_and_jpy_whole(ws):
    import datetime as dt

    ws.set_setting("currency", "KWD")
    gulf = ws.companies.create(name="Gulf Trading")["id"]
    osaka = ws.companies.create(name="Osaka Shoji")["id"]
    with ws.transaction() as s:
        for n, (company, cur, untaxed, residual) in enumerate(
            [
                (gulf, "KWD", "12.345", "0.005"),
                (gulf, "KWD", "0.001", "0"),
                (osaka, "JPY", "1500", "700"),
            ],
            1,
        ):
            s.add(
                Invoice(
                    backend="odoo-test", remote_id=n, number=f"INV/{n}", move_type="out_invoice",
                    company_id=company, invoice_date=dt.date(2026, 5, 1),
                    due_date=dt.date(2026, 5, 30), currency=cur, amount_untaxed=D(untaxed),
                    amount_total=D(untaxed), amount_residual=D(residual), state="posted",
                    payment_state="not_paid" if D(residual) else "paid",
                )
            )  # fmt: skip
    ws.rates.set("JPY", "2020-01-01", "500", base="KWD")
    frame = ws.reports.run("sales_per_customer")
    got = {
        r.currency: (str(r.revenue), str(r.average_ticket), str(r.open_balance))
        for r in frame.itertuples()
    }
    assert got == {"KWD": ("12.346", "6.173", "0.005"), "JPY": ("1500", "1500", "700")}
    # 1,500 JPY at 500 per KWD is 3 KWD, in KWD's minor units
    converted = dict(zip(frame["currency"], frame["revenue_converted"], strict=True))
    assert str(converted["JPY"]) == "3.000"
    assert ws.accounts.open_balance(company_id=gulf) == {"KWD": D("0.005")}
    deal = ws.pipeline.create("Fit-out", currency="KWD", expected_revenue="1.235")
    ws.pipeline.create("Tiles", currency="KWD", expected_revenue="0.001")
    assert deal["currency"] == "KWD"
    stages = ws.reports.run("pipeline_by_stage")
    new = stages[(stages["stage"] == "New") & (stages["currency"] == "KWD")].iloc[0]
    assert str(new["value"]) == "1.236"
