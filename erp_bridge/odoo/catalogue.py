"""Odoo's models as the sync reads them (:class:`erp_bridge.catalogue.Catalogue`): the
entity maps, where reference data and the read-only copies come from, and the lookup
tables the converters in :mod:`erp_bridge.odoo.mappings` read."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from crm_core.validation import currency_amount
from erp_bridge.adapter import Adapter, Record
from erp_bridge.catalogue import Catalogue, Copy, Lookup, Reference
from erp_bridge.mapper import Context, EntityMap
from erp_bridge.odoo.mappings import activity_map, lead_map, partner_maps

#: Where each company's amounts are in: the currency many2one's code comes from here.
CURRENCY = "res.currency"


def maps() -> list[EntityMap]:
    """The Odoo entity maps, companies before contacts before deals."""
    return [*partner_maps(), lead_map(), activity_map()]


def _stage_out(values: Record) -> Record | None:
    """A stage here as a new crm.stage; none for a lost stage: Odoo has no lost stage
    (a lost lead is an archived one with a lost reason, left in the stage it was in)."""
    if values["is_lost"]:
        return None
    return {"name": values["name"], "sequence": values["sequence"], "is_won": values["is_won"]}


REFERENCES = {
    # An inactive Odoo user (OdooBot, the default user template) arrives inactive.
    "user": Reference(
        "res.users",
        ["name", "login", "email", "active"],
        [["share", "=", False]],
        lambda r: {
            "login": r["login"],
            "name": r["name"],
            "email": r["email"] or None,
            "active": r["active"] is not False,
        },
    ),
    "stage": Reference(
        "crm.stage",
        ["name", "sequence", "is_won"],
        [],
        lambda r: {"name": r["name"], "sequence": int(r["sequence"]), "is_won": r["is_won"]},
        _stage_out,
    ),
    "lost_reason": Reference(
        "crm.lost.reason",
        ["name", "active"],
        [],
        lambda r: {"name": r["name"]},
        lambda values: {"name": values["name"]},
    ),
    "tag": Reference("crm.tag", ["name"], [], lambda r: {"name": r["name"]}),
}

LOOKUPS = {
    "res.country": Lookup(["code", "name"]),
    "res.country.state": Lookup(["name", "country_id"]),
    "res.partner.category": Lookup(["name"]),
    "crm.tag": Lookup(["name"]),
    "crm.stage": Lookup(["name", "sequence", "is_won"]),
    CURRENCY: Lookup(["name"]),
    # The companies' currencies: a lead's amounts are in its company's.
    "res.company": Lookup(["currency_id"]),
    # Each lead's own currency: read only where the companies keep different ones.
    "crm.lead": Lookup(["company_currency"]),
    "mail.activity.type": Lookup(["name", "res_model"]),
    # Only the models activities are on.
    "ir.model": Lookup(["model"], [["model", "in", ["crm.lead", "res.partner"]]]),
}


def _money(value: Any, currency: str) -> Decimal:
    """An Odoo float amount in ``currency``'s minor units (KWD 3 places, JPY none)."""
    return currency_amount(Decimal(str(value or 0)), currency, rounded=True)


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _datetime(value: Any) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _currency(value: Any, ctx: Context) -> str:
    """A currency many2one as its code ('' when empty)."""
    return str(ctx.reference(CURRENCY).get(value[0], {}).get("name", "")) if value else ""


def _m2o(value: Any) -> int | None:
    """A many2one as its id (None when empty)."""
    return int(value[0]) if value else None


def _product(r: Record, _extra: Record, ctx: Context) -> Record:
    return {
        "name": r["name"],
        "default_code": r["default_code"] or None,
        "list_price": _money(r["list_price"], _currency(r["currency_id"], ctx)),
        "currency": _currency(r["currency_id"], ctx),
        "active": bool(r["active"]),
    }


def _invoice(r: Record, extra: Record, ctx: Context) -> Record:
    currency = _currency(r["currency_id"], ctx)
    return {
        "number": r["name"] if r["name"] and r["name"] != "/" else None,
        "move_type": r["move_type"],
        "state": r["state"],
        "partner": _m2o(r["partner_id"]),
        "invoice_date": _date(r["invoice_date"]),
        "due_date": _date(r["invoice_date_due"]),
        "currency": currency,
        "amount_untaxed": _money(r["amount_untaxed"], currency),
        "amount_total": _money(r["amount_total"], currency),
        "amount_residual": _money(r["amount_residual"], currency),
        "payment_state": r["payment_state"] or None,
        "paid_on": extra.get("paid_on"),
    }


def _paid_on(adapter: Adapter, page: list[Record]) -> dict[int, Record]:
    """The day each fully paid invoice of ``page`` was paid: the latest date among the
    payments reconciled with it, read from Odoo's own payments widget (one read per
    page, of the paid invoices only). A payment Odoo 18 records without a journal entry
    is not in the widget; such an invoice gets no day."""
    paid = [int(r["id"]) for r in page if r["payment_state"] in ("paid", "in_payment")]
    if not paid:
        return {}
    out: dict[int, Record] = {}
    for r in adapter.read("account.move", paid, ["invoice_payments_widget"]):
        widget = r.get("invoice_payments_widget") or {}
        found = (_date(p.get("date")) for p in widget.get("content") or [])
        days = [d for d in found if d is not None]
        if days:
            out[int(r["id"])] = {"paid_on": max(days)}
    return out


def _order(r: Record, extra: Record, ctx: Context) -> Record:
    currency = _currency(r["currency_id"], ctx)
    lines = [
        {**line, "price_subtotal": _money(line["price_subtotal"], currency)}
        for line in extra.get("lines", [])
    ]
    return {
        "name": r["name"],
        "state": r["state"],
        "partner": _m2o(r["partner_id"]),
        "ordered_at": _datetime(r["date_order"]),
        "currency": currency,
        "amount_total": _money(r["amount_total"], currency),
        "lines": lines,
    }


def _order_lines(adapter: Adapter, page: list[Record]) -> dict[int, Record]:
    """The lines of a page of orders (one read per page), by order."""
    out: dict[int, Record] = {int(r["id"]): {"lines": []} for r in page}
    for line in adapter.read(
        "sale.order.line",
        [i for r in page for i in r["order_line"]],
        ["order_id", "product_id", "name", "product_uom_qty", "price_subtotal"],
    ):
        order = out.get(int(line["order_id"][0]))
        if order is None:
            continue
        order["lines"].append(
            {
                "remote_id": line["id"],
                "product": _m2o(line["product_id"]),
                "description": line["name"] or None,
                "quantity": Decimal(str(line["product_uom_qty"])),
                # In the order's currency: rounded to it by _order.
                "price_subtotal": line["price_subtotal"],
            }
        )
    return out


COPIES = {
    "product": Copy(
        "product.product",
        ["name", "default_code", "list_price", "currency_id", "active"],
        [],
        _product,
    ),
    "invoice": Copy(
        "account.move",
        [
            "name",
            "move_type",
            "partner_id",
            "invoice_date",
            "invoice_date_due",
            "currency_id",
            "amount_untaxed",
            "amount_total",
            "amount_residual",
            "state",
            "payment_state",
        ],
        [["move_type", "in", ["out_invoice", "out_refund"]]],
        _invoice,
        _paid_on,
    ),
    "sales_order": Copy(
        "sale.order",
        ["name", "partner_id", "date_order", "currency_id", "amount_total", "state", "order_line"],
        [],
        _order,
        _order_lines,
    ),
}

#: Odoo as the sync reads it.
ODOO = Catalogue(
    maps=maps,
    references=REFERENCES,
    copies=COPIES,
    lookups=LOOKUPS,
    copy_lookups=(CURRENCY,),
)
