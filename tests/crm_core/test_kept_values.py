"""Values kept as their source wrote them, the data-quality view, and phones read in the
record's own country first: on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import func, select

from crm_core import ValidationError, bulk
from crm_core.models import Activity, Company, Contact, JournalEntry, Opportunity
from crm_core.party_writer import PartyWriter


@pytest.fixture
def pk(ws):
    """A workspace that reads national phone numbers as Pakistani."""
    ws.set_setting("phone_region", "PK")
    return ws


def write(ws, entity, values, record_id=None, keep_invalid=True):
    """Create (or update) a record through the services' building block, as a sync does."""
    service = ws.contacts if entity == "contact" else ws.companies
    model = Contact if entity == "contact" else Company
    with ws.transaction() as s:
        obj = s.get(model, record_id) if record_id else model(active=True, custom={})
        service.write_fields(s, obj, values, record_id is None, keep_invalid=keep_invalid)
        if record_id is None:
            s.add(obj)
        s.flush()
        return obj.id


# -- kept as written, through the services ------------------------------------------------

KEPT = [
    # field, value as the ERP holds it, stored, reason
    ("phone", "+1 555 0000001", "+1 555 0000001", "is not a valid phone number for region US"),
    ("phone", "+32 987 65 43 21", "+32 987 65 43 21", "is not a valid phone number for region BE"),
    ("mobile", "(198)-539-4948", "(198)-539-4948", "is not a valid phone number for region PK"),
    ("email", "x@example.local", "x@example.local", "is not a valid e-mail address"),
    ("name", "N" * 301, "N" * 301, "is longer than 300 characters"),
    ("street", "Shop 4\tBlock 7", "Shop 4\tBlock 7", "contains the control character U+0009"),
    (
        "city",
        "Kar\x00achi",
        "Karachi",
        "contains a NUL character (U+0000); kept as written with its NUL characters removed",
    ),
    (
        "zip",
        "7\ud8005",
        "7\ufffd5",
        "contains a lone surrogate (U+D800), which is not text; kept "
        "as written with lone surrogates replaced by U+FFFD",
    ),
    ("country", "XK", "XK", "is not an ISO 3166 country code"),
    ("job_title", "  Director  ", "Director", None),  # valid: cleaned, not marked
]


@pytest.mark.parametrize(("field", "given", "stored", "reason"), KEPT)
def test_a_contact_keeps_what_the_erp_wrote_and_says_why(pk, field, given, stored, reason):
    values = {"name": "Imran Khan", field: given} if field != "name" else {field: given}
    record_id = write(pk, "contact", values)
    got = pk.contacts.get(record_id)
    assert got[field] == stored
    if reason is None:
        assert got["unvalidated"] is None
    else:
        assert list(got["unvalidated"]) == [field]
        assert got["unvalidated"][field].startswith(reason)
    if reason is not None:  # from a keyboard: refused as before
        with pytest.raises(ValidationError, match=f"field '{field}'"):
            pk.contacts.create(**values)


def test_the_same_values_from_a_keyboard_are_refused_and_nothing_is_written(pk):
    values = {"name": "Imran", "phone": "+1 555 0000001", "email": "x@example.local"}
    with pytest.raises(ValidationError) as info:
        write(pk, "contact", values, keep_invalid=False)
    assert {e.field for e in info.value.errors} == {"phone", "email"}
    assert pk.contacts.count() == 0


def test_a_kept_phone_has_no_e164_form_and_is_found_by_its_text(pk):
    record_id = write(pk, "company", {"name": "Acme", "phone": "(198)-539-4948", "vat": "x" * 50})
    company = pk.companies.get(record_id)
    assert company["phone"] == "(198)-539-4948"
    assert set(company["unvalidated"]) == {"phone", "vat"}
    assert pk.companies.search(phone="(198)-539-4948")["id"].tolist() == [record_id]
    assert pk.companies.search(phone=" (198)-539-4948 ")["id"].tolist() == [record_id]
    assert pk.companies.search("acme")["id"].tolist() == [record_id]


def test_wrong_types_and_a_missing_name_are_refused_even_when_keeping(pk):
    with pytest.raises(ValidationError) as info:
        write(pk, "contact", {"phone": 3001234567, "birthday": "someday", "company": 10**12})
    assert {e.field for e in info.value.errors} == {"name", "phone", "birthday", "company_id"}
    with pytest.raises(ValidationError, match="'name' value '   ': is required"):
        write(pk, "contact", {"name": "   "})
    with pytest.raises(ValidationError, match="'country' value 'Neverland'"):
        # Longer than the two letters the country column holds: cannot be kept.
        write(pk, "contact", {"name": "X", "country": "Neverland"})


def test_a_valid_value_clears_the_mark_and_the_map_becomes_none(pk):
    record_id = write(
        pk, "contact", {"name": "Imran", "phone": "+1 555 0000001", "email": "x@example.local"}
    )
    updated = pk.contacts.update(record_id, phone="0300 1234567")
    assert updated["phone"] == "+923001234567"
    assert list(updated["unvalidated"]) == ["email"]
    # A write that keeps, of a now valid value, clears the mark too.
    write(pk, "contact", {"email": "imran@example.pk"}, record_id)
    assert pk.contacts.get(record_id)["unvalidated"] is None
    with pk.transaction() as s:
        changes = s.scalars(
            select(JournalEntry.new).where(
                JournalEntry.entity == "contacts",
                JournalEntry.record_id == record_id,
                JournalEntry.field == "unvalidated",
            )
        ).all()
    assert changes[-1] is None  # the mark's removal is journaled like any change


def test_a_deal_and_an_activity_keep_their_texts(pk):
    acme = pk.companies.create(name="Acme")
    with pk.transaction() as s:
        opp = Opportunity(
            pipeline_id=1,
            stage_id=1,
            status="open",
            active=True,
            custom={},
            currency="PKR",
            probability=10,
        )
        errors = []
        values = {"name": "D" * 350, "description": "line\x07bell", "company": acme["id"]}
        pk.pipeline.write_fields(s, opp, values, errors, True, keep_invalid=True)
        assert errors == []
        pk.pipeline.add_in_session(s, opp)
        act = Activity()
        values = {"kind": "call", "subject": "S" * 400, "due_date": "2026-06-01"}
        pk.activities.write_fields(s, act, {**values, "company": acme["id"]}, "act", errors, True)
        assert errors == []
        s.add(act)
        s.flush()
        opp_id, act_id = opp.id, act.id
    deal = pk.pipeline.get(opp_id)
    assert deal["name"] == "D" * 350 and deal["description"] == "line\x07bell"
    assert deal["unvalidated"] == {
        "name": "is longer than 300 characters",
        "description": "contains the control character U+0007",
    }
    assert pk.activities.get(act_id)["unvalidated"] == {"subject": "is longer than 300 characters"}
    with pytest.raises(ValidationError, match="longer than 300"):
        pk.pipeline.update(opp_id, name="D" * 350)
    assert pk.pipeline.update(opp_id, name="Deal")["unvalidated"] == {
        "description": "contains the control character U+0007"
    }


# -- the batch path -------------------------------------------------------------------------

ERP_ROWS = [
    {"name": "Odoo Demo", "phone": "+32 987 65 43 21", "email": "info@yourcompany.example.local"},
    {"name": "Nameless Delivery", "mobile": "(198)-539-4948", "street": "A\x00B"},
    {"name": "Karim", "phone": "01711 234567", "country": "BD", "email": "karim@example.com"},
    {"name": "Archived", "active": False, "phone": "12"},
    {"name": None, "phone": "+92 300 1234567"},
]


def test_party_writer_keeps_every_kept_field_on_the_batch_path(pk):
    writer = PartyWriter(pk, "contact")
    with pk.transaction() as s:
        results = writer.create(s, ERP_ROWS)
        stored = writer.stored(s, ["name", "phone", "mobile", "email", "active"])
        statements = s.scalar(select(func.count()).select_from(Contact))
    made = results[:4]
    assert all(isinstance(r, int) for r in made)
    assert results[4] == "contact row 5: field 'name' value None: is required"
    assert statements == 4
    assert stored is not None
    assert [stored[i]["phone"] for i in made] == ["+32 987 65 43 21", None, "+8801711234567", "12"]
    assert stored[made[1]]["mobile"] == "(198)-539-4948"
    assert stored[made[3]]["active"] is False
    marks = [pk.contacts.get(i)["unvalidated"] for i in made]
    assert set(marks[0]) == {"phone", "email"}
    assert marks[1] == {
        "mobile": "is not a valid phone number for region PK",
        "street": "contains a NUL character (U+0000); kept as written with its NUL characters "
        "removed",
    }
    assert marks[2] is None
    assert marks[3] == {"phone": "is not a valid phone number for region PK"}
    assert pk.contacts.get(made[1])["street"] == "AB"
    # What the journal snapshot says is what was stored, marks included.
    with pk.transaction() as s:
        snapshot = s.scalar(
            select(JournalEntry.new).where(
                JournalEntry.entity == "contacts",
                JournalEntry.record_id == made[3],
                JournalEntry.action == "create",
            )
        )
    assert '"unvalidated": {"phone": "is not a valid phone number for region PK"}' in snapshot


def test_party_writer_without_keeping_refuses_as_the_services_do(pk):
    writer = PartyWriter(pk, "company", keep_invalid=False)
    with pk.transaction() as s:
        results = writer.create(s, [{"name": "A", "phone": "+1 555 0000001"}, {"name": "B"}])
    assert "is not a valid phone number for region US" in results[0]
    assert isinstance(results[1], int)


def test_an_import_can_keep_what_the_file_holds(pk, tmp_path):
    rows = [
        {"name": "Kept", "phone": "+1 555 0000001", "email": "a@example.local"},
        {"name": "", "phone": "0300 1234567"},
    ]
    report = bulk.import_contacts(pk, rows, rejects=tmp_path / "r.csv", keep_invalid=True)
    assert (report.inserted, report.rejected) == (1, 1)
    kept = pk.contacts.search("kept")
    assert kept["phone"].tolist() == ["+1 555 0000001"]
    report = bulk.import_contacts(pk, rows[:1], rejects=tmp_path / "r2.csv")
    assert (report.inserted, report.rejected) == (0, 1)


# -- the data-quality view ------------------------------------------------------------------


def test_the_quality_view_lists_every_kept_value_and_counts_them(pk):
    contact = write(pk, "contact", {"name": "Imran", "phone": "+1 555 0000001", "zip": "z" * 30})
    company = write(pk, "company", {"name": "Acme", "email": "x@example.local"})
    write(pk, "contact", {"name": "Fine", "phone": "0300 1234567"})
    issues = pk.quality.issues()
    assert list(issues.columns) == ["entity", "id", "name", "field", "value", "reason"]
    assert issues[["entity", "id", "field", "value"]].values.tolist() == [
        ["company", company, "email", "x@example.local"],
        ["contact", contact, "phone", "+1 555 0000001"],
        ["contact", contact, "zip", "z" * 30],
    ]
    assert issues["name"].tolist() == ["Acme", "Imran", "Imran"]
    assert issues["reason"].tolist()[2] == "is longer than 20 characters"
    assert pk.quality.issues("company")["id"].tolist() == [company]
    counts = pk.quality.count()
    assert counts.values.tolist() == [
        ["company", "email", 1],
        ["contact", "phone", 1],
        ["contact", "zip", 1],
    ]
    with pytest.raises(ValidationError, match="entity"):
        pk.quality.issues("invoice")


def test_a_sales_user_sees_the_kept_values_of_what_they_may_see(pk):
    bilal = pk.users.add("Bilal", "bilal", role="sales")
    ravi = pk.users.add("Ravi", "ravi", role="sales")
    with pk.transaction() as s:
        for owner, name in ((bilal["id"], "B" * 301), (ravi["id"], "R" * 301)):
            opp = Opportunity(
                pipeline_id=1,
                stage_id=1,
                status="open",
                active=True,
                custom={},
                currency="PKR",
                probability=10,
            )
            errors = []
            values = {"name": name, "owner": owner}
            pk.pipeline.write_fields(s, opp, values, errors, True, keep_invalid=True)
            pk.pipeline.add_in_session(s, opp)
    contact = write(pk, "contact", {"name": "Shared", "email": "x@example.local"})
    seen = pk.as_user("bilal").quality.issues()
    assert seen[["entity", "field"]].values.tolist() == [
        ["contact", "email"],
        ["opportunity", "name"],
    ]
    assert seen["name"].tolist()[1] == "B" * 301
    assert seen["id"].tolist()[0] == contact
    assert pk.as_user("bilal").quality.count()["count"].tolist() == [1, 1]
    assert len(pk.quality.issues("opportunity")) == 2


# -- phones read in the record's own country ------------------------------------------------


def test_a_bangladeshi_mobile_on_a_pakistani_workspace(pk):
    karim = pk.contacts.create(name="করিম", country="BD", phone="01711 234567")
    assert karim["phone"] == "+8801711234567"
    company = pk.companies.create(name="Dhaka Jute", country="Bangladesh", phone="02-9551234")
    assert company["phone"] == "+88029551234"
    # The workspace region still reads a record without a country, or with its own.
    imran = pk.contacts.create(name="عمران", phone="0300 1234567")
    assert imran["phone"] == "+923001234567"
    with pytest.raises(ValidationError, match="for region BD or PK"):
        pk.contacts.create(name="X", country="BD", phone="0123")


def test_update_reads_the_phone_in_the_new_or_the_stored_country(pk):
    someone = pk.contacts.create(name="Someone")
    moved = pk.contacts.update(someone["id"], country="BD", mobile="01711 234567")
    assert moved["mobile"] == "+8801711234567"
    again = pk.contacts.update(someone["id"], phone="01812 345678")
    assert again["phone"] == "+8801812345678"


def test_search_by_a_national_number_reads_it_in_each_records_country(pk):
    karim = pk.contacts.create(name="Karim", country="BD", mobile="01711 234567")
    imran = pk.contacts.create(name="Imran", phone="0300 1234567")
    # A German number that '01711 234567' would also be read as in Germany, on a record
    # with no country: it was read in the workspace region, so it must not match.
    stranger = pk.contacts.create(name="Stranger", phone="+49 1711 234567")
    hans = pk.contacts.create(name="Hans", country="DE", phone="+49 1711 234567")
    found = pk.contacts.search(phone="01711 234567", order_by="id")["id"].tolist()
    assert found == [karim["id"], hans["id"]]
    assert stranger["id"] not in found
    assert pk.contacts.search(phone="0300-123 4567")["id"].tolist() == [imran["id"]]
    assert pk.contacts.search(phone="+8801711234567")["id"].tolist() == [karim["id"]]
    assert pk.contacts.count(phone="01711 234567") == 2


def test_an_import_reads_each_row_in_its_own_country(pk, tmp_path):
    rows = [
        {"name": "A", "country": "BD", "phone": "01711 234567"},
        {"name": "B", "country": "PK", "phone": "0300 1234567"},
        {"name": "C", "phone": "01711 234567"},  # no country: PK, where it is no number
    ]
    report = bulk.import_contacts(pk, rows, rejects=tmp_path / "r.csv")
    assert (report.inserted, report.rejected) == (2, 1)
    assert "for region PK" in report.messages[0]
    phones = pk.contacts.search(order_by="name")["phone"].tolist()
    assert phones == ["+8801711234567", "+923001234567"]
