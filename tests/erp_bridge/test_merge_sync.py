"""A merge of two contacts both linked to the ERP is carried out there by the next sync:
the merged-away partner is archived (how any ERP can do it; Odoo's own partner merge
wizard is not called) and the run report says so in words; the kept partner keeps its
link and takes the merged values; nothing is pulled back as new. An undo brings the
partner back on the sync after it. On SQLite and PostgreSQL, with the in-memory ERP."""

import pytest
from sqlalchemy import func, select

from crm_core.models import Contact, ExternalLink, Invoice
from erp_bridge import sync
from tests.erp_bridge.fake_odoo import FakeOdoo


@pytest.fixture
def odoo():
    erp = FakeOdoo()
    erp.add("res.country", code="PK", name="Pakistan")
    return erp


def run(ws, erp):
    report = sync(ws, erp, xmlid_prefix="crmbook_test", models=["company", "contact"])
    assert report.status == "done", report.errors
    return report


def remote_of(ws, local_id):
    with ws.transaction() as s:
        return s.scalars(
            select(ExternalLink.remote_id).where(
                ExternalLink.entity == "contact", ExternalLink.local_id == local_id
            )
        ).one()


def test_the_next_sync_archives_the_merged_away_partner_and_reports_it(ws, odoo, clock):
    keep = ws.contacts.create(name="Imran Khan", email="imran@example.com")["id"]
    drop = ws.contacts.create(name="Imran Khan", phone="+923001234567")["id"]
    first = run(ws, odoo)
    assert first.to_frame().set_index("model").loc["contact", "pushed_created"] == 2
    rk, rd = remote_of(ws, keep), remote_of(ws, drop)
    clock.advance(minutes=5)
    odoo.tick(300)
    done = ws.duplicates.merge("contacts", keep, drop)
    clock.advance(minutes=5)
    odoo.tick(300)

    report = run(ws, odoo)
    said = (
        f"contact #{drop} (res.partner #{rd}) archived in the ERP: "
        f"merged into contact #{keep} (res.partner #{rk})"
    )
    assert report.models["contact"].merges == [said]
    assert report.merges == [said]
    assert f"merge: {said}" in str(report)
    assert report.to_dict()["models"]["contact"]["merges"] == [said]
    assert odoo.get("res.partner", rd)["active"] is False
    kept = odoo.get("res.partner", rk)
    assert (kept["active"], kept["phone"], kept["email"]) == (
        True,
        "+923001234567",
        "imran@example.com",
    )
    # Links: each record keeps its own; nothing comes back as new on later runs.
    assert (remote_of(ws, keep), remote_of(ws, drop)) == (rk, rd)
    clock.advance(minutes=5)
    odoo.tick(300)
    again = run(ws, odoo)
    assert again.merges == []
    assert again.to_frame().set_index("model").loc["contact", "created"] == 0
    with ws.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 2
    assert ws.contacts.get(drop)["active"] is False

    # Undone: the partner comes back on the next sync, and no merge is reported.
    ws.duplicates.undo(done["merge_id"])
    clock.advance(minutes=5)
    odoo.tick(300)
    back = run(ws, odoo)
    assert back.merges == []
    assert odoo.get("res.partner", rd)["active"] is True
    assert odoo.get("res.partner", rk)["phone"] in (None, False, "")


def test_a_record_archived_by_hand_is_not_reported_as_merged(ws, odoo, clock):
    gone = ws.contacts.create(name="Sana Mirza")["id"]
    run(ws, odoo)
    clock.advance(minutes=5)
    odoo.tick(300)
    ws.contacts.archive(gone)
    report = run(ws, odoo)
    assert report.merges == []
    assert odoo.get("res.partner", remote_of(ws, gone))["active"] is False


def test_invoices_of_a_partner_merged_away_are_copied_to_the_kept_record(ws, odoo, clock):
    """The ERP keeps the old invoices on the partner it archived for a merge: their
    copies belong to the record it was merged into, on every later pull too."""
    keep = ws.contacts.create(name="Imran Khan", email="imran@example.com")["id"]
    drop = ws.contacts.create(name="Imran Khan", phone="+923001234567")["id"]
    run(ws, odoo)
    rd = remote_of(ws, drop)
    pkr = odoo.add("res.currency", name="PKR")
    invoice = dict(
        move_type="out_invoice", partner_id=rd, invoice_date="2026-04-01",
        invoice_date_due="2026-05-01", currency_id=pkr, amount_untaxed=1000.0,
        amount_total=1170.0, amount_residual=0.0, state="posted", payment_state="not_paid",
    )  # fmt: skip
    odoo.add("account.move", name="INV/2026/0001", **invoice)
    clock.advance(minutes=5)
    odoo.tick(300)
    sync(ws, odoo, xmlid_prefix="crmbook_test")
    with ws.transaction() as s:
        assert s.scalars(select(Invoice.contact_id)).all() == [drop]  # before the merge

    ws.duplicates.merge("contacts", keep, drop)  # the copy moves to keep with the merge
    odoo.add("account.move", name="INV/2026/0002", **invoice)  # still on the old partner
    for _ in range(2):
        clock.advance(minutes=5)
        odoo.tick(300)
        report = sync(ws, odoo, xmlid_prefix="crmbook_test")
        assert report.status == "done", report.errors
        with ws.transaction() as s:
            copies = s.execute(select(Invoice.number, Invoice.contact_id).order_by(Invoice.number))
            assert copies.all() == [("INV/2026/0001", keep), ("INV/2026/0002", keep)]
    assert odoo.get("res.partner", rd)["active"] is False
