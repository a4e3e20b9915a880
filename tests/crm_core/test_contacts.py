"""Companies and contacts: create, update, archive, restore, search; errors name the field."""

import pytest
from sqlalchemy import func, select

from crm_core import ConflictError, NotFoundError, ValidationError
from crm_core.models import Contact, JournalEntry, SearchTerm, Tag


@pytest.fixture
def people(ws):
    ws.set_setting("phone_region", "PK")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="sales")
    ws.custom_fields.define("contact", "tier", "choice", choices=["gold", "silver"])
    acme = ws.companies.create(
        name="Indus Textiles (Pvt) Ltd", city="Karachi", country="PK", tags=["Textile"]
    )
    rows = [
        dict(
            name="عمران خان",
            email="imran@indus.pk",
            phone="0300 1234567",
            city="Karachi",
            country="PK",
            company=acme["id"],
            tags=["VIP"],
            custom={"tier": "gold"},
            owner="ayesha",
            language="ur",
        ),
        dict(
            name="আব্দুল করিম",
            email="karim@example.com.bd",
            phone="+880 1712-345678",
            city="ঢাকা",
            country="BD",
            language="bn",
        ),
        dict(
            name="முருகன் செல்வம்",
            email="murugan@example.in",
            mobile="+91 98765 43210",
            city="Chennai",
            country="IN",
            tags=["vip"],
        ),
        dict(
            name="Иван Петров",
            email="Ivan.Petrov@example.ru",
            phone="+7 912 345-67-89",
            city="Москва",
            country="RU",
            custom={"tier": "silver"},
        ),
        dict(
            name="Jürgen Straße",
            email="juergen@example.de",
            phone="+49 30 12345678",
            city="Berlin",
            country="DE",
        ),
        dict(
            name="Imran Qureshi",
            email="iq@example.com",
            phone="+1 415 555 2671",
            city="karachi",
            country="US",
        ),
    ]
    return acme, [ws.contacts.create(**r) for r in rows]


def ids(frame):
    return frame["id"].tolist()


def test_create_returns_the_stored_record(ws, people):
    acme, (imran, *_rest) = people
    assert imran["phone"] == "+923001234567"
    assert imran["company_id"] == acme["id"]
    assert imran["tags"] == ["VIP"]
    assert imran["custom"] == {"tier": "gold"}
    assert imran["version"] == 1
    assert imran["created_at"].tzinfo is not None
    assert ws.contacts.get(imran["id"])["name"] == "عمران خان"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("عمر", ["عمران خان"]),  # Urdu, word prefix
        ("خان", ["عمران خان"]),  # second word
        ("করি", ["আব্দুল করিম"]),  # Bengali
        ("செல்", ["முருகன் செல்வம்"]),  # Tamil
        ("ИВАН", ["Иван Петров"]),  # Cyrillic, case-folded
        ("strasse", ["Jürgen Straße"]),  # ß folds to ss
        ("imr", ["Imran Qureshi"]),
        ("imran qur", ["Imran Qureshi"]),  # every word must match
        ("zzz", []),
    ],
)
def test_search_by_name_words_in_every_script(ws, people, query, expected):
    assert ws.contacts.search(query)["name"].tolist() == expected


def test_search_by_email_phone_tag_city_country_custom(ws, people):
    acme, (imran, karim, murugan, ivan, _jurgen, qureshi) = people
    assert ids(ws.contacts.search(email="IVAN.petrov@EXAMPLE.ru")) == [ivan["id"]]
    assert ids(ws.contacts.search(phone="0300-123 4567")) == [imran["id"]]
    assert ids(ws.contacts.search(phone="+919876543210")) == [murugan["id"]]  # mobile
    assert sorted(ids(ws.contacts.search(tag="vip"))) == sorted([imran["id"], murugan["id"]])
    assert sorted(ids(ws.contacts.search(city="KARACHI"))) == sorted([imran["id"], qureshi["id"]])
    assert ids(ws.contacts.search(country="bd")) == [karim["id"]]
    assert ids(ws.contacts.search(custom={"tier": "silver"})) == [ivan["id"]]
    assert ids(ws.contacts.search(owner="ayesha")) == [imran["id"]]
    assert ids(ws.contacts.search(company_id=acme["id"])) == [imran["id"]]
    assert ids(ws.contacts.search("imran", city="karachi", country="US")) == [qureshi["id"]]
    assert ids(ws.companies.search("indus", tag="textile")) == [acme["id"]]


@pytest.mark.parametrize(
    "typed",
    ["0300 1234567", "0300-1234567", "+92 300 1234567", "(0300) 123-4567", " 03001234567 "],
)
def test_a_phone_typed_in_the_search_box_finds_its_contact(ws, people, typed):
    _acme, (imran, *_rest) = people
    assert ids(ws.contacts.search(typed)) == [imran["id"]]
    assert ws.contacts.count(typed) == 1


def test_short_numbers_and_names_with_digits_stay_word_searches(ws, people):
    _acme, (imran, *_rest) = people
    named = ws.contacts.create(name="Room 2026 Desk", phone="0300 7654321")
    assert ids(ws.contacts.search("2026")) == [named["id"]]  # a word, not a phone
    assert ids(ws.contacts.search("room 2026")) == [named["id"]]
    # An explicit phone filter wins over the box; the box then searches names.
    assert ids(ws.contacts.search("عمران", phone="0300 1234567")) == [imran["id"]]
    assert ids(ws.contacts.search("0300 9999999")) == []


def test_search_result_columns(ws, people):
    frame = ws.contacts.search("عمران")
    row = frame.iloc[0]
    assert row["company"] == "Indus Textiles (Pvt) Ltd"
    assert row["tags"] == "VIP"
    assert row["owner"] == "Ayesha Siddiqui"


def test_ordering_and_paging(ws, people):
    by_name = ws.contacts.search(order_by="name")["name"].tolist()
    # Within a script names sort alphabetically, case-insensitively; how scripts
    # interleave is the database collation's choice (code points on SQLite).
    latin = [n for n in by_name if n[0].isascii()]
    assert latin == ["Imran Qureshi", "Jürgen Straße"]
    assert ws.contacts.search(order_by="id", descending=True)["id"].tolist() == sorted(
        [p["id"] for p in people[1]], reverse=True
    )
    page1 = ws.contacts.search(order_by="name", limit=4)
    page2 = ws.contacts.search(order_by="name", limit=4, offset=4)
    assert len(page1) == 4 and len(page2) == 2
    assert page1["name"].tolist() + page2["name"].tolist() == by_name
    assert ws.contacts.count() == 6
    assert ws.contacts.count("imran") == 1
    assert ws.contacts.count(country="PK") == 1


def test_bad_search_arguments_are_named(ws, people):
    with pytest.raises(ValidationError, match="order_by"):
        ws.contacts.search(order_by="password")
    with pytest.raises(ValidationError, match="limit"):
        ws.contacts.search(limit=0)
    with pytest.raises(ValidationError, match=r"'custom\.shoe_size'"):
        ws.contacts.search(custom={"shoe_size": 42})
    with pytest.raises(ValidationError, match=r"'colour'.*not a search filter"):
        ws.contacts.search(colour="red")
    with pytest.raises(ValidationError, match="phone"):
        ws.contacts.search(phone=12)
    # Text that is no valid number may still be a phone kept as an ERP wrote it: it is
    # searched for as written, and here matches nothing.
    assert ws.contacts.search(phone="12").empty


def test_update_changes_fields_and_bumps_version(ws, people):
    _, (imran, *_r) = people
    updated = ws.contacts.update(
        imran["id"], {"city": "Lahore", "tags": ["VIP", "Wholesale"]}, expected_version=1
    )
    assert updated["city"] == "Lahore"
    assert updated["tags"] == ["VIP", "Wholesale"]
    assert updated["version"] == 2
    assert ids(ws.contacts.search(city="lahore")) == [imran["id"]]
    renamed = ws.contacts.update(imran["id"], name="عمران احمد خان")
    assert renamed["version"] == 3
    assert ids(ws.contacts.search("احمد")) == [imran["id"]]
    assert ws.contacts.search("عمران خان")["id"].tolist() == [imran["id"]]


def test_tag_only_change_still_bumps_the_version(ws, people):
    _, (_i, karim, *_r) = people
    assert ws.contacts.update(karim["id"], tags=["New tag"])["version"] == 2


def test_archive_hides_and_restore_brings_back(ws, people):
    _, (imran, *_r) = people
    archived = ws.contacts.archive(imran["id"])
    assert archived["active"] is False
    assert ws.contacts.search("عمران").empty
    assert ids(ws.contacts.search("عمران", include_archived=True)) == [imran["id"]]
    assert ws.contacts.restore(imran["id"])["active"] is True
    assert ids(ws.contacts.search("عمران")) == [imran["id"]]
    with pytest.raises(ValidationError, match="archive"):
        ws.contacts.update(imran["id"], active=False)


def test_every_bad_value_is_reported_with_record_field_value_and_reason(ws, people):
    with pytest.raises(ValidationError) as info:
        ws.contacts.create(
            name="Bad Row",
            email="bad@",
            phone="12",
            country="XX",
            language="zz",
            birthday="31/12/1990",
            company=9999,
            owner="nobody",
            custom={"tier": "bronze", "nope": 1},
            colour="red",
        )
    fields = {e.field: e for e in info.value.errors}
    assert set(fields) == {
        "email",
        "phone",
        "country",
        "language",
        "birthday",
        "company_id",
        "owner_id",
        "custom.tier",
        "custom.nope",
        "colour",
    }
    assert fields["email"].record == "contact (new) 'Bad Row'"
    assert fields["email"].value == "bad@"
    assert "not a valid e-mail" in fields["email"].reason
    assert "must be one of gold, silver" in fields["custom.tier"].reason
    assert "contact (new) 'Bad Row': field 'country' value 'XX'" in str(info.value)


def test_a_failed_write_leaves_the_database_as_it_was(ws, people):
    def snapshot():
        with ws.transaction() as s:
            return (
                s.scalar(select(func.count()).select_from(Contact)),
                s.scalar(select(func.count()).select_from(JournalEntry)),
                s.scalar(select(func.count()).select_from(Tag)),
                s.scalar(select(func.count()).select_from(SearchTerm)),
            )

    before = snapshot()
    with pytest.raises(ValidationError):
        ws.contacts.create(name="Half Written", tags=["Brand new tag"], email="nope")
    _, (imran, *_r) = people
    with pytest.raises(ValidationError):
        ws.contacts.update(imran["id"], {"name": "Changed", "tags": ["Other"], "phone": "1"})
    assert snapshot() == before
    assert ws.contacts.get(imran["id"])["name"] == "عمران خان"
    assert ws.contacts.get(imran["id"])["version"] == 1


def test_required_name_and_unknown_records(ws):
    with pytest.raises(ValidationError, match="'name' value None: is required"):
        ws.contacts.create(email="x@example.com")
    with pytest.raises(ValidationError, match="'name' value '   ': is required"):
        ws.companies.create(name="   ")
    with pytest.raises(NotFoundError, match="contact 404"):
        ws.contacts.get(404)
    with pytest.raises(NotFoundError):
        ws.contacts.update(404, city="x")


def test_stale_update_raises_conflict_and_writes_nothing(ws, people):
    _, (imran, *_r) = people
    ws.contacts.update(imran["id"], {"city": "Lahore"}, expected_version=1)  # someone else
    with pytest.raises(ConflictError) as info:
        ws.contacts.update(imran["id"], {"city": "Quetta"}, expected_version=1)
    assert "version 1" in str(info.value) and "version 2" in str(info.value)
    assert ws.contacts.get(imran["id"])["city"] == "Lahore"
    with pytest.raises(ConflictError):
        ws.contacts.archive(imran["id"], expected_version=1)


def test_concurrent_sessions_cannot_overwrite_each_other(ws, people):
    """Two transactions load the same row; the second commit is refused by the version."""
    _, (imran, *_r) = people
    first = ws._sessions()
    second = ws._sessions()
    for s in (first, second):
        s.info.update(clock=ws.clock, user_id=None)
    a = first.get(Contact, imran["id"])
    b = second.get(Contact, imran["id"])
    a.city = "Hyderabad"
    first.commit()
    b.city = "Sukkur"
    from sqlalchemy.orm.exc import StaleDataError

    with pytest.raises(StaleDataError):
        second.commit()
    second.rollback()
    first.close()
    second.close()
    assert ws.contacts.get(imran["id"])["city"] == "Hyderabad"


def test_companies_have_their_own_fields(ws):
    company = ws.companies.create(
        name="Volga Trade OOO",
        website="https://volga.example.ru",
        vat="RU7701234567",
        country="RU",
        phone="+7 495 123-45-67",
    )
    assert company["vat"] == "RU7701234567"
    with pytest.raises(ValidationError, match="'mobile'"):
        ws.companies.create(name="X", mobile="+79123456789")


def test_word_search_pages_in_name_order_without_duplicates(ws):
    names = ["Иван Иванов", "Ивета Смирнова", "Борис Иванченко", "Ivan Ivanovich", "Иван Петров"]
    made = {n: ws.contacts.create(name=n)["id"] for n in names}
    # "Иван Иванов" matches "ив" twice (both words); it must still appear once.
    found = ws.contacts.search("ив", limit=10)["name"].tolist()
    assert found == ["Борис Иванченко", "Иван Иванов", "Иван Петров", "Ивета Смирнова"]
    pages = [ws.contacts.search("ив", limit=2, offset=o)["name"].tolist() for o in (0, 2, 4)]
    assert pages == [found[:2], found[2:], []]
    assert ws.contacts.search("ив", descending=True, limit=10)["name"].tolist() == found[::-1]
    assert ws.contacts.search("иван пет")["name"].tolist() == ["Иван Петров"]
    ws.contacts.archive(made["Иван Петров"])
    assert "Иван Петров" not in ws.contacts.search("ив", limit=10)["name"].tolist()
    assert "Иван Петров" in ws.contacts.search("ив", include_archived=True)["name"].tolist()
    ws.contacts.update(made["Ивета Смирнова"], name="Елена Смирнова")
    assert ws.contacts.search("ивет").empty
    assert ws.contacts.search("елен")["name"].tolist() == ["Елена Смирнова"]
