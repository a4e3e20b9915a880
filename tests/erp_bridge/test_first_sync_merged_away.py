"""A first sync never matches an ERP partner to a contact merged into another one: the
merged-away contact's keys find the contact it was merged into (as imports do, see
tests/crm_core/imports/test_merged_away.py), and the review never offers it. A match
never archives a live record: a contact archived here by hand, matched to an active
partner, is restored (the partner is not archived), and the other way round. On SQLite
and PostgreSQL, with the in-memory ERP."""

import pytest
from sqlalchemy import select

from crm_core.models import ExternalLink
from erp_bridge import sync
from erp_bridge.review import decide, open_matches
from tests.erp_bridge.fake_odoo import FakeOdoo

PK = 1  # res.country id of Pakistan in the ERP below


@pytest.fixture
def odoo():
    erp = FakeOdoo()
    assert erp.add("res.country", code="PK", name="Pakistan") == PK
    return erp


@pytest.fixture
def pk(ws):
    ws.set_setting("phone_region", "PK")
    return ws


def run(ws, erp):
    report = sync(ws, erp, xmlid_prefix="crmbook_test", models=["company", "contact"])
    assert report.status == "done", report.errors
    return report


def partner(erp, name, **values):
    return erp.add(
        "res.partner", name=name, is_company=False, category_id=[], country_id=PK, **values
    )


def links(ws):
    """Local contact id -> partner id."""
    with ws.transaction() as s:
        rows = s.execute(
            select(ExternalLink.local_id, ExternalLink.remote_id).where(
                ExternalLink.entity == "contact"
            )
        )
        return dict(rows.all())


def partners(erp):
    """(id, active) of every partner."""
    return sorted((rid, r["active"]) for rid, r in erp.records["res.partner"].items())


def test_partner_with_a_merged_away_email_matches_the_kept_contact(pk, odoo):
    kept = pk.contacts.create(name="Kept Person", email="kept@x.example.pk")["id"]
    gone = pk.contacts.create(name="Kept Person", email="old@x.example.pk")["id"]
    pk.duplicates.merge("contacts", kept, gone, choose={"email": "keep"})
    erp_one = partner(odoo, "Kept Person (ERP)", email="old@x.example.pk")

    report = run(pk, odoo)

    counts = report.to_frame().set_index("model").loc["contact"]
    assert (counts["matched"], counts["ambiguous"], counts["pushed_created"]) == (1, 0, 0)
    assert links(pk) == {kept: erp_one}
    # The ERP's customer stays live, and no second copy of it is made.
    assert partners(odoo) == [(erp_one, True)]
    assert pk.contacts.get(kept)["active"] is True
    assert pk.contacts.get(gone)["active"] is False


def test_key_of_both_merged_contacts_is_one_candidate_not_a_question(pk, odoo):
    kept = pk.contacts.create(name="Kept Person", email="kept@x.example.pk")["id"]
    gone = pk.contacts.create(name="Kept Person", phone="0300 1110001")["id"]
    pk.duplicates.merge("contacts", kept, gone, choose={"phone": "drop"})
    # Both contacts hold the phone now; the partner has only that.
    erp_one = partner(odoo, "Kept Person", phone="+92 300 1110001")

    report = run(pk, odoo)

    counts = report.to_frame().set_index("model").loc["contact"]
    assert (counts["matched"], counts["ambiguous"]) == (1, 0)
    assert open_matches(pk).empty
    assert links(pk) == {kept: erp_one}
    assert partners(odoo) == [(erp_one, True)]


def test_a_choice_merged_away_since_is_asked_again(pk, odoo):
    first = pk.contacts.create(name="Ali Raza", email="ali@x.example.pk")["id"]
    second = pk.contacts.create(name="Ali Raza", phone="0300 1110003")["id"]
    erp_one = partner(odoo, "Ali Raza", email="ali@x.example.pk", phone="03001110003")
    run(pk, odoo)
    (question,) = open_matches(pk)["id"]
    decide(pk, int(question), second)
    pk.duplicates.merge("contacts", first, second)

    run(pk, odoo)

    # The chosen contact was merged into the other: the partner goes to the survivor.
    assert links(pk) == {first: erp_one}
    assert partners(odoo) == [(erp_one, True)]


def test_contact_archived_by_hand_does_not_archive_the_live_partner(pk, odoo):
    former = pk.contacts.create(name="Former Customer", email="former@x.example.pk")["id"]
    pk.contacts.archive(former)
    erp_one = partner(odoo, "Former Customer", email="former@x.example.pk")

    report = run(pk, odoo)

    assert report.to_frame().set_index("model").loc["contact", "matched"] == 1
    assert links(pk) == {former: erp_one}
    assert partners(odoo) == [(erp_one, True)]
    # One person, live on both sides: the stale archive here is undone.
    assert pk.contacts.get(former)["active"] is True
    assert pk.contacts.count() == 1


def test_partner_archived_in_the_erp_does_not_archive_the_live_contact(pk, odoo):
    live = pk.contacts.create(name="Saima Noor", email="saima@x.example.pk")["id"]
    erp_one = partner(odoo, "Saima Noor", email="saima@x.example.pk", active=False)

    run(pk, odoo)

    assert links(pk) == {live: erp_one}
    assert pk.contacts.get(live)["active"] is True
    assert partners(odoo) == [(erp_one, True)]
