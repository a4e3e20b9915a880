"""Bulk import: validated like the services, searchable, journaled, rejects on file."""

import csv
import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, text

from crm_core import bulk
from crm_core.models import (
    Company,
    Contact,
    JournalEntry,
    Opportunity,
    SearchTerm,
    StageChange,
    Tag,
)
from crm_core.party_writer import PartyWriter
from crm_core.text import words

GOOD = [
    {
        "name": "عمران خان",
        "email": "Imran@Indus.PK",
        "phone": "0300 1234567",
        "city": "Karachi",
        "country": "PK",
        "language": "ur",
    },
    {
        "name": "Мария Иванова",
        "email": "maria@example.ru",
        "phone": "+7 912 345-67-89",
        "city": "Москва",
        "country": "RU",
    },
    {
        "name": "আব্দুল করিম",
        "email": "karim@example.com.bd",
        "phone": "+880 1712-345678",
        "country": "BD",
    },
    {
        "name": "முருகன் செல்வம்",
        "email": "murugan@example.in",
        "mobile": "+91 98765 43210",
        "country": "IN",
    },
    {"name": "Jürgen Straße", "email": "juergen@example.de", "phone": "", "country": "DE"},
]
BAD = [
    {"name": "Bad Email", "email": "imran@", "phone": "", "country": "PK"},
    {"name": "Bad Phone", "email": "ok@example.pk", "phone": "12", "country": "PK"},
    {"name": "", "email": "nameless@example.pk", "phone": "", "country": "PK"},
    {"name": "Nowhere Man", "email": "", "phone": "", "country": "Atlantis"},
]
COLUMNS = ["name", "email", "phone", "mobile", "city", "country", "language"]


def as_csv_rows(rows):
    """Rows as a CSV reader gives them: every column, empty cells as ""."""
    return [{c: row.get(c, "") for c in COLUMNS} for row in rows]


def read_rejects(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def imported(ws, tmp_path):
    ws.set_setting("phone_region", "PK")
    rows = as_csv_rows(
        [GOOD[0], BAD[0], GOOD[1], BAD[1], GOOD[2], BAD[2], GOOD[3], BAD[3], GOOD[4]]
    )
    seen = []
    report = bulk.import_contacts(
        ws,
        rows,
        rejects=tmp_path / "rejects.csv",
        batch_size=4,
        progress=lambda r: seen.append(r.rows),
    )
    return report, seen


def test_counts_and_progress(imported):
    report, seen = imported
    assert (report.inserted, report.rejected, report.failed) == (5, 4, 0)
    assert report.rows == 9
    assert seen == [4, 8, 9]  # once per batch of 4
    assert report.seconds > 0


def test_imported_contacts_are_searchable_in_any_script(ws, imported):
    def names(frame):
        return sorted(frame["name"])

    assert names(ws.contacts.search("عمر")) == ["عمران خان"]
    assert names(ws.contacts.search("мар")) == ["Мария Иванова"]  # case-folded prefix
    assert names(ws.contacts.search("МАРИЯ ив")) == ["Мария Иванова"]
    assert names(ws.contacts.search("করি")) == ["আব্দুল করিম"]
    assert names(ws.contacts.search("செல்")) == ["முருகன் செல்வம்"]
    assert names(ws.contacts.search("strasse")) == ["Jürgen Straße"]
    assert names(ws.contacts.search(email="IMRAN@indus.pk")) == ["عمران خان"]
    assert names(ws.contacts.search(phone="+92 300 1234567")) == ["عمران خان"]
    assert names(ws.contacts.search(phone="+919876543210")) == ["முருகன் செல்வம்"]
    assert ws.contacts.count() == 5
    imran = ws.contacts.get(int(ws.contacts.search(email="imran@indus.pk")["id"][0]))
    assert imran["phone"] == "+923001234567"
    assert imran["email"] == "Imran@indus.pk"  # the validator's normal form
    assert imran["version"] == 1
    assert imran["custom"] == {}
    assert imran["active"] is True


def test_rejects_file_has_exactly_the_bad_rows_with_readable_errors(imported, tmp_path):
    report, _ = imported
    assert report.rejects_path == tmp_path / "rejects.csv"
    rejected = read_rejects(report.rejects_path)
    assert list(rejected[0]) == [*COLUMNS, "error"]
    assert [{c: r[c] for c in COLUMNS} for r in rejected] == as_csv_rows(BAD)
    errors = [r["error"] for r in rejected]
    assert errors[0].startswith("contact row 2 'Bad Email': field 'email' value 'imran@': ")
    assert "is not a valid e-mail address" in errors[0]
    assert "field 'phone' value '12'" in errors[1]
    assert "is not a" in errors[1] and "phone number" in errors[1]
    assert errors[2] == "contact row 6: field 'name' value None: is required"
    assert errors[3] == (
        "contact row 8 'Nowhere Man': field 'country' value 'Atlantis': "
        "is not an ISO 3166 country code"
    )
    assert report.messages == errors


def test_every_imported_record_is_journaled_and_indexed(ws, imported, clock):
    with ws.transaction() as s:
        names = dict(s.execute(select(Contact.id, Contact.name)).all())
        entries = s.scalars(select(JournalEntry).where(JournalEntry.entity == "contacts")).all()
        terms = s.execute(
            select(SearchTerm.record_id, SearchTerm.term).where(SearchTerm.entity == "contact")
        ).all()
        stamps = s.execute(select(Contact.created_at, Contact.updated_at)).all()
    assert sorted(names.values()) == sorted(g["name"] for g in GOOD)
    # each entry and each word belongs to the record it names (ids matched in order)
    assert {e.record_id: json.loads(e.new)["name"] for e in entries} == names
    assert {(e.action, e.field, e.old, e.at) for e in entries} == {
        ("create", None, None, clock.now)
    }
    assert stamps == [(clock.now, clock.now)] * 5
    by_record: dict[int, set[str]] = {}
    for record_id, term in terms:
        by_record.setdefault(record_id, set()).add(term)
    assert by_record == {i: set(words(name)) for i, name in names.items()}
    # Folded: case, ß and accents (a search for "jurgen" or "jürgen" finds him).
    assert by_record[next(i for i, n in names.items() if n == "Jürgen Straße")] == {
        "jurgen",
        "strasse",
    }
    snapshot = json.loads(next(e.new for e in entries if "Мария" in e.new))
    assert snapshot["email"] == "maria@example.ru"
    assert snapshot["phone"] == "+79123456789"
    assert "name_key" not in snapshot and "version" not in snapshot


def test_a_bulk_record_is_journaled_exactly_like_a_service_create(ws):
    ws.set_setting("phone_region", "PK")
    user = ws.users.add("Ayesha Siddiqui", "ayesha")
    ws = ws.as_user("ayesha")
    row = dict(
        GOOD[0], birthday="1990-02-03", job_title="Director", owner="ayesha", tags="VIP, karachi"
    )
    created = ws.contacts.create(**row)
    report = bulk.import_contacts(ws, [row])
    assert report.inserted == 1
    with ws.transaction() as s:
        entries = s.scalars(
            select(JournalEntry).where(JournalEntry.entity == "contacts").order_by(JournalEntry.id)
        ).all()
        tags = s.scalars(select(Tag.name).order_by(Tag.name)).all()
    service, loaded = (json.loads(e.new) for e in entries)
    assert loaded["id"] != created["id"]
    service.pop("id"), loaded.pop("id")
    assert loaded == service
    assert {e.user_id for e in entries} == {user["id"]}
    assert sorted(tags) == ["VIP", "karachi"]  # reused by the import, not duplicated
    copy = ws.contacts.get(created["id"] + 1)
    assert copy["tags"] == ws.contacts.get(created["id"])["tags"]


def test_dataframe_input_with_missing_values_and_numpy_ids(ws, tmp_path):
    acme = ws.companies.create(name="Acme")
    frame = pd.DataFrame(
        {
            "name": ["A One", "B Two", None],
            "email": ["a@example.com", np.nan, "c@example.com"],
            "company_id": np.array([acme["id"], acme["id"], acme["id"]], dtype=np.int64),
        }
    )
    report = bulk.import_contacts(ws, frame, rejects=tmp_path / "r.csv")
    assert (report.inserted, report.rejected) == (2, 1)
    assert set(ws.contacts.search(company_id=acme["id"])["name"]) == {"A One", "B Two"}
    assert read_rejects(tmp_path / "r.csv")[0]["email"] == "c@example.com"


def test_csv_id_columns_and_unknown_references(ws, tmp_path):
    acme = ws.companies.create(name="Acme")
    ws.custom_fields.define("contact", "erp_id", "text")
    rows = [
        {"name": "Known", "company_id": str(acme["id"])},
        {"name": "Alias", "company": str(acme["id"]), "custom.erp_id": "0042"},
        {"name": "Unknown", "company_id": "424242"},
        {"name": "Typo", "compnay": "x"},
    ]
    report = bulk.import_contacts(ws, rows, rejects=tmp_path / "r.csv")
    assert (report.inserted, report.rejected) == (2, 2)
    alias = ws.contacts.get(int(ws.contacts.search("alias")["id"][0]))
    assert (alias["company_id"], alias["custom"]) == (acme["id"], {"erp_id": "0042"})
    errors = [r["error"] for r in read_rejects(tmp_path / "r.csv")]
    assert "field 'company_id' value 424242: is not the id of an existing company" in errors[0]
    assert "field 'compnay' value 'x': is not a field you can set here" in errors[1]


def test_custom_fields_are_validated_like_the_service(ws, tmp_path):
    ws.custom_fields.define("contact", "tier", "choice", choices=["gold", "silver"], required=True)
    rows = [
        {"name": "Gold", "custom.tier": "gold"},
        {"name": "Bronze", "custom.tier": "bronze"},
        {"name": "None given", "custom.tier": ""},
    ]
    report = bulk.import_contacts(ws, rows, rejects=tmp_path / "r.csv")
    assert (report.inserted, report.rejected) == (1, 2)
    gold = ws.contacts.search("gold")
    assert ws.contacts.get(int(gold["id"][0]))["custom"] == {"tier": "gold"}
    errors = [r["error"] for r in read_rejects(tmp_path / "r.csv")]
    assert "field 'custom.tier' value 'bronze': must be one of gold, silver" in errors[0]
    assert "field 'custom.tier' value None: is required" in errors[1]


def test_companies_import(ws):
    report = bulk.import_companies(
        ws, [{"name": "Indus Textiles", "website": "https://indus.example.pk", "country": "PK"}]
    )
    assert report.inserted == 1
    assert list(ws.companies.search("indus")["name"]) == ["Indus Textiles"]


def _refuse_name(ws, name):
    """Make the database itself refuse rows named ``name`` (as a constraint would)."""
    with ws.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON contacts "
                    f"WHEN NEW.name = '{name}' BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.name = '{name}' THEN RAISE EXCEPTION 'refused by test'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON contacts "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )


def _drop_refusal(ws):
    with ws.engine.begin() as conn:
        conn.execute(
            text("DROP TRIGGER refuse" + (" ON contacts" if conn.dialect.name != "sqlite" else ""))
        )
        if conn.dialect.name != "sqlite":
            conn.execute(text("DROP FUNCTION refuse()"))


def test_a_refused_batch_is_rolled_back_alone_and_its_rows_go_to_rejects(ws, tmp_path):
    _refuse_name(ws, "Boom")
    try:
        rows = [{"name": f"Person {i}", "email": f"p{i}@example.com"} for i in range(9)]
        rows[4]["name"] = "Boom"  # second batch of three
        rows[5]["email"] = "bad@"  # invalid in that same batch
        report = bulk.import_contacts(ws, rows, rejects=tmp_path / "r.csv", batch_size=3)
    finally:
        _drop_refusal(ws)
    assert (report.inserted, report.rejected, report.failed) == (6, 1, 2)
    assert sorted(ws.contacts.search(limit=100)["name"]) == [
        f"Person {i}" for i in (0, 1, 2, 6, 7, 8)
    ]
    rejected = read_rejects(tmp_path / "r.csv")
    assert [r["email"] for r in rejected] == ["p3@example.com", "p4@example.com", "bad@"]
    assert "rows 4-6: the database refused the batch" in rejected[0]["error"]
    assert "refused by test" in rejected[0]["error"]
    assert "field 'email' value 'bad@'" in rejected[2]["error"]
    assert any("database refused" in m for m in report.messages)
    with ws.transaction() as s:  # nothing of the failed batch is left behind
        journaled = select(func.count()).where(JournalEntry.entity == "contacts")
        assert s.scalar(journaled) == 6
        assert s.scalar(select(func.count(func.distinct(SearchTerm.record_id)))) == 6


@pytest.fixture
def deals_imported(ws, tmp_path):
    ws.set_setting("currency", "PKR")
    imran = ws.contacts.create(name="عمران خان")
    acme = ws.companies.create(name="Indus Textiles")
    rows = [
        {
            "name": "ERP rollout",
            "stage": "Qualified",
            "expected_revenue": "1234.56",
            "currency": "PKR",
            "contact_id": str(imran["id"]),
            "company_id": str(acme["id"]),
        },
        {"name": "Support", "stage": "qualified", "expected_revenue": "0.10", "currency": "PKR"},
        {
            "name": "Licences",
            "stage": "Negotiation",
            "expected_revenue": "999999999.99",
            "currency": "USD",
            "probability": "55.5",
        },
        {"name": "Hardware", "stage": "Maybe later", "expected_revenue": "10.00"},
        {"name": "Closed already", "stage": "Won", "expected_revenue": "10.00"},
        {"name": "Float money", "expected_revenue": 0.1},
        {"name": "Training", "expected_revenue": "70.01", "currency": "", "stage": ""},
        {"name": "Ghost contact", "contact_id": "987654"},
    ]
    report = bulk.import_opportunities(ws, rows, rejects=tmp_path / "deals.csv", batch_size=3)
    return report, imran


def test_opportunities_import_counts_and_rejects(deals_imported, tmp_path):
    report, _ = deals_imported
    assert (report.inserted, report.rejected) == (4, 4)
    errors = [r["error"] for r in read_rejects(tmp_path / "deals.csv")]
    assert errors[0] == (
        "opportunity row 4 'Hardware': field 'stage' value 'Maybe later': "
        "is not a stage of pipeline 'Sales'"
    )
    assert "field 'stage' value 'Won': a deal cannot start won or lost" in errors[1]
    assert "field 'expected_revenue' value 0.1: must be a Decimal" in errors[2]
    assert "field 'contact_id' value 987654: is not the id of an existing contact" in errors[3]


def test_imported_deals_get_their_first_stage_change_and_journal(ws, deals_imported, clock):
    _, imran = deals_imported
    stages = ws.pipeline.stages().set_index("name")
    with ws.transaction() as s:
        deals = {o.name: o for o in s.scalars(select(Opportunity))}
        changes = s.execute(
            select(
                StageChange.opportunity_id,
                StageChange.from_stage_id,
                StageChange.to_stage_id,
                StageChange.changed_at,
            )
        ).all()
        journaled = s.scalars(
            select(JournalEntry.record_id).where(
                JournalEntry.entity == "opportunities", JournalEntry.action == "create"
            )
        ).all()
    assert sorted(journaled) == sorted(o.id for o in deals.values())
    assert sorted(changes) == sorted((o.id, None, o.stage_id, clock.now) for o in deals.values())
    erp = deals["ERP rollout"]
    assert erp.stage_id == stages.loc["Qualified", "id"]
    assert erp.probability == stages.loc["Qualified", "probability"]  # the stage's
    assert erp.contact_id == imran["id"]
    assert erp.status == "open" and erp.active and erp.version == 1
    assert deals["Licences"].probability == Decimal("55.50")
    training = deals["Training"]  # blank stage and currency: the defaults
    assert training.stage_id == stages.loc["New", "id"]
    assert training.currency == "PKR"
    history = ws.pipeline.history(erp.id)
    assert list(history["to_stage"]) == ["Qualified"]


def test_by_stage_sums_match_the_imported_amounts_exactly(ws, deals_imported):
    stages = ws.pipeline.stages()
    probability = dict(zip(stages["name"], stages["probability"], strict=True))
    imported = {
        ("New", "PKR"): [Decimal("70.01")],
        ("Qualified", "PKR"): [Decimal("1234.56"), Decimal("0.10")],
        ("Negotiation", "USD"): [Decimal("999999999.99")],
    }
    cent = Decimal("0.01")
    want = {
        key: (
            len(amounts),
            sum(amounts).quantize(cent),
            sum(a * probability[key[0]] / 100 for a in amounts).quantize(cent),
        )
        for key, amounts in imported.items()
    }
    want[("Negotiation", "USD")] = (1, Decimal("999999999.99"), Decimal("554999999.99"))  # 55.5 %
    frame = ws.pipeline.by_stage()
    got = {
        (r.stage, r.currency): (r.count, r.value, r.weighted) for r in frame.itertuples() if r.count
    }
    assert got == want


def test_unknown_pipeline_fails_before_anything_is_written(ws):
    from crm_core import NotFoundError

    with pytest.raises(NotFoundError):
        bulk.import_opportunities(ws, [{"name": "x"}], pipeline="Nope")
    assert ws.info()["opportunities"] == 0


def test_rejects_file_is_written_even_when_all_rows_are_good(ws, tmp_path):
    path = tmp_path / "sub" / "rejects.csv"
    report = bulk.import_contacts(ws, [{"name": "Fine"}], rejects=path)
    assert report.rejected == 0
    assert path.read_text(encoding="utf-8-sig").splitlines() == ["name,error"]


def test_batch_size_must_be_positive(ws):
    with pytest.raises(ValueError, match="batch_size"):
        bulk.import_contacts(ws, [], batch_size=0)


def test_validating_in_a_worker_process_gives_the_same_result(ws, tmp_path, clock):
    ws.set_setting("phone_region", "PK")
    rows = as_csv_rows(
        [GOOD[0], BAD[0], GOOD[1], BAD[1], GOOD[2], BAD[2], GOOD[3], BAD[3], GOOD[4]]
    )
    for row in rows:
        row["tags"] = "Imported, batch-2"
    report = bulk.import_contacts(ws, rows, rejects=tmp_path / "r.csv", batch_size=2, workers=1)
    assert (report.inserted, report.rejected, report.failed) == (5, 4, 0)
    assert [r["name"] for r in read_rejects(tmp_path / "r.csv")] == [b["name"] for b in BAD]
    assert list(ws.contacts.search("мар")["name"]) == ["Мария Иванова"]
    assert set(ws.contacts.search(tag="imported")["name"]) == {g["name"] for g in GOOD}
    with ws.transaction() as s:
        stamps = set(s.execute(select(Contact.created_at)).scalars())
        journaled = s.scalar(select(func.count()).where(JournalEntry.entity == "contacts"))
        tags = s.scalar(select(func.count()).select_from(Tag))
    assert stamps == {clock.now}  # stamped by this process's clock, not the worker's
    assert (journaled, tags) == (5, 2)


def test_deals_with_a_worker_process(ws, tmp_path):
    contact = ws.contacts.create(name="Buyer")
    rows = [
        {
            "name": f"Deal {i}",
            "stage": "Proposition",
            "expected_revenue": f"{i}.25",
            "contact_id": str(contact["id"]),
        }
        for i in range(7)
    ]
    rows[3]["stage"] = "Nope"
    report = bulk.import_opportunities(
        ws, rows, rejects=tmp_path / "r.csv", batch_size=3, workers=2
    )
    assert (report.inserted, report.rejected) == (6, 1)
    frame = ws.pipeline.by_stage()
    row = frame[frame["stage"] == "Proposition"].iloc[0]
    assert (row["count"], row["value"]) == (6, Decimal("19.50"))  # 0+1+2+4+5+6 + 6 x .25


def test_workers_must_not_be_negative(ws):
    with pytest.raises(ValueError, match="workers"):
        bulk.import_contacts(ws, [], workers=-1)


def test_party_writer_gives_back_what_it_wrote_as_a_read_would(ws):
    """PartyWriter.stored: the last create()'s records as reading them back gives them
    (types included; tags as their stored names, sorted), without reading them."""
    ws.companies.create(name="Existing", tags=["Vendor"])
    rows = [
        {
            "name": " Cafe\u0301 Noir ",
            "tags": ["vendor", "Key account", "VENDOR"],
            "city": "Lahore",
        },
        {"name": "Archived Co", "active": False, "email": "Sales@Example.COM"},
        {"name": "Plain", "tags": [], "website": "https://plain.example"},
        {"name": "", "email": "refused@example.com"},
    ]
    fields = ["name", "email", "city", "website", "active", "tags"]
    writer = PartyWriter(ws, "company")
    with ws.transaction() as s:
        results = writer.create(s, rows)
        stored = writer.stored(s, fields)
        # A field whose value might not read back exactly as written: no shortcut.
        assert writer.stored(s, ["name", "custom"]) is None
    made = [r for r in results if isinstance(r, int)]
    assert len(made) == 3 and isinstance(results[3], str)
    assert stored is not None and list(stored) == sorted(made)
    with ws.transaction() as s:
        for record_id, values in stored.items():
            company = s.get(Company, record_id)
            read = {f: getattr(company, f) for f in fields if f != "tags"}
            read["tags"] = sorted(t.name for t in company.tags)
            assert list(values.items()) == list(read.items())
            assert [type(v) for v in values.values()] == [type(v) for v in read.values()]
    assert stored[made[0]]["name"] == "Café Noir"
    assert stored[made[0]]["tags"] == ["Key account", "Vendor"]
    assert stored[made[1]]["active"] is False


def test_after_an_import_an_exact_search_uses_its_index(sqlite_ws):
    """Without statistics SQLite's planner walks the (active, name) index to spare a
    sort and reads every contact for an e-mail search; an import refreshes them."""
    rows = [
        {"name": f"Contact {i:05d}", "email": f"c{i}@example.com", "phone": f"+92300{i:07d}"}
        for i in range(3000)
    ]
    report = bulk.import_contacts(sqlite_ws, rows)
    assert report.inserted == 3000
    with sqlite_ws.engine.connect() as conn:
        plan = " ".join(
            str(row[-1])
            for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM contacts WHERE active IS 1 "
                "AND email_key = 'c7@example.com' ORDER BY name_key, id LIMIT 50"
            )
        )
    assert "ix_contacts_email_key" in plan, plan
    assert sqlite_ws.contacts.search(email="C7@example.com")["name"].tolist() == ["Contact 00007"]
