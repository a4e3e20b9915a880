"""Whole sync runs against an in-memory ERP with Odoo's traits (tests/erp_bridge/fake_odoo.py):
both directions, conflicts, archives, deletions, dry runs, crashes and bad records."""

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from crm_core.models import ExternalLink, Invoice, SyncConflict, SyncRun
from erp_bridge import sync
from tests.erp_bridge.fake_odoo import Crash, FakeOdoo


@pytest.fixture
def odoo():
    erp = FakeOdoo()
    erp.add("res.country", code="PK", name="Pakistan")
    erp.add("res.country", code="BD", name="Bangladesh")
    erp.add("res.currency", name="PKR")
    erp.user = erp.add(
        "res.users", name="Ayesha Siddiqui", login="ayesha", email="ayesha@example.com"
    )
    erp.stage = {
        name: erp.add("crm.stage", name=name, sequence=seq + 1, is_won=won)
        for seq, (name, won) in enumerate([("New", False), ("Qualified", False), ("Won", True)])
    }
    erp.add("crm.lost.reason", name="Too expensive")
    erp.add("crm.tag", name="Export")
    erp.add("res.partner.category", name="VIP")
    erp.add("ir.model", model="crm.lead")
    erp.add("ir.model", model="res.partner")
    erp.call_type = erp.add("mail.activity.type", name="Call", res_model=False)
    erp.todo_type = erp.add("mail.activity.type", name="To-Do", res_model=False)
    return erp


def seed_partners(erp):
    indus = erp.add(
        "res.partner",
        name="Indus Textiles",
        is_company=True,
        country_id=1,
        email="sales@indus.example.com",
        category_id=[],
        comment="<p>Since 1998</p>",
    )
    imran = erp.add(
        "res.partner",
        name="عمران خان",
        is_company=False,
        parent_id=indus,
        email="Imran@Indus.Example.com",
        phone="+92 300 1234567",
        category_id=[],
    )
    lead = erp.add(
        "crm.lead",
        name="Uniforms 2027",
        type="opportunity",
        partner_id=imran,
        user_id=erp.user,
        stage_id=erp.stage["New"],
        probability=10.0,
        expected_revenue=1500000.0,
        priority="1",
        tag_ids=[],
        description=False,
        date_deadline=False,
        lost_reason_id=False,
    )
    return indus, imran, lead


def run(ws, erp, **kw):
    return sync(ws, erp, xmlid_prefix="crmbook_test", **kw)


def local_of(ws, entity, remote_id):
    with ws.transaction() as s:
        return s.scalars(
            select(ExternalLink.local_id).where(
                ExternalLink.entity == entity, ExternalLink.remote_id == remote_id
            )
        ).one()


def test_first_pull_creates_and_links_everything(ws, odoo):
    indus, imran, lead = seed_partners(odoo)
    report = run(ws, odoo)
    counts = report.to_frame().set_index("model")
    assert counts.loc["company", "created"] == 1
    assert counts.loc["contact", "created"] == 1
    assert counts.loc["opportunity", "created"] == 1
    assert counts.loc["user", "created"] == 1 and counts.loc["stage", "created"] == 3
    assert report.errors == []
    contact = ws.contacts.get(local_of(ws, "contact", imran))
    assert (contact["name"], contact["phone"], contact["email"]) == (
        "عمران خان",
        "+923001234567",
        "Imran@indus.example.com",
    )
    assert contact["company_id"] == local_of(ws, "company", indus)
    assert ws.companies.get(contact["company_id"])["notes"] == "Since 1998"
    deal = ws.pipeline.get(local_of(ws, "opportunity", lead))
    assert (deal["stage"], deal["contact_id"], deal["owner_id"]) == (
        "New",
        contact["id"],
        ws.users.get("ayesha")["id"],
    )
    assert str(deal["expected_revenue"]) == "1500000.00"
    # Normalising (E.164 phone, lower-case domain) is not pushed back to the ERP.
    assert ("res.partner", "write") not in odoo.calls
    assert report.run_id is not None


def test_rerun_is_cheap_and_changes_nothing(ws, odoo):
    seed_partners(odoo)
    run(ws, odoo)
    odoo.calls.clear()
    again = run(ws, odoo)
    frame = again.to_frame().set_index("model")
    assert frame[["created", "updated", "pushed_created", "pushed_updated"]].sum().sum() == 0
    assert not [c for c in odoo.calls if c[1] in ("write", "create")]


def test_edits_flow_both_ways(ws, odoo):
    indus, imran, _ = seed_partners(odoo)
    run(ws, odoo)
    cid = local_of(ws, "contact", imran)
    ws.contacts.update(cid, job_title="Purchasing manager", tags=["VIP", "Karachi"])
    odoo.tick(10)
    odoo.set("res.partner", indus, city="Karachi", street="Plot 7, SITE")
    report = run(ws, odoo)
    assert odoo.get("res.partner", imran)["function"] == "Purchasing manager"
    categories = {r["id"]: r["name"] for r in odoo.records["res.partner.category"].values()}
    assert sorted(categories[i] for i in odoo.get("res.partner", imran)["category_id"]) == [
        "Karachi",
        "VIP",
    ]
    company = ws.companies.get(local_of(ws, "company", indus))
    assert (company["city"], company["street"]) == ("Karachi", "Plot 7, SITE")
    frame = report.to_frame().set_index("model")
    assert frame.loc["contact", "pushed_updated"] == 1
    assert frame.loc["company", "updated"] == 1


def test_conflicts_follow_ownership_and_are_stored_with_both_values(ws, odoo, clock):
    indus, _, lead = seed_partners(odoo)
    run(ws, odoo)
    company_id = local_of(ws, "company", indus)
    deal_id = local_of(ws, "opportunity", lead)
    # VAT is the ERP's; the stage is the CRM's; both sides change both.
    ws.companies.update(company_id, vat="CRM-VAT")
    ws.pipeline.move(deal_id, "Qualified")
    odoo.tick(10)
    odoo.set("res.partner", indus, vat="PK-1234567")
    odoo.set("crm.lead", lead, stage_id=odoo.stage["Won"])
    report = run(ws, odoo)
    assert ws.companies.get(company_id)["vat"] == "PK-1234567"
    assert odoo.get("crm.lead", lead)["stage_id"] == odoo.stage["Qualified"]  # the CRM's
    assert ws.pipeline.get(deal_id)["stage"] == "Qualified"
    with ws.transaction() as s:
        rows = {c.field: c for c in s.scalars(select(SyncConflict))}
    assert json.loads(rows["vat"].local_value) == "CRM-VAT"
    assert json.loads(rows["vat"].remote_value) == "PK-1234567"
    assert (rows["vat"].winner, rows["vat"].rule) == ("remote", "erp owns field")
    assert (rows["stage_id"].winner, rows["stage_id"].rule) == ("local", "crm owns field")
    assert report.to_frame().set_index("model").loc["company", "conflicts"] == 1


def test_archives_propagate_both_ways(ws, odoo):
    indus, imran, _ = seed_partners(odoo)
    run(ws, odoo)
    ws.contacts.archive(local_of(ws, "contact", imran))
    odoo.tick(10)
    odoo.set("res.partner", indus, active=False)
    run(ws, odoo)
    assert odoo.get("res.partner", imran)["active"] is False
    assert ws.companies.get(local_of(ws, "company", indus))["active"] is False


def test_lost_deal_in_crm_is_lost_in_erp(ws, odoo):
    _, _, lead = seed_partners(odoo)
    run(ws, odoo)
    ws.pipeline.lose(local_of(ws, "opportunity", lead), "Too expensive")
    run(ws, odoo)
    remote = odoo.get("crm.lead", lead)
    assert remote["active"] is False
    assert remote["lost_reason_id"] is not None
    assert remote["stage_id"] == odoo.stage["New"]  # the CRM's Lost stage has no ERP twin


def test_records_deleted_in_the_erp_are_archived_on_full_runs(ws, odoo):
    _, imran, lead = seed_partners(odoo)
    run(ws, odoo)
    contact_id = local_of(ws, "contact", imran)
    deal_id = local_of(ws, "opportunity", lead)
    odoo.delete("crm.lead", lead)
    odoo.delete("res.partner", imran)
    report = run(ws, odoo, full=True)
    assert ws.contacts.get(contact_id)["active"] is False
    assert ws.pipeline.get(deal_id)["active"] is False
    frame = report.to_frame().set_index("model")
    assert frame.loc["contact", "archived"] == 1 and frame.loc["opportunity", "archived"] == 1
    with ws.transaction() as s:  # their links are gone: nothing is pushed to a ghost
        gone = ExternalLink.entity.in_(["contact", "opportunity"])
        assert s.scalar(select(func.count()).select_from(ExternalLink).where(gone)) == 0


def test_new_local_records_are_created_in_the_erp_with_dependencies_first(ws, odoo):
    run(ws, odoo)
    company = ws.companies.create(name="Dhaka Jute Mills", country="BD")
    person = ws.contacts.create(name="আব্দুল করিম", company=company["id"], email="karim@example.com")
    ws.pipeline.create("Jute bags", contact=person["id"], expected_revenue="250000")
    report = run(ws, odoo)
    (remote_company,) = odoo.find("res.partner", name="Dhaka Jute Mills")
    (remote_person,) = odoo.find("res.partner", name="আব্দুল করিম")
    (remote_lead,) = odoo.find("crm.lead", name="Jute bags")
    assert remote_company["is_company"] is True and remote_company["country_id"] == 2
    assert remote_person["parent_id"] == remote_company["id"]
    assert remote_lead["partner_id"] == remote_person["id"]
    assert remote_lead["expected_revenue"] == 250000.0
    assert report.to_frame().set_index("model")["pushed_created"].sum() == 3


def test_a_crash_between_remote_create_and_local_commit_duplicates_nothing(ws, odoo):
    run(ws, odoo)
    ws.companies.create(name="Colombo Tea Traders")
    odoo.crash_after_create = True
    with pytest.raises(Crash):
        run(ws, odoo)
    assert len(odoo.find("res.partner", name="Colombo Tea Traders")) == 1
    with ws.transaction() as s:  # the local link never committed
        assert (
            s.scalar(
                select(func.count())
                .select_from(ExternalLink)
                .where(ExternalLink.entity == "company")
            )
            == 0
        )
    odoo.crash_after_create = False
    report = run(ws, odoo)
    assert report.errors == []
    assert len(odoo.find("res.partner", name="Colombo Tea Traders")) == 1
    assert ws.companies.search("colombo")["name"].tolist() == ["Colombo Tea Traders"]
    with ws.transaction() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(ExternalLink)
                .where(ExternalLink.entity == "company")
            )
            == 1
        )
        statuses = list(s.scalars(select(SyncRun.status).order_by(SyncRun.id)))
    assert statuses == ["done", "failed", "done"]


def test_dry_run_plans_and_writes_nothing_on_either_side(ws, odoo):
    seed_partners(odoo)
    ws.companies.create(name="Local Only Ltd")
    before = ws.info()
    report = run(ws, odoo, dry_run=True)
    assert ws.info() == before
    assert "create res.partner 'Local Only Ltd'" in report.plan
    assert odoo.find("res.partner", name="Local Only Ltd") == []
    assert report.to_frame().set_index("model").loc["company", "created"] == 1
    real = run(ws, odoo)
    assert real.to_frame().set_index("model").loc["company", "created"] == 1


def test_a_first_pull_keeps_every_value_the_erp_holds(ws, odoo, monkeypatch):
    """Invalid phones, reserved-domain and malformed e-mails and nameless addresses, as
    a real Odoo holds them: every value arrives as written, marked as not validated,
    on the batch path, searchable, and nothing is pushed back altered."""
    from erp_bridge.reconcile import Reconciler

    def one_by_one(*_args):
        raise AssertionError("messy new partners are created in batches too")

    monkeypatch.setattr(Reconciler, "pull_new", one_by_one)
    ws.set_setting("phone_region", "PK")
    indus = odoo.add("res.partner", name="Indus Textiles", is_company=True, phone="+1 555 0000001")
    demo = odoo.add(
        "res.partner",
        name="Deco Addict",
        is_company=True,
        phone="+32 987 65 43 21",
        email="deco.addict82@example.com",
    )
    ship = odoo.add(
        "res.partner",
        name=False,
        type="delivery",
        parent_id=indus,
        is_company=False,
        phone="(198)-539-4948",
        email="ship@intranet.local",
    )
    karim = odoo.add(
        "res.partner",
        name="আব্দুল করিম",
        is_company=False,
        country_id=2,
        phone="01711 234567",
        email="karim@",
        mobile="0300 1234567",
    )
    report = run(ws, odoo, models=["company", "contact"])
    assert report.status == "done" and report.errors == []
    company = ws.companies.get(local_of(ws, "company", indus))
    assert company["phone"] == "+1 555 0000001"  # as Odoo holds it: no E.164 form
    assert ws.companies.get(local_of(ws, "company", demo))["phone"] == "+32 987 65 43 21"
    address = ws.contacts.get(local_of(ws, "contact", ship))
    assert (address["name"], address["phone"], address["email"]) == (
        "Indus Textiles, Delivery Address",
        "(198)-539-4948",
        "ship@intranet.local",
    )
    assert address["company_id"] == company["id"]
    person = ws.contacts.get(local_of(ws, "contact", karim))
    # read in the contact's own country (BD); a number of BD's length that is no valid
    # one there is not taken for a Pakistani one (the workspace's region): kept, marked
    assert (person["phone"], person["mobile"], person["email"]) == (
        "+8801711234567",
        "0300 1234567",
        "karim@",
    )
    issues = ws.quality.issues()
    kept = {(row.name, row.field): row.value for row in issues.itertuples()}
    assert kept == {
        ("Indus Textiles", "phone"): "+1 555 0000001",
        ("Deco Addict", "phone"): "+32 987 65 43 21",
        ("Indus Textiles, Delivery Address", "phone"): "(198)-539-4948",
        ("Indus Textiles, Delivery Address", "email"): "ship@intranet.local",
        ("আব্দুল করিম", "email"): "karim@",
        ("আব্দুল করিম", "mobile"): "0300 1234567",
    }
    assert ws.contacts.search(phone="(198)-539-4948")["id"].tolist() == [address["id"]]
    assert ws.contacts.search(phone="01711 234567")["id"].tolist() == [person["id"]]
    assert ("res.partner", "write") not in odoo.calls
    monkeypatch.undo()
    again = run(ws, odoo, models=["company", "contact"])
    assert again.to_frame()[["created", "updated", "pushed_updated"]].to_numpy().sum() == 0
    # A person fixing the phone here clears the mark, and the fix goes to the ERP.
    ws.companies.update(company["id"], phone="+92 21 111 222 333")
    run(ws, odoo, models=["company", "contact"])
    assert odoo.get("res.partner", indus)["phone"] == "+9221111222333"
    assert ("Indus Textiles", "phone") not in {
        (r.name, r.field) for r in ws.quality.issues().itertuples()
    }


def test_a_push_the_erp_refuses_is_reported_and_retried(ws, odoo):
    refused = ws.companies.create(name="Refused Remotely")
    odoo.refuse["res.partner.name"] = "ValidationError: name refused"
    report = run(ws, odoo, models=["company"])
    assert (
        f"local #{refused['id']}: RemoteError: ValidationError: name refused"
        in report.models["company"].errors
    )
    odoo.refuse.clear()
    report = run(ws, odoo, models=["company"])  # the failed push is retried
    assert report.models["company"].pushed_created == 1


def test_accounting_copies_are_pulled_for_reports(ws, odoo):
    indus, _, _ = seed_partners(odoo)
    odoo.add(
        "account.move",
        name="INV/2026/0001",
        move_type="out_invoice",
        partner_id=indus,
        invoice_date="2026-04-01",
        invoice_date_due="2026-05-01",
        currency_id=3,
        amount_untaxed=1000.0,
        amount_total=1170.0,
        amount_residual=170.5,
        state="posted",
        payment_state="partial",
    )
    # Paid in two instalments: the invoice was paid on the day of the later one.
    odoo.add(
        "account.move",
        name="INV/2026/0002",
        move_type="out_invoice",
        partner_id=indus,
        invoice_date="2026-04-03",
        invoice_date_due="2026-05-03",
        currency_id=3,
        amount_untaxed=500.0,
        amount_total=585.0,
        amount_residual=0.0,
        state="posted",
        payment_state="paid",
        invoice_payments_widget={
            "content": [{"date": "2026-04-20", "amount": 85.0}, {"date": "2026-04-09"}]
        },
    )
    run(ws, odoo)
    with ws.transaction() as s:
        inv, paid = s.scalars(select(Invoice).order_by(Invoice.number)).all()
        assert (inv.number, inv.currency, str(inv.amount_residual), inv.paid_on) == (
            "INV/2026/0001",
            "PKR",
            "170.50",
            None,
        )
        assert inv.company_id == local_of(ws, "company", indus)
        assert (paid.number, paid.paid_on) == ("INV/2026/0002", dt.date(2026, 4, 20))
    # only the paid invoice's payments widget was read
    assert odoo.calls.count(("account.move", "read")) == 1


def test_what_this_erp_lacks_is_left_out_and_said(ws, odoo):
    """Odoo 19 has no partner mobile; a database without Sales has no sale.order."""
    odoo.lacks = {"res.partner": {"mobile"}, "sale.order": None}
    _, imran, _ = seed_partners(odoo)
    odoo.set("res.partner", imran, mobile="+92 321 7654321")  # never read: the ERP "lacks" it
    report = run(ws, odoo)
    assert report.errors == []
    assert report.notes == [
        "contact: res.partner has no mobile in this ERP; not synced",
        "sales_order: the ERP has no sale.order; skipped",
    ]
    assert "sales_order" not in report.models
    assert "note: contact: res.partner has no mobile" in str(report)
    person = ws.contacts.get(local_of(ws, "contact", imran))
    assert (person["phone"], person["mobile"]) == ("+923001234567", None)
    # A local mobile is not pushed to a field the ERP does not have.
    ws.contacts.update(person["id"], mobile="+92 333 1112223")
    assert run(ws, odoo).errors == []
    assert odoo.get("res.partner", imran)["mobile"] == "+92 321 7654321"
    with ws.transaction() as s:
        stored = s.get(SyncRun, report.run_id)
        assert stored is not None and stored.report["notes"] == report.notes


def test_unknown_models_are_refused():
    with pytest.raises(ValueError, match="unknown models: invoices"):
        sync(None, FakeOdoo(), models=["invoices"])  # type: ignore[arg-type]


def test_workspace_sync_delegates_to_the_backend(ws, odoo):
    seed_partners(odoo)

    class Backend:
        def sync(self, workspace, **options):
            return sync(workspace, odoo, **options)

    report = ws.sync(Backend(), xmlid_prefix="crmbook_test", models=["company"])
    assert report.to_frame()["model"].tolist() == ["company"]
    assert "<table" in report._repr_html_()


def test_a_conflict_can_be_reviewed_and_re_decided(ws, odoo):
    from erp_bridge.conflicts import decide, open_conflicts

    indus, _, _ = seed_partners(odoo)
    run(ws, odoo)
    company_id = local_of(ws, "company", indus)
    ws.companies.update(company_id, city="Hyderabad")
    odoo.tick(10)
    odoo.set("res.partner", indus, city="Sukkur")
    run(ws, odoo, policy="erp")
    listed = open_conflicts(ws)
    assert listed[["field", "crm", "erp", "kept"]].values.tolist() == [
        ["city", "Hyderabad", "Sukkur", "remote"]
    ]
    assert ws.companies.get(company_id)["city"] == "Sukkur"
    decide(ws, odoo, int(listed["id"].iloc[0]), "crm")
    assert ws.companies.get(company_id)["city"] == "Hyderabad"
    assert odoo.get("res.partner", indus)["city"] == "Hyderabad"
    assert open_conflicts(ws).empty
    quiet = run(ws, odoo)  # both sides agree with the link: nothing moves
    assert quiet.to_frame().set_index("model").loc["company", "pushed_updated"] == 0
    with pytest.raises(ValueError, match="winner"):
        decide(ws, odoo, 1, "mine")  # type: ignore[arg-type]


def test_activities_are_pulled_and_marked_done_when_done_in_the_erp(ws, odoo, clock):
    _, imran, lead = seed_partners(odoo)
    call_type = odoo.call_type
    act = odoo.add(
        "mail.activity",
        res_model="crm.lead",
        res_id=lead,
        activity_type_id=call_type,
        summary="Call about sizes",
        date_deadline="2026-05-10",
        user_id=odoo.user,
        note="<p>Bring samples</p>",
    )
    odoo.add(
        "mail.activity",
        res_model="res.partner",
        res_id=imran,
        activity_type_id=call_type,
        summary=False,
        date_deadline="2026-06-01",
        user_id=odoo.user,
        note=False,
    )
    orphan = odoo.add(
        "mail.activity",
        res_model="res.partner",
        res_id=99999,
        activity_type_id=call_type,
        summary="On nothing we sync",
        date_deadline="2026-06-01",
        user_id=False,
        note=False,
    )
    report = run(ws, odoo)
    overdue = ws.activities.overdue("ayesha")
    assert overdue[["kind", "subject", "opportunity", "note"]].values.tolist() == [
        ["call", "Call about sizes", "Uniforms 2027", "Bring samples"]
    ]
    upcoming = ws.activities.upcoming("ayesha", days=30)
    assert upcoming[["subject", "contact"]].values.tolist() == [["Call", "عمران خان"]]
    assert report.models["activity"].created == 2
    assert any(f"remote #{orphan}" in e for e in report.models["activity"].errors)
    odoo.tick(10)
    odoo.set("mail.activity", act, date_deadline="2026-05-20")
    run(ws, odoo)
    assert ws.activities.overdue("ayesha").empty  # moved to the 20th in the ERP
    odoo.delete("mail.activity", act)  # what Odoo does when an activity is marked done
    report = run(ws, odoo)
    assert report.models["activity"].archived == 1
    local = ws.activities.for_record(
        opportunity_id=local_of(ws, "opportunity", lead), include_done=True
    )
    assert local["done_at"].tolist() == [clock.now]


def test_local_activities_are_created_edited_and_done_in_the_erp(ws, odoo, clock):
    _, imran, lead = seed_partners(odoo)
    run(ws, odoo)
    deal = local_of(ws, "opportunity", lead)
    call = ws.activities.schedule(
        "call", "Call about sizes", "2026-05-20", opportunity=deal, assignee="ayesha"
    )
    todo = ws.activities.schedule(
        "todo", "Send the catalogue", "2026-05-22", contact=local_of(ws, "contact", imran)
    )
    local_only = ws.contacts.create(name="Archived before any sync")
    ws.activities.schedule("call", "Never pushed", "2026-05-22", contact=local_only["id"])
    ws.contacts.archive(local_only["id"])  # the ERP never gets it, nor its activity
    report = run(ws, odoo)
    assert report.models["activity"].pushed_created == 2
    pushed = {r["summary"]: r for r in odoo.records["mail.activity"].values()}
    assert sorted(pushed) == ["Call about sizes", "Send the catalogue"]
    assert pushed["Call about sizes"]["res_model"] == "crm.lead"
    assert pushed["Call about sizes"]["res_id"] == lead
    assert pushed["Call about sizes"]["activity_type_id"] == odoo.call_type
    assert pushed["Call about sizes"]["user_id"] == odoo.user
    assert pushed["Call about sizes"]["date_deadline"] == "2026-05-20"
    assert pushed["Send the catalogue"]["res_model"] == "res.partner"
    assert pushed["Send the catalogue"]["res_id"] == imran
    assert pushed["Send the catalogue"]["activity_type_id"] == odoo.todo_type
    quiet = run(ws, odoo)  # nothing moved: nothing sent, nothing duplicated
    assert quiet.models["activity"].pushed_created == 0
    assert len(odoo.records["mail.activity"]) == 2

    clock.advance(minutes=5)
    ws.activities.snooze(call["id"], until="2026-05-27")
    run(ws, odoo)
    assert pushed["Call about sizes"]["date_deadline"] == "2026-05-27"

    ws.activities.complete(todo["id"])
    report = run(ws, odoo)
    assert ("mail.activity", "action_feedback") in odoo.calls
    assert [r["summary"] for r in odoo.records["mail.activity"].values()] == [
        "Call about sizes"
    ]  # Odoo deletes an activity marked done
    assert report.errors == []
    after = run(ws, odoo)  # the vanished activity stays done here, its link is dropped
    assert after.models["activity"].archived == 0
    assert ws.activities.get(todo["id"])["done_at"] is not None


def test_an_activity_done_in_odoo_but_kept_there_is_done_here(ws, odoo, clock):
    _, imran, _ = seed_partners(odoo)
    odoo.set("mail.activity.type", odoo.call_type, keep_done=True)
    act = odoo.add(
        "mail.activity",
        res_model="res.partner",
        res_id=imran,
        activity_type_id=odoo.call_type,
        summary="Confirm sizes",
        date_deadline="2026-05-20",
        user_id=odoo.user,
        note=False,
    )
    run(ws, odoo)
    odoo.tick(10)
    odoo.execute("mail.activity", [act], "action_feedback")  # archived, not deleted
    clock.advance(minutes=5)
    run(ws, odoo)
    done = ws.activities.for_record(contact_id=local_of(ws, "contact", imran), include_done=True)
    assert done["done_at"].tolist() == [clock.now]


def test_a_first_pull_creates_valid_partners_in_batches(ws, odoo, monkeypatch):
    from erp_bridge.reconcile import Reconciler

    def one_by_one(*_args):
        raise AssertionError("valid new partners are created in batches")

    monkeypatch.setattr(Reconciler, "pull_new", one_by_one)
    indus, imran, _ = seed_partners(odoo)
    report = run(ws, odoo, models=["tag", "company", "contact"])
    assert report.models["company"].errors == report.models["contact"].errors == []
    person = ws.contacts.get(local_of(ws, "contact", imran))
    assert (person["email"], person["company_id"]) == (
        "Imran@indus.example.com",
        local_of(ws, "company", indus),
    )
    assert run(ws, odoo).to_frame()[["created", "pushed_updated"]].to_numpy().sum() == 0


def test_a_bulk_import_written_in_one_second_is_pulled_whole_and_once(ws, odoo):
    ids = [
        odoo.add("res.partner", name=f"Bulk {i:04d}", is_company=True, category_id=[])
        for i in range(1050)
    ]  # one "transaction": the same write_date for all
    report = sync(ws, odoo, models=["company"], page_size=250)
    assert report.models["company"].created == 1050
    assert report.errors == []
    assert ws.info()["companies"] == 1050
    with ws.transaction() as s:
        linked = set(s.scalars(select(ExternalLink.remote_id)))
    assert linked == set(ids)


def test_a_partner_that_changes_kind_moves_between_companies_and_contacts(ws, odoo):
    """A person made a company in Odoo (or back) becomes a local company: the contact
    that stood for it is archived, not duplicated, and nothing is pushed back."""
    _, imran, _ = seed_partners(odoo)
    run(ws, odoo)
    contact = local_of(ws, "contact", imran)
    odoo.tick(10)
    odoo.set("res.partner", imran, is_company=True, parent_id=False, name="Imran Traders")
    report = run(ws, odoo)
    assert report.models["company"].created == 1
    assert report.models["company"].errors == report.models["contact"].errors == []
    company = local_of(ws, "company", imran)
    assert ws.companies.get(company)["name"] == "Imran Traders"
    assert ws.contacts.get(contact)["active"] is False
    with ws.transaction() as s:
        kinds = s.scalars(select(ExternalLink.entity).where(ExternalLink.remote_id == imran))
        assert list(kinds) == ["company"]
    assert odoo.get("res.partner", imran)["active"] is not False  # not archived in Odoo
    assert ("res.partner", "write") not in odoo.calls
    # and back: the company is archived, a contact stands for the partner again
    odoo.tick(10)
    odoo.set("res.partner", imran, is_company=False, name="Imran Khan")
    report = run(ws, odoo)
    assert report.models["contact"].created == 1
    assert ws.companies.get(company)["active"] is False
    assert ws.contacts.get(local_of(ws, "contact", imran))["name"] == "Imran Khan"
    again = run(ws, odoo).to_frame()
    assert again[["created", "updated", "archived", "pushed_updated"]].to_numpy().sum() == 0
