"""A first sync with an ERP that already holds some of the local records (the in-memory
ERP, tests/erp_bridge/fake_odoo.py, which searches with the Odoo adapter's own
domains): every record ends up once on each side, matched by e-mail, VAT or phone
however each side wrote them; ambiguous ones are queued for review with nothing
created for them; a dry run shows the matches and writes nothing. On SQLite and
PostgreSQL."""

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import crm_core
from crm_core.cli import app, load_plugins
from crm_core.errors import AccessDenied, ValidationError
from crm_core.models import (
    Company,
    Contact,
    ExternalLink,
    SyncConflict,
    SyncFailure,
    SyncMatch,
)
from erp_bridge import matching as erp_matching
from erp_bridge import sync
from erp_bridge.odoo import matching as odoo_matching
from erp_bridge.odoo.adapter import OdooAdapter
from erp_bridge.review import decide, open_matches
from tests.erp_bridge.fake_odoo import FakeOdoo

PK = 1  # res.country id of Pakistan in the ERP below


@pytest.fixture
def odoo():
    erp = FakeOdoo()
    assert erp.add("res.country", code="PK", name="Pakistan") == PK
    erp.add("res.partner.category", name="VIP")
    return erp


def run(ws, erp, **kw):
    return sync(ws, erp, xmlid_prefix="crmbook_test", models=["company", "contact"], **kw)


def partner(erp, name, **values):
    return erp.add(
        "res.partner", name=name, is_company=False, category_id=[], country_id=PK, **values
    )


def local_names(ws, model):
    with ws.transaction() as s:
        return sorted(s.scalars(select(model.name)))


def remote_names(erp):
    return sorted(r["name"] for r in erp.records["res.partner"].values())


def link_of(ws, entity, local_id):
    with ws.transaction() as s:
        return s.scalars(
            select(ExternalLink.remote_id).where(
                ExternalLink.entity == entity, ExternalLink.local_id == local_id
            )
        ).one_or_none()


@pytest.fixture
def both_sides(ws, odoo):
    """The same business on both sides, written differently, plus one record each side
    alone, and one ERP partner two local contacts could be."""
    ws.set_setting("phone_region", "PK")
    company = ws.companies.create(
        name="Indus Textiles", vat="PK 1234567-8", city="Karachi", street="12 Mall Road"
    )
    imran = ws.contacts.create(
        name="Imran Khan", email="imran@indus.example.com", company=company["id"]
    )
    ayesha = ws.contacts.create(name="Ayesha Siddiqui", phone="0300 1234567", country="PK")
    bilal = ws.contacts.create(name="Bilal Ahmed", email="bilal@example.com")
    kamran_ali = ws.contacts.create(name="Kamran Ali", email="kamran@example.com")
    kamran_a = ws.contacts.create(name="Kamran A.", email="Kamran@Example.com")
    erp = {
        "indus": odoo.add(
            "res.partner",
            name="Indus Textiles",
            is_company=True,
            vat="PK12345678",
            city="Lahore",
            website="https://indus.example.com",
            category_id=[],
            country_id=PK,
        ),
    }
    erp["imran"] = partner(
        odoo, "Imran Khan", email="Imran@Indus.Example.com", parent_id=erp["indus"]
    )
    erp["ayesha"] = partner(odoo, "Ayesha Siddiqui", phone="+92 300 1234567")
    erp["sara"] = partner(odoo, "Sara Baloch", email="sara@example.com")
    erp["kamran"] = partner(odoo, "Kamran", email="KAMRAN@example.com")
    local = {
        "indus": company["id"],
        "imran": imran["id"],
        "ayesha": ayesha["id"],
        "bilal": bilal["id"],
        "kamran_ali": kamran_ali["id"],
        "kamran_a": kamran_a["id"],
    }
    return local, erp


def test_first_sync_leaves_one_of_each_on_both_sides(ws, odoo, both_sides):
    local, erp = both_sides
    report = run(ws, odoo)
    assert report.status == "done", report.errors
    frame = report.to_frame().set_index("model")
    assert frame.loc["company", ["matched", "created", "pushed_created"]].tolist() == [1, 0, 0]
    # Imran by e-mail (another case), Ayesha by phone (national here, international
    # there); Sara only in the ERP, Bilal only here; Kamran is ambiguous.
    assert frame.loc["contact", ["matched", "created", "pushed_created", "ambiguous"]].tolist() == [
        2,
        1,
        1,
        1,
    ]
    assert link_of(ws, "company", local["indus"]) == erp["indus"]
    assert link_of(ws, "contact", local["imran"]) == erp["imran"]
    assert link_of(ws, "contact", local["ayesha"]) == erp["ayesha"]
    # One of each on both sides: nothing created for Kamran on either side.
    assert local_names(ws, Company) == ["Indus Textiles"]
    assert local_names(ws, Contact) == [
        "Ayesha Siddiqui",
        "Bilal Ahmed",
        "Imran Khan",
        "Kamran A.",
        "Kamran Ali",
        "Sara Baloch",
    ]
    assert remote_names(odoo) == [
        "Ayesha Siddiqui",
        "Bilal Ahmed",
        "Imran Khan",
        "Indus Textiles",
        "Kamran",
        "Sara Baloch",
    ]
    for rid in (erp["kamran"],):
        with ws.transaction() as s:
            assert s.scalar(select(func.count()).where(ExternalLink.remote_id == rid)) == 0


def test_matched_pairs_merge_field_by_field(ws, odoo, both_sides):
    local, erp = both_sides
    report = run(ws, odoo)
    # Written differently, the same value: neither side is rewritten, no conflict.
    assert odoo.get("res.partner", erp["ayesha"])["phone"] == "+92 300 1234567"
    assert ws.contacts.get(local["ayesha"])["phone"] == "+923001234567"
    assert odoo.get("res.partner", erp["imran"])["email"] == "Imran@Indus.Example.com"
    assert ws.contacts.get(local["imran"])["email"] == "imran@indus.example.com"
    assert odoo.get("res.partner", erp["indus"])["vat"] == "PK12345678"
    assert ws.companies.get(local["indus"])["vat"] == "PK 1234567-8"
    # What one side alone has goes to the other.
    company = ws.companies.get(local["indus"])
    assert company["website"] == "https://indus.example.com"
    assert odoo.get("res.partner", erp["indus"])["street"] == "12 Mall Road"
    # Both have a city, different: a conflict, decided by the policy and recorded
    # (the local record is the more recent here: the last writer wins).
    with ws.transaction() as s:
        conflicts = [(c.entity, c.field, c.winner) for c in s.scalars(select(SyncConflict))]
        city = s.scalars(select(SyncConflict)).one()
        assert (json.loads(city.local_value), json.loads(city.remote_value)) == (
            "Karachi",
            "Lahore",
        )
    assert conflicts == [("company", "city", "local")]
    assert odoo.get("res.partner", erp["indus"])["city"] == "Karachi"
    assert report.models["company"].conflicts == 1
    # The contact's company is the one it was matched with: nothing to change.
    assert odoo.get("res.partner", erp["imran"])["parent_id"] == erp["indus"]
    # A second run finds nothing to do; the ambiguous one still waits.
    odoo.calls.clear()
    again = run(ws, odoo).to_frame().set_index("model")
    moved = ["created", "updated", "matched", "pushed_created", "pushed_updated", "conflicts"]
    assert again[moved].to_numpy().sum() == 0
    assert again.loc["contact", "ambiguous"] == 1
    assert not [c for c in odoo.calls if c[1] in ("write", "create")]


def test_an_ambiguous_match_waits_for_a_reviewer_then_is_applied(ws, odoo, both_sides):
    local, erp = both_sides
    run(ws, odoo)
    queued = open_matches(ws)
    assert queued[["entity", "record", "status"]].to_dict("records") == [
        {"entity": "contact", "record": f"remote #{erp['kamran']}", "status": "open"}
    ]
    assert queued.loc[0, "label"] == "Kamran (KAMRAN@example.com)"
    assert queued.loc[0, "candidates"] == (
        f"#{local['kamran_ali']} Kamran Ali (email); #{local['kamran_a']} Kamran A. (email)"
    )
    row = int(queued.loc[0, "id"])
    with pytest.raises(ValidationError, match="is not one of its candidates"):
        decide(ws, row, local["bilal"])
    ws.users.add("Olga Smirnova", "olga", role="sales")
    with pytest.raises(AccessDenied, match="may not answer queued match"):
        decide(ws.as_user("olga"), row, local["kamran_ali"])
    assert open_matches(ws).loc[0, "status"] == "open"
    decide(ws, row, local["kamran_ali"])
    report = run(ws, odoo)
    frame = report.to_frame().set_index("model")
    assert frame.loc["contact", ["matched", "ambiguous", "created"]].tolist() == [1, 0, 0]
    assert link_of(ws, "contact", local["kamran_ali"]) == erp["kamran"]
    # The other candidate is someone else: once the question is answered, it is
    # created in the ERP like any local record.
    assert frame.loc["contact", "pushed_created"] == 1
    pushed = link_of(ws, "contact", local["kamran_a"])
    assert odoo.get("res.partner", pushed)["name"] == "Kamran A."
    assert open_matches(ws).empty
    with ws.transaction() as s:
        assert s.scalar(select(func.count()).select_from(SyncMatch)) == 0
    assert remote_names(odoo).count("Kamran A.") == 1
    assert local_names(ws, Contact).count("Kamran") == 0  # never copied here
    # And the pair stays quiet afterwards.
    again = run(ws, odoo).to_frame().set_index("model")
    assert again[["created", "matched", "pushed_created", "ambiguous"]].to_numpy().sum() == 0


def test_a_record_of_its_own(ws, odoo, both_sides):
    run(ws, odoo)
    decide(ws, int(open_matches(ws).loc[0, "id"]), None)
    report = run(ws, odoo).to_frame().set_index("model")
    # The ERP's Kamran is created here; both local Kamrans are created there.
    assert report.loc["contact", ["created", "pushed_created", "matched"]].tolist() == [1, 2, 0]
    assert sorted(n for n in local_names(ws, Contact) if n.startswith("Kamran")) == [
        "Kamran",
        "Kamran A.",
        "Kamran Ali",
    ]
    assert sorted(n for n in remote_names(odoo) if n.startswith("Kamran")) == [
        "Kamran",
        "Kamran A.",
        "Kamran Ali",
    ]


def test_dry_run_shows_the_matches_and_writes_nothing(ws, odoo, both_sides):
    local, erp = both_sides
    before = {m: {rid: dict(r) for rid, r in t.items()} for m, t in odoo.records.items()}
    report = run(ws, odoo, dry_run=True)
    assert report.models["contact"].matched == 2 and report.models["company"].matched == 1
    assert report.models["contact"].ambiguous == 1
    matches = [line for line in report.plan if line.startswith(("match", "ambiguous"))]
    assert matches == [
        f"match company #{local['indus']} 'Indus Textiles' with res.partner #{erp['indus']} "
        "'Indus Textiles' (same VAT number)",
        f"match contact #{local['imran']} 'Imran Khan' with res.partner #{erp['imran']} "
        "'Imran Khan' (same e-mail)",
        f"match contact #{local['ayesha']} 'Ayesha Siddiqui' with res.partner "
        f"#{erp['ayesha']} 'Ayesha Siddiqui' (same phone)",
        f"ambiguous contact res.partner #{erp['kamran']} 'Kamran (KAMRAN@example.com)': "
        f"2 candidates here (#{local['kamran_ali']} same e-mail, #{local['kamran_a']} "
        "same e-mail); nothing created, queued for review",
    ]
    # The merge it would make is planned, not sent.
    assert f"write res.partner #{erp['indus']} ['city', 'street']" in report.plan
    assert odoo.records == before
    with ws.transaction() as s:
        for table in (ExternalLink, SyncMatch, SyncConflict):
            assert s.scalar(select(func.count()).select_from(table)) == 0
    assert ws.companies.get(local["indus"])["website"] is None
    assert len(local_names(ws, Contact)) == 5


def test_one_local_record_two_erp_partners_claim(ws, odoo):
    """Two ERP partners with one local contact's phone: neither is sure, nothing is
    created on either side, both wait for review."""
    ws.set_setting("phone_region", "PK")
    mine = ws.contacts.create(name="Zainab Malik", phone="+92 321 7654321")
    first = partner(odoo, "Zainab Malik", phone="0321-7654321")
    second = partner(odoo, "Z. Malik", mobile="0321 765 4321")
    report = run(ws, odoo)
    rep = report.models["contact"]
    assert (rep.matched, rep.ambiguous, rep.created, rep.pushed_created) == (0, 2, 0, 0)
    assert local_names(ws, Contact) == ["Zainab Malik"]
    assert remote_names(odoo) == ["Z. Malik", "Zainab Malik"]
    queued = open_matches(ws)
    assert sorted(queued["record"]) == sorted([f"remote #{first}", f"remote #{second}"])
    assert set(queued["candidates"]) == {f"#{mine['id']} Zainab Malik (phone)"}
    # The local contact is a candidate of both questions: it is not pushed meanwhile.
    assert run(ws, odoo).models["contact"].pushed_created == 0
    assert link_of(ws, "contact", mine["id"]) is None


def test_push_looks_the_record_up_in_the_erp_before_creating_it(ws, odoo):
    """A partner created in the ERP while a run is under way (after its pull read the
    partners) is found by the push instead of created a second time; two such partners
    make the local record wait for review."""
    ws.set_setting("phone_region", "PK")
    one = ws.contacts.create(name="Hina Qureshi", email="hina@example.com")
    two = ws.contacts.create(name="Omar Farooq", phone="0333 5556667", country="PK")
    made: dict[str, int] = {}

    def meanwhile(model, method):
        if (model, method) == ("res.partner", "match_candidates") and not made:
            made["hina"] = partner(odoo, "Hina Q.", email="HINA@example.com")
            made["omar1"] = partner(odoo, "Omar Farooq", phone="+923335556667")
            made["omar2"] = partner(odoo, "O. Farooq", phone="(0333) 555-6667")

    odoo.fault = meanwhile
    report = run(ws, odoo)
    rep = report.models["contact"]
    assert (rep.matched, rep.ambiguous, rep.pushed_created) == (1, 1, 0)
    assert link_of(ws, "contact", one["id"]) == made["hina"]
    assert link_of(ws, "contact", two["id"]) is None
    # Matched, then merged: the names differ (a conflict, recorded; the local one is
    # the more recent), the e-mails only in case (the same value, left as written).
    assert remote_names(odoo) == ["Hina Qureshi", "O. Farooq", "Omar Farooq"]
    assert odoo.get("res.partner", made["hina"])["email"] == "HINA@example.com"
    with ws.transaction() as s:
        conflict = s.scalars(select(SyncConflict)).one()
        assert (conflict.field, conflict.winner, json.loads(conflict.remote_value)) == (
            "name",
            "local",
            "Hina Q.",
        )
    queued = open_matches(ws)
    assert queued["record"].tolist() == [f"local #{two['id']}"]
    assert queued.loc[0, "candidates"] == (
        f"#{made['omar1']} Omar Farooq (phone); #{made['omar2']} O. Farooq (phone)"
    )
    # The reviewer picks one: the next run links them, and reads the other partner
    # again, which becomes a contact of its own here.
    odoo.fault = None
    decide(ws, int(queued.loc[0, "id"]), made["omar1"])
    report = run(ws, odoo)
    rep = report.models["contact"]
    assert link_of(ws, "contact", two["id"]) == made["omar1"]
    assert (rep.matched, rep.pushed_created) == (1, 0)
    assert "O. Farooq" not in local_names(ws, Contact)
    again = run(ws, odoo)
    assert again.models["contact"].created == 1  # the partner left over
    assert local_names(ws, Contact) == ["Hina Qureshi", "O. Farooq", "Omar Farooq"]
    assert open_matches(ws).empty


def test_odoo_searches_loosely_and_in_batches(monkeypatch):
    """The Odoo adapter's search: e-mails exactly in any case, VAT numbers and the last
    digits of phones with anything between their characters, every phone field read."""
    terms = odoo_matching.terms(
        {"email": ["a_b@example.com"], "vat": ["PK12"], "phone": ["+923001234567"]},
        ["email", "vat", "phone", "mobile", "name"],
    )
    assert terms == [
        ["email", "=ilike", "a\\_b@example.com"],
        ["vat", "ilike", "P%K%1%2"],
        ["phone", "ilike", "1%2%3%4%5%6%7"],
        ["mobile", "ilike", "1%2%3%4%5%6%7"],
    ]
    # Odoo 19 has no mobile: a field not read is not searched.
    assert odoo_matching.terms({"phone": ["+923001234567"]}, ["phone"]) == [
        ["phone", "ilike", "1%2%3%4%5%6%7"]
    ]
    adapter = OdooAdapter("http://127.0.0.1:1", "db", "admin", "secret")
    calls = []

    def call(model, method, ids=None, **kwargs):
        calls.append((model, method, kwargs["domain"]))
        return [{"id": 7, "name": "x"}, {"id": 3 + len(calls), "name": "y"}]

    monkeypatch.setattr(adapter, "call", call)
    monkeypatch.setattr(odoo_matching, "TERMS", 2)
    found = adapter.match_candidates(
        "res.partner",
        {"email": ["a@example.com", "b@example.com", "c@example.com"]},
        ["email"],
        [["is_company", "=", False]],
    )
    assert [r["id"] for r in found] == [4, 5, 7]  # one of each, in id order
    assert [c[2] for c in calls] == [
        [
            ["is_company", "=", False],
            "|",
            ["email", "=ilike", "a@example.com"],
            ["email", "=ilike", "b@example.com"],
        ],
        [["is_company", "=", False], ["email", "=ilike", "c@example.com"]],
    ]
    assert adapter.match_candidates("res.partner", {}, ["email"], []) == []


def test_status_lists_the_queue_and_sync_match_answers(tmp_path, clock):
    """``crmbook sync status`` lists what waits for review; ``crmbook sync match``
    answers it, refusing what is not one of its candidates."""
    load_plugins()
    runner = CliRunner()
    path = tmp_path / "w.sqlite"
    ws = crm_core.open(path, clock=clock)
    first = ws.contacts.create(name="Kamran Ali", email="kamran@example.com")
    second = ws.contacts.create(name="Kamran A.", email="kamran@example.com")
    erp = FakeOdoo()
    rid = partner(erp, "Kamran", email="Kamran@Example.com")
    run(ws, erp)
    ws.close()
    status = runner.invoke(app, ["sync", "status", "-w", str(path)], env={"COLUMNS": "250"})
    assert status.exit_code == 0, status.output
    assert "1 ambiguous match(es) to review" in status.output
    assert f"remote #{rid}" in status.output
    assert f"#{first['id']} Kamran Ali (email); #{second['id']} Kamran A. (email)" in status.output
    wrong = runner.invoke(app, ["sync", "match", "1", "999", "-w", str(path)])
    assert wrong.exit_code == 1 and "is not one of its candidates" in wrong.output
    answer = runner.invoke(app, ["sync", "match", "1", str(second["id"]), "-w", str(path)])
    assert answer.exit_code == 0, answer.output
    assert f"match 1: #{second['id']}; the next sync applies it" in answer.output
    ws = crm_core.open(path, clock=clock)
    report = run(ws, erp)
    assert link_of(ws, "contact", second["id"]) == rid
    assert report.models["contact"].pushed_created == 1  # Kamran Ali, someone else
    ws.close()


def test_many_records_are_looked_up_among_the_erp_records_with_no_link(ws, odoo, monkeypatch):
    """Pushing many records, the lookups are narrowed to the ERP's records with no link
    (one id search first); when the pull linked them all, nothing is searched."""
    monkeypatch.setattr(erp_matching, "BATCH", 1)
    ws.set_setting("phone_region", "PK")
    linked = partner(odoo, "Rashid Mehmood", email="rashid@example.com")
    hina = ws.contacts.create(name="Hina Qureshi", email="hina@example.com")
    ws.contacts.create(name="Omar Farooq", phone="0333 5556667", country="PK")
    made: dict[str, int] = {}

    def meanwhile(model, method):
        if (model, method) == ("res.partner", "search") and not made:
            made["hina"] = partner(odoo, "Hina Qureshi", email="hina@example.com")

    odoo.fault = meanwhile
    report = run(ws, odoo)
    rep = report.models["contact"]
    assert (rep.created, rep.matched, rep.pushed_created) == (1, 1, 1)
    assert link_of(ws, "contact", hina["id"]) == made["hina"]
    searched = [m for model, m in odoo.calls if model == "res.partner"]
    assert searched.count("search") == 1 and searched.count("match_candidates") == 2
    # Every ERP record linked: the next push of many records searches nothing.
    for name in ("Bilal Ahmed", "Sara Baloch"):
        ws.contacts.create(name=name, email=f"{name.split()[0].lower()}@example.com")
    odoo.calls.clear()
    report = run(ws, odoo)
    assert report.models["contact"].pushed_created == 2
    assert ("res.partner", "match_candidates") not in odoo.calls
    assert link_of(ws, "contact", local_of_remote(ws, "contact", linked)) == linked


def test_a_deal_waits_for_its_partner_in_the_review_queue(ws, odoo, both_sides):
    """A lead whose partner is an open review question is not pulled without it (it
    would lose its customer): it waits, listed, and comes with its partner once the
    question is answered."""
    local, erp = both_sides
    user = odoo.add("res.users", name="Ayesha Siddiqui", login="ayesha", email="a@example.com")
    stage = odoo.add("crm.stage", name="New", sequence=1, is_won=False)
    odoo.add("ir.model", model="crm.lead")
    lead = odoo.add(
        "crm.lead",
        name="Kamran's order",
        type="opportunity",
        partner_id=erp["kamran"],
        user_id=user,
        stage_id=stage,
        probability=10.0,
        expected_revenue=250000.0,
        priority="1",
        tag_ids=[],
        description=False,
        date_deadline=False,
        lost_reason_id=False,
    )
    models = ["company", "contact", "opportunity"]
    report = sync(ws, odoo, xmlid_prefix="crmbook_test", models=models)
    assert report.status == "done"
    assert local_of_remote(ws, "opportunity", lead) is None
    waiting = erp_failures(ws)
    assert [(r["entity"], r["record"]) for r in waiting] == [("opportunity", lead)]
    assert "waits in the match review" in waiting[0]["error"]
    # Still waiting on the next run: nothing created behind the reviewer's back.
    sync(ws, odoo, xmlid_prefix="crmbook_test", models=models)
    assert local_of_remote(ws, "opportunity", lead) is None
    decide(ws, int(open_matches(ws).loc[0, "id"]), local["kamran_ali"])
    report = sync(ws, odoo, xmlid_prefix="crmbook_test", models=models)
    deal = local_of_remote(ws, "opportunity", lead)
    assert deal is not None
    assert ws.pipeline.get(deal)["contact_id"] == local["kamran_ali"]
    assert erp_failures(ws) == []


def local_of_remote(ws, entity, remote_id):
    with ws.transaction() as s:
        return s.scalars(
            select(ExternalLink.local_id).where(
                ExternalLink.entity == entity, ExternalLink.remote_id == remote_id
            )
        ).one_or_none()


def erp_failures(ws):
    with ws.transaction() as s:
        return [
            {"entity": f.entity, "record": f.record_id, "error": f.error}
            for f in s.scalars(select(SyncFailure).order_by(SyncFailure.id))
        ]


def test_a_contact_waits_for_its_company_in_the_review_queue(ws, odoo):
    one = ws.companies.create(name="Mehran Foods", vat="PK 7654321-0")
    ws.companies.create(name="Mehran Foods (Hyderabad)", vat="PK76543210")
    mehran = odoo.add(
        "res.partner", name="Mehran", is_company=True, vat="PK 7654321-0", category_id=[]
    )
    sana = partner(odoo, "Sana Memon", email="sana@mehran.example.com", parent_id=mehran)
    run(ws, odoo)
    assert open_matches(ws).loc[0, "record"] == f"remote #{mehran}"
    assert local_of_remote(ws, "contact", sana) is None
    assert [(r["entity"], r["record"]) for r in erp_failures(ws)] == [("contact", sana)]
    decide(ws, int(open_matches(ws).loc[0, "id"]), one["id"])
    run(ws, odoo)
    contact = local_of_remote(ws, "contact", sana)
    assert ws.contacts.get(contact)["company_id"] == one["id"]
    assert erp_failures(ws) == []
