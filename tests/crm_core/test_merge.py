"""Merging duplicates and undoing the merge (``ws.duplicates.compare / merge / undo /
merges``), on SQLite and PostgreSQL.

The round trip is checked on full table dumps: every table of ``Base.metadata``,
ordered by primary key, equal before the merge and after its undo, but for the two
exclusions :func:`comparable` states (the journal grows; versions move forward).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from typer.testing import CliRunner

import crm_core
from crm_core import AccessDenied, NotFoundError, ValidationError
from crm_core.cli import app
from crm_core.duplicates import merge as merging
from crm_core.duplicates.relink import references
from crm_core.models import (
    Base,
    Company,
    Contact,
    ExternalLink,
    Invoice,
    JournalEntry,
    SalesOrder,
    SyncConflict,
    SyncMatch,
    Versioned,
)

#: Columns a merge and its undo move forward on purpose, like any edit and its
#: reversal: restoring an old version number would let an edit based on the merged
#: record pass the version check once the record reaches that number again (see
#: crm_core.duplicates.merge); ``updated_at`` says when the record last changed, and
#: the undo is a change. Every other column of every table is compared.
MOVED = ("version", "updated_at")


# -- dumps ------------------------------------------------------------------------------
def dump(ws: crm_core.Workspace) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, ordered by primary key."""
    with ws.engine.connect() as conn:
        return {
            table.name: [
                dict(row)
                for row in conn.execute(
                    select(table).order_by(*table.primary_key.columns)
                ).mappings()
            ]
            for table in Base.metadata.sorted_tables
        }


def comparable(tables: dict[str, list[dict[str, Any]]], journal_until: int) -> dict[str, Any]:
    """A dump without what a round trip changes on purpose: the journal rows after
    ``journal_until`` (the journal is the audit log: the merge and its undo are in it,
    and :func:`journal_rows_are_the_merge_s` checks those rows) and :data:`MOVED` of
    versioned rows (:func:`versions_moved_only_where_touched` checks them)."""
    versioned = {
        m.local_table.name for m in Base.registry.mappers if issubclass(m.class_, Versioned)
    }
    out: dict[str, Any] = {}
    for name, rows in tables.items():
        if name == "journal":
            rows = [r for r in rows if r["id"] <= journal_until]
        if name in versioned:
            rows = [{k: v for k, v in r.items() if k not in MOVED} for r in rows]
        out[name] = rows
    return out


def last_journal_id(ws: crm_core.Workspace) -> int:
    with ws.transaction() as s:
        return int(s.scalar(select(func.max(JournalEntry.id))) or 0)


def assert_round_trip(before: dict[str, Any], after: dict[str, Any], until: int) -> None:
    """``after`` equals ``before`` but for the exclusions, table by table (so a failure
    names the table)."""
    old, new = comparable(before, until), comparable(after, until)
    assert old.keys() == new.keys()
    for name in old:
        assert new[name] == old[name], f"table {name} differs after the undo"


def touched(ws: crm_core.Workspace, merge_id: str) -> set[tuple[str, int]]:
    with ws.transaction() as s:
        return set(
            s.execute(
                select(JournalEntry.entity, JournalEntry.record_id).where(
                    JournalEntry.origin == merging.ORIGIN + merge_id
                )
            ).all()
        )


def versions(tables: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, int], int]:
    return {
        (name, r["id"]): r["version"]
        for name, rows in tables.items()
        for r in rows
        if "version" in r
    }


# -- the shop ---------------------------------------------------------------------------
def link(s: Any, ws: crm_core.Workspace, backend: str, entity: str, local: int, remote: int):
    s.add(
        ExternalLink(
            backend=backend,
            entity=entity,
            local_id=local,
            remote_model="res.partner",
            remote_id=remote,
            synced={"local": {"name": "x"}},
            synced_at=ws.clock(),
        )
    )


@pytest.fixture
def shop(ws, clock) -> dict[str, int]:
    """Imran Khan twice (``keep`` first, ``drop`` an hour later), each with deals,
    activities, interactions, tags, campaigns, custom values, ERP links and ERP copies
    (an invoice, a sales order) and a segment naming ``drop``."""
    ws.set_setting("phone_region", "PK")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.custom_fields.define("contact", "region", "text")
    ws.custom_fields.define("contact", "since", "date")
    ids: dict[str, int] = {}
    ids["indus"] = ws.companies.create(name="Indus Textiles", city="Karachi")["id"]
    ids["keep"] = ws.contacts.create(
        name="Imran Khan",
        email="imran@indus.example.com",
        company=ids["indus"],
        city="Karachi",
        tags=["vip"],
        custom={"region": "Sindh"},
    )["id"]
    clock.advance(hours=1)
    ids["drop"] = ws.contacts.create(
        name="Imran Khan",
        phone="0300 1234567",
        country="PK",
        city="Multan",
        job_title="Buyer",
        birthday="1980-02-03",
        tags=["lahore", "VIP"],
        custom={"region": "Punjab", "since": "2020-01-02"},
    )["id"]
    clock.advance(hours=1)
    ws.contacts.update(ids["keep"], city="Lahore")  # now the newest city
    ids["deal"] = ws.pipeline.create(
        "Uniforms", contact=ids["drop"], expected_revenue="1000.00", currency="PKR"
    )["id"]
    ids["own_deal"] = ws.pipeline.create(
        "Towels", contact=ids["keep"], expected_revenue="50.00", currency="PKR"
    )["id"]
    ids["act"] = ws.activities.schedule("call", "Call Imran", "2026-05-20", contact=ids["drop"])[
        "id"
    ]
    ids["int"] = ws.interactions.log("call", "out", contact=ids["drop"], subject="Sizes")["id"]
    ids["spring"] = ws.campaigns.create(name="Spring push", cost="100.00", currency="PKR")["id"]
    ids["autumn"] = ws.campaigns.create(name="Autumn push")["id"]
    ws.campaigns.add_contacts(ids["spring"], [ids["keep"], ids["drop"]])
    ws.campaigns.add_contacts(ids["autumn"], [ids["drop"]])
    ws.campaigns.responded(ids["spring"], ids["drop"])
    ids["segment"] = ws.segments.create("Imran's deals", "opportunity", contact_id=ids["drop"])[
        "id"
    ]
    with ws.transaction() as s:
        link(s, ws, "odoo:a", "contact", ids["keep"], 17)
        link(s, ws, "odoo:a", "contact", ids["drop"], 42)  # both linked: stays on drop
        link(s, ws, "odoo:b", "contact", ids["drop"], 5)  # only drop linked: moves
        invoice = Invoice(
            backend="odoo:a",
            remote_id=900,
            number="INV/1",
            move_type="out_invoice",
            contact_id=ids["drop"],
            invoice_date=dt.date(2026, 5, 1),
            currency="PKR",
            amount_untaxed=Decimal("100.00"),
            amount_total=Decimal("117.00"),
            amount_residual=Decimal("0.00"),
            state="posted",
        )
        order = SalesOrder(
            backend="odoo:a",
            remote_id=901,
            name="S0001",
            contact_id=ids["drop"],
            currency="PKR",
            amount_total=Decimal("117.00"),
            state="sale",
        )
        s.add_all([invoice, order])
        s.flush()
        ids["invoice"], ids["order"] = invoice.id, order.id
    clock.advance(hours=1)
    return ids


# -- compare ----------------------------------------------------------------------------
def test_compare_defaults_to_the_newest_non_empty_value(ws, shop):
    shown = ws.duplicates.compare("contacts", shop["keep"], shop["drop"]).set_index("field")
    assert list(shown.columns) == ["a", "b", "differs", "choice"]
    assert shown.loc["name"].tolist() == ["Imran Khan", "Imran Khan", False, "a"]
    # Only one side has a value: that one.
    assert shown.loc["email", "choice"] == "a" and shown.loc["phone", "choice"] == "b"
    assert shown.loc["phone", "b"] == "+923001234567"
    assert shown.loc["job_title"].tolist() == [None, "Buyer", True, "b"]
    # Both have one: the most recently changed (keep's city was edited last).
    assert shown.loc["city"].tolist() == ["Lahore", "Multan", True, "a"]
    assert shown.loc["custom.region"].tolist() == ["Sindh", "Punjab", True, "b"]
    assert shown.loc["custom.since"].tolist() == [None, "2020-01-02", True, "b"]
    assert shown.loc["tags", "a"] == ["vip"] and shown.loc["tags", "b"] == ["lahore", "vip"]
    assert shown.index.tolist()[-3:] == ["custom.region", "custom.since", "tags"]


# -- merge and undo ---------------------------------------------------------------------
def test_merge_moves_everything_and_undo_restores_every_table(ws, shop):
    keep, drop = shop["keep"], shop["drop"]
    before, until = dump(ws), last_journal_id(ws)
    done = ws.duplicates.merge("contacts", keep, drop, choose={"custom.region": "keep"})
    assert (done["kept"], done["dropped"]) == (keep, drop)
    record = done["record"]
    assert record["email"] == "imran@indus.example.com"  # keep's own
    assert record["phone"] == "+923001234567"  # only drop had one
    assert record["city"] == "Lahore"  # the newest
    assert record["job_title"] == "Buyer" and record["birthday"] == dt.date(1980, 2, 3)
    assert record["custom"] == {"region": "Sindh", "since": dt.date(2020, 1, 2)}  # chosen
    assert record["tags"] == ["lahore", "vip"]  # both records' ("VIP" is "vip")
    assert record["company_id"] == shop["indus"]
    assert ws.contacts.get(drop)["active"] is False
    assert ws.contacts.get(drop)["tags"] == []
    assert ws.pipeline.get(shop["deal"])["contact_id"] == keep
    assert ws.activities.get(shop["act"])["contact_id"] == keep
    after = dump(ws)
    by_id = {r["id"]: r for r in after["interactions"]}
    assert by_id[shop["int"]]["contact_id"] == keep
    members = {(r["campaign_id"], r["contact_id"]): r for r in after["campaign_members"]}
    # In spring twice: one row, with the response only drop's row had.
    assert set(members) == {(shop["spring"], keep), (shop["autumn"], keep)}
    assert members[(shop["spring"], keep)]["responded_at"] is not None
    assert [r["contact_id"] for r in after["erp_invoices"]] == [keep]
    assert [r["contact_id"] for r in after["erp_sales_orders"]] == [keep]
    assert [r["filters"] for r in after["segments"]] == [{"contact_id": keep}]
    links = {(r["backend"], r["remote_id"]): r["local_id"] for r in after["external_links"]}
    assert links == {("odoo:a", 17): keep, ("odoo:a", 42): drop, ("odoo:b", 5): keep}
    # Every change under the one merge id.
    with ws.transaction() as s:
        origins = set(s.scalars(select(JournalEntry.origin).where(JournalEntry.id > until)))
    assert origins == {merging.ORIGIN + done["merge_id"]}
    listed = ws.duplicates.merges()
    assert listed.columns.tolist() == merging.MERGES_COLUMNS
    assert listed[["merge_id", "entity", "kept", "dropped", "user", "undone"]].values.tolist() == [
        [done["merge_id"], "contacts", keep, drop, None, False]
    ]

    undone = ws.duplicates.undo(done["merge_id"])
    assert (undone["kept"], undone["dropped"], undone["entity"]) == (keep, drop, "contacts")
    assert undone["records"]["dropped"]["active"] is True
    restored = dump(ws)
    assert_round_trip(before, restored, until)
    # Versions moved only on the records the merge touched, and only forward.
    moved = {k for k, n in versions(restored).items() if n != versions(before)[k]}
    assert moved == {k for k in touched(ws, done["merge_id"]) if k in versions(before)}
    assert all(versions(restored)[k] > versions(before)[k] for k in moved)
    assert ws.duplicates.merges()["undone"].tolist() == [True]


def test_the_syncs_open_questions_follow_the_kept_record(ws, shop):
    """Open conflicts move with the ERP link they are about; queued matches offer (and a
    decided one chooses) the kept record, never one merged away; undo puts them back."""
    keep, drop = shop["keep"], shop["drop"]
    other = ws.contacts.create(name="Imran Qureshi")["id"]
    now = ws.clock()

    def conflict(backend: str, remote: int) -> SyncConflict:
        return SyncConflict(
            backend=backend, entity="contact", local_id=drop, remote_model="res.partner",
            remote_id=remote, field="city", base_value="Karachi", local_value="Lahore",
            remote_value="Quetta", winner="local", rule="newest", detected_at=now,
        )  # fmt: skip

    def match(record: int, ids: list[int], **kw: Any) -> SyncMatch:
        offered = [{"id": i, "keys": ["phone"], "name": f"#{i}"} for i in ids]
        return SyncMatch(
            backend="odoo:a", entity="contact", direction="pull", record_id=record,
            label="Imran", candidates=offered, detected_at=now, **kw,
        )  # fmt: skip

    with ws.transaction() as s:
        s.add_all(
            [
                conflict("odoo:b", 5),  # drop's link on odoo:b moves to keep: so does this
                conflict("odoo:a", 42),  # both linked on odoo:a: drop keeps its link
                match(100, [drop, other]),
                match(101, [keep, drop]),
                match(102, [drop, other], status="decided", choice=drop),
                match(103, [drop], status="applied", choice=drop),  # done: history
            ]
        )
    before, until = dump(ws), last_journal_id(ws)
    done = ws.duplicates.merge("contacts", keep, drop)
    after = dump(ws)
    conflicts = {r["backend"]: r["local_id"] for r in after["sync_conflicts"]}
    assert conflicts == {"odoo:b": keep, "odoo:a": drop}
    offered = {r["record_id"]: [c["id"] for c in r["candidates"]] for r in after["sync_matches"]}
    assert offered == {100: [keep, other], 101: [keep], 102: [keep, other], 103: [drop]}
    chosen = {r["record_id"]: r["choice"] for r in after["sync_matches"]}
    assert chosen == {100: None, 101: None, 102: keep, 103: drop}

    ws.duplicates.undo(done["merge_id"])
    assert_round_trip(before, dump(ws), until)


def test_merging_companies_moves_their_people_and_deals(ws, clock):
    a = ws.companies.create(name="Indus Textiles", vat="PK1234567")["id"]
    b = ws.companies.create(name="Indus Textile Mills", website="https://indus.example.com")["id"]
    people = [ws.contacts.create(name=n, company=b)["id"] for n in ("Imran Khan", "Sana Mirza")]
    deal = ws.pipeline.create("Uniforms", company=b, expected_revenue="1.00")["id"]
    before, until = dump(ws), last_journal_id(ws)
    done = ws.duplicates.merge("companies", a, b, choose={"name": "drop"})
    assert done["record"]["name"] == "Indus Textile Mills"
    assert done["record"]["vat"] == "PK1234567"
    assert done["record"]["website"] == "https://indus.example.com"
    assert [ws.contacts.get(i)["company_id"] for i in people] == [a, a]
    assert ws.pipeline.get(deal)["company_id"] == a
    assert ws.companies.get(b)["active"] is False
    ws.duplicates.undo(done["merge_id"])
    assert [ws.contacts.get(i)["company_id"] for i in people] == [b, b]
    assert_round_trip(before, dump(ws), until)


def test_every_reference_to_a_party_is_known():
    """A new table pointing at companies or contacts fails here until it is added,
    with how a merge moves it (the merge itself moves any foreign key it finds)."""
    found = {
        model.__name__: {r.name: r.how for r in references(model)} for model in (Contact, Company)
    }
    assert found == {
        "Contact": {
            "contact_tags.contact_id": "tags",
            "activities.contact_id": "records",
            "campaign_members.contact_id": "rows",
            "erp_invoices.contact_id": "rows",
            "erp_sales_orders.contact_id": "rows",
            "interactions.contact_id": "records",
            "opportunities.contact_id": "records",
            # e-mail (crm_core.mail): a proposal's contact, a bounce's, an outbox message's
            "contact_proposals.contact_id": "rows",
            "email_bounces.contact_id": "rows",
            "mail_outbox.contact_id": "rows",
        },
        "Company": {
            "company_tags.company_id": "tags",
            "contacts.company_id": "records",
            "activities.company_id": "records",
            "erp_invoices.company_id": "rows",
            "erp_sales_orders.company_id": "rows",
            "interactions.company_id": "records",
            "opportunities.company_id": "records",
        },
    }


# -- refusals ---------------------------------------------------------------------------
REFUSALS = [
    # (entity, keep, drop, choose, error, words)
    ("contacts", "keep", "keep", None, ValidationError, "twice"),
    ("contacts", "keep", 999_999, None, NotFoundError, "contact 999999 does not exist"),
    ("contacts", 999_998, "drop", None, NotFoundError, "contact 999998 does not exist"),
    ("contacts", "keep", "x", None, NotFoundError, "contact 'x' does not exist"),
    ("companies", "keep", "drop", None, NotFoundError, "company"),
    ("deals", "keep", "drop", None, ValidationError, "must be one of contacts, companies"),
    ("contacts", "keep", "drop", {"nickname": "drop"}, ValidationError, "is not a field shown"),
    ("contacts", "keep", "drop", {"email": "mine"}, ValidationError, 'must be "keep" or "drop"'),
    ("contacts", "keep", "drop", ["email"], ValidationError, "must map field names"),
]


@pytest.mark.parametrize(("entity", "keep", "drop", "choose", "error", "words"), REFUSALS)
def test_merge_refusals_name_what_is_wrong(ws, shop, entity, keep, drop, choose, error, words):
    keep, drop = shop.get(keep, keep), shop.get(drop, drop)
    if entity == "companies":
        # Ids of contacts given as companies: no such company (one company exists).
        keep, drop = shop["keep"] + 100, shop["drop"] + 100
    before = dump(ws)
    with pytest.raises(error) as refused:
        ws.duplicates.merge(entity, keep, drop, choose)
    assert words in str(refused.value)
    assert dump(ws) == before


def test_a_record_merged_away_cannot_be_merged_again(ws, shop):
    third = ws.contacts.create(name="Imran K.")["id"]
    ws.duplicates.merge("contacts", shop["keep"], shop["drop"])
    for keep, drop in ((third, shop["drop"]), (shop["drop"], third)):
        with pytest.raises(ValidationError) as refused:
            ws.duplicates.merge("contacts", keep, drop)
        assert f"contact #{shop['drop']} was merged into contact #{shop['keep']}" in str(
            refused.value
        )


def test_a_sales_user_may_not_merge_or_undo(ws, shop):
    rep = ws.as_user("bilal")
    before = dump(ws)
    with pytest.raises(AccessDenied) as refused:
        rep.duplicates.merge("contacts", shop["keep"], shop["drop"])
    assert "'bilal' (sales) may not merge contact" in str(refused.value)
    assert dump(ws) == before
    done = ws.as_user("ayesha").duplicates.merge("contacts", shop["keep"], shop["drop"])
    assert ws.duplicates.merges()["user"].tolist() == ["ayesha"]
    with pytest.raises(AccessDenied):
        rep.duplicates.undo(done["merge_id"])
    assert ws.contacts.get(shop["drop"])["active"] is False


def test_undo_is_refused_after_a_later_change_and_a_second_time(ws, shop, clock):
    keep, drop = shop["keep"], shop["drop"]
    done = ws.duplicates.merge("contacts", keep, drop)
    clock.advance(minutes=5)
    ws.as_user("ayesha").contacts.update(keep, phone="0301 7654321")  # set by the merge
    ws.pipeline.update(shop["deal"], contact=shop["keep"] + 0, description="later")
    ws.contacts.update(keep, notes="met at the fair")  # a field the merge left alone
    with pytest.raises(ValidationError) as refused:
        ws.duplicates.undo(done["merge_id"])
    message = str(refused.value)
    assert f"contact #{keep} phone" in message
    assert "changed since the merge by ayesha at 2026-05-15 12:35 UTC" in message
    assert "set it back to the merge's value first" in message
    # Putting the value back as the merge left it lets the undo through; the later
    # edit of another field stays.
    ws.contacts.update(keep, phone="0300 1234567")
    undone = ws.duplicates.undo(done["merge_id"])
    assert undone["records"]["kept"]["phone"] is None
    assert undone["records"]["kept"]["notes"] == "met at the fair"
    assert ws.pipeline.get(shop["deal"])["contact_id"] == drop
    with pytest.raises(ValidationError, match="was undone already at 2026-05-15 12:35 UTC"):
        ws.duplicates.undo(done["merge_id"])
    with pytest.raises(NotFoundError, match="merge 'nope' does not exist"):
        ws.duplicates.undo("nope")


def test_undo_is_refused_when_a_moved_row_moved_again(ws, shop):
    done = ws.duplicates.merge("contacts", shop["keep"], shop["drop"])
    other = ws.contacts.create(name="Sana Mirza")["id"]
    ws.pipeline.update(shop["deal"], contact=other)
    with pytest.raises(ValidationError) as refused:
        ws.duplicates.undo(done["merge_id"])
    assert f"opportunity #{shop['deal']} contact_id" in str(refused.value)
    assert ws.contacts.get(shop["drop"])["active"] is False  # nothing was undone


# -- a property: any small workspace round-trips ----------------------------------------
names = st.sampled_from(["Imran Khan", "Sana Mirza", "Ayesha"])
maybe = st.one_of(st.none(), st.sampled_from(["a@example.com", "b@example.com"]))
cities = st.one_of(st.none(), st.sampled_from(["Karachi", "Lahore"]))
tag_sets = st.lists(st.sampled_from(["vip", "lahore", "new"]), max_size=3, unique=True)
people = st.fixed_dictionaries(
    {"name": names, "email": maybe, "city": cities, "tags": tag_sets},
    optional={"custom": st.fixed_dictionaries({"region": st.sampled_from(["Sindh", "Punjab"])})},
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    group=st.lists(people, min_size=2, max_size=3),
    deals=st.lists(st.integers(0, 2), max_size=3),
    members=st.lists(st.integers(0, 2), max_size=3),
    choose=st.dictionaries(
        st.sampled_from(["name", "email", "city", "tags", "custom.region"]),
        st.sampled_from(["keep", "drop"]),
    ),
    order=st.booleans(),
)
def test_merge_and_undo_round_trip_any_small_workspace(
    ws, clock, group, deals, members, choose, order
):
    # Examples share one workspace: the round trip must hold whatever is already there.
    if ws.custom_fields.list().empty:
        ws.custom_fields.define("contact", "region", "text")
    ids = []
    for person in group:
        clock.advance(minutes=1)
        ids.append(ws.contacts.create(**person)["id"])
    for i in deals:
        ws.pipeline.create("Deal", contact=ids[i % len(ids)], expected_revenue="1.00")
    campaign = ws.campaigns.create(name=f"Campaign {ids[0]}")["id"]
    ws.campaigns.add_contacts(campaign, sorted({ids[i % len(ids)] for i in members}))
    keep, drop = (ids[0], ids[1]) if order else (ids[1], ids[0])
    shown = set(ws.duplicates.compare("contacts", keep, drop)["field"])
    choose = {k: v for k, v in choose.items() if k in shown}
    before, until = dump(ws), last_journal_id(ws)
    done = ws.duplicates.merge("contacts", keep, drop, choose)
    ws.duplicates.undo(done["merge_id"])
    assert_round_trip(before, dump(ws), until)


# -- the command line -------------------------------------------------------------------
def test_cli_merges_lists_and_undoes(tmp_path):
    path = tmp_path / "shop.sqlite"
    with crm_core.open(path) as ws:
        keep = ws.contacts.create(name="Imran Khan", email="imran@example.com")["id"]
        drop = ws.contacts.create(name="Imran K.", phone="+923001234567")["id"]
    runner = CliRunner()
    env = {"COLUMNS": "200"}
    w = ["-w", str(path)]
    bad = runner.invoke(app, ["duplicates", "merge", "contacts", "1", "2", "--field", "x", *w])
    assert bad.exit_code == 1 and "write FIELD=keep or FIELD=drop" in bad.output
    merged = runner.invoke(
        app,
        ["duplicates", "merge", "contacts", str(keep), str(drop), "--field", "name=drop", *w],
        env=env,
    )
    assert merged.exit_code == 0, merged.output
    assert f"merged contact #{drop} into contact #{keep} (Imran K.)" in merged.output
    with crm_core.open(path) as ws:
        merge_id = ws.duplicates.merges()["merge_id"].tolist()[0]
        assert ws.contacts.get(keep)["phone"] == "+923001234567"
    assert f"crmbook duplicates undo {merge_id}" in merged.output
    listed = runner.invoke(app, ["duplicates", "merges", *w], env=env)
    assert listed.exit_code == 0 and merge_id in listed.output
    undone = runner.invoke(app, ["duplicates", "undo", merge_id, *w], env=env)
    assert undone.exit_code == 0, undone.output
    assert f"undid merge {merge_id}" in undone.output
    again = runner.invoke(app, ["duplicates", "undo", merge_id, *w], env=env)
    assert again.exit_code == 1 and "was undone already" in again.output
    with crm_core.open(path) as ws:
        assert ws.contacts.get(keep)["name"] == "Imran Khan"
        assert ws.duplicates.merges()["undone"].tolist() == [True]
