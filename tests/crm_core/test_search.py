"""The global search (``ws.search.everything``) and the plans of exact lookups, on
SQLite and PostgreSQL: names in any script, e-mails in any case, phones as people
write them, deal names, the own-records rule, and an index behind every query."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

import crm_core
from crm_core import ValidationError, bulk, db
from crm_core.services.search import KINDS, MAX_QUERY


def titles(found: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    return {kind: [hit["title"] for hit in hits] for kind, hits in found.items()}


def nothing() -> dict[str, list[str]]:
    return {kind: [] for kind in KINDS}


@pytest.fixture
def crm(ws):
    """A PK workspace with people in five scripts, two companies and three deals."""
    ws.set_setting("phone_region", "PK")
    ws.set_setting("currency", "PKR")
    indus = ws.companies.create(
        name="Indus Textiles", city="Karachi", email="info@indus.pk", phone="021 35871234"
    )["id"]
    volga = ws.companies.create(name="Волга Трейд", country="RU", city="Казань")["id"]
    people = {
        "urdu": ws.contacts.create(
            name="عمران خان", company=indus, email="Imran.Khan@Indus.pk", phone="0318 8895048"
        ),
        "bengali": ws.contacts.create(name="রহিম উদ্দিন", email="rahim@example.com.bd"),
        "tamil": ws.contacts.create(name="முருகன் செல்வம்", country="LK", mobile="077 123 4567"),
        "russian": ws.contacts.create(
            name="Иван Петров", company=volga, country="RU", phone="8 912 345-67-89"
        ),
        "latin": ws.contacts.create(name="Imran Qureshi", email="iq@example.pk"),
    }
    ids = {key: record["id"] for key, record in people.items()}
    ids.update(indus=indus, volga=volga)
    ids["uniforms"] = ws.pipeline.create(
        "Uniforms 2026", company=indus, expected_revenue="1250000.50"
    )["id"]
    ids["annual"] = ws.pipeline.create(
        "سالانہ معاہدہ", contact=ids["urdu"], expected_revenue="900.00", stage="Qualified"
    )["id"]
    ids["licences"] = ws.pipeline.create(
        "Лицензии 1С", company=volga, expected_revenue="10.00", currency="RUB"
    )["id"]
    ws.ids = ids
    return ws


# -- what it finds -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("عمران", "عمران خان"),
        ("خان عمر", "عمران خان"),  # every word, in any order, as a prefix
        ("রহি", "রহিম উদ্দিন"),
        ("উদ্দিন", "রহিম উদ্দিন"),
        ("முருக", "முருகன் செல்வம்"),
        ("иван", "Иван Петров"),
        ("ПЕТРОВ ив", "Иван Петров"),
        ("qure", "Imran Qureshi"),
    ],
)
def test_names_in_any_script_by_word_prefix(crm, query, title):
    found = crm.search.everything(query)
    assert [hit["title"] for hit in found["contacts"]] == [title]
    assert found["contacts"][0]["matched"] == "name"
    assert found["contacts"][0]["kind"] == "contacts"


def test_a_hit_says_what_it_is(crm):
    found = crm.search.everything("عمران")
    assert found == {
        "contacts": [
            {
                "id": crm.ids["urdu"],
                "kind": "contacts",
                "title": "عمران خان",
                "subtitle": "Indus Textiles · Imran.Khan@indus.pk · +92 318 8895048",
                "matched": "name",
            }
        ],
        "companies": [],
        "deals": [],
    }
    assert titles(crm.search.everything("imran")) == {
        "contacts": ["Imran Qureshi", "عمران خان"],  # the name, then an e-mail that starts so
        "companies": [],
        "deals": [],
    }
    assert [h["matched"] for h in crm.search.everything("imran")["contacts"]] == ["name", "email"]


def test_companies_by_name_with_city_email_and_phone(crm):
    found = crm.search.everything("ind")
    assert found["companies"] == [
        {
            "id": crm.ids["indus"],
            "kind": "companies",
            "title": "Indus Textiles",
            "subtitle": "Karachi · info@indus.pk · +92 21 35871234",
            "matched": "name",
        }
    ]
    assert titles(crm.search.everything("волга")) == {
        "contacts": [],
        "companies": ["Волга Трейд"],
        "deals": [],
    }


@pytest.mark.parametrize(
    "query",
    ["imran.khan@indus.pk", "IMRAN.KHAN@INDUS.PK", "  Imran.Khan@Indus.pk ", "imran.k", "Imran.Kh"],
)
def test_email_exact_or_its_beginning_in_any_case(crm, query):
    found = crm.search.everything(query)
    assert titles(found)["contacts"] == ["عمران خان"]
    assert found["contacts"][0]["matched"] == "email"


def test_an_email_finds_companies_too(crm):
    found = crm.search.everything("INFO@indus")
    assert titles(found) == {"contacts": [], "companies": ["Indus Textiles"], "deals": []}
    assert found["companies"][0]["matched"] == "email"
    assert crm.search.everything("nobody@indus.pk") == nothing()


@pytest.mark.parametrize(
    "query",
    [
        "0318 8895048",
        "03188895048",
        "0318-8895048",
        "+92 318 8895048",
        "+923188895048",
        "(0318) 8895048",
    ],
)
def test_phone_as_people_write_it(crm, query):
    found = crm.search.everything(query)
    assert titles(found) == {"contacts": ["عمران خان"], "companies": [], "deals": []}
    assert found["contacts"][0]["matched"] == "phone"


def test_national_phone_read_with_the_records_country_then_the_region(crm):
    # Russian national format, workspace region PK: the record's own country reads it.
    found = crm.search.everything("8 912 345-67-89")
    assert titles(found)["contacts"] == ["Иван Петров"]
    assert found["contacts"][0]["subtitle"] == "Волга Трейд · +7 912 345-67-89"
    # Sri Lankan mobile of a contact in LK: matched on the mobile.
    found = crm.search.everything("077 123 4567")
    assert titles(found)["contacts"] == ["முருகன் செல்வம்"]
    assert found["contacts"][0]["matched"] == "mobile"
    # A company's landline, national format read in the workspace region (PK).
    found = crm.search.everything("021-3587-1234")
    assert titles(found) == {"contacts": [], "companies": ["Indus Textiles"], "deals": []}
    assert found["companies"][0]["matched"] == "phone"
    assert crm.search.everything("0300 0000000") == nothing()


def test_deal_names_with_stage_and_amount(crm):
    found = crm.search.everything("uniforms")
    assert found["deals"] == [
        {
            "id": crm.ids["uniforms"],
            "kind": "deals",
            "title": "Uniforms 2026",
            "subtitle": "New · 1,250,000.50 PKR · Indus Textiles",
            "matched": "name",
        }
    ]
    assert found["contacts"] == found["companies"] == []
    found = crm.search.everything("سالانہ")
    assert [h["subtitle"] for h in found["deals"]] == ["Qualified · 900.00 PKR · عمران خان"]
    assert titles(crm.search.everything("ЛИЦЕНЗИИ 1с")) == {
        "contacts": [],
        "companies": [],
        "deals": ["Лицензии 1С"],
    }
    # A deal's name is matched from its start.
    assert titles(crm.search.everything("2026"))["deals"] == []


def test_archived_records_are_not_found(crm):
    crm.contacts.archive(crm.ids["latin"])
    crm.companies.archive(crm.ids["indus"])
    crm.pipeline.archive(crm.ids["uniforms"])
    assert titles(crm.search.everything("imran"))["contacts"] == ["عمران خان"]
    assert crm.search.everything("indus") == nothing()
    assert crm.search.everything("info@indus.pk") == nothing()
    assert crm.search.everything("uniforms") == nothing()


def test_results_per_kind_in_name_order(ws):
    for name in ("Ali Raza", "Ali Khan", "Alina Ahmed", "Ali Butt", "Alia Shah", "Ali Zaidi"):
        ws.contacts.create(name=name)
    ws.pipeline.create("Ali Raza renewal")
    found = ws.search.everything("ali", limit_per_kind=4)
    assert titles(found) == {
        "contacts": ["Ali Butt", "Ali Khan", "Ali Raza", "Ali Zaidi"],
        "companies": [],
        "deals": ["Ali Raza renewal"],
    }
    assert len(ws.search.everything("ali")["contacts"]) == 5
    assert len(ws.search.everything("ali", 50)["contacts"]) == 6


@pytest.mark.parametrize("query", [None, "", "   ", "\t\n", "!!!", "-- ,"])
def test_blank_input_finds_nothing(crm, query):
    assert crm.search.everything(query) == nothing()


@pytest.mark.parametrize(
    ("query", "limit", "field"),
    [
        ("x" * (MAX_QUERY + 1), 5, "query"),
        (12345, 5, "query"),
        (["imran"], 5, "query"),
        ("imran\x00", 5, "query"),
        ("imran", 0, "limit_per_kind"),
        ("imran", 51, "limit_per_kind"),
        ("imran", True, "limit_per_kind"),
        ("imran", "5", "limit_per_kind"),
    ],
)
def test_absurd_input_is_refused_clearly(crm, query, limit, field):
    with pytest.raises(ValidationError) as refused:
        crm.search.everything(query, limit)
    assert [e.field for e in refused.value.errors] == [field]
    assert "search" in str(refused.value)


def test_the_longest_query_is_searched(crm):
    assert crm.search.everything("imran " + "k" * (MAX_QUERY - 6)) == nothing()


def test_a_sales_user_finds_only_their_own_deals(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    bilal, olga, boss = ws.as_user("bilal"), ws.as_user("olga"), ws.as_user("ayesha")
    company = ws.companies.create(name="Kazan Textil", owner="olga")["id"]
    ws.contacts.create(name="Irina Petrova", company=company, owner="olga")
    bilal.pipeline.create("Textile order Lahore")
    olga.pipeline.create("Textile order Kazan", company=company)
    for name in ("Textile order Moscow", "Textile order Ufa"):
        olga.pipeline.create(name)
    ws.pipeline.create("Textile order unassigned")
    assert titles(bilal.search.everything("textil")) == {
        "contacts": [],
        "companies": ["Kazan Textil"],  # companies and contacts are everyone's
        "deals": ["Textile order Lahore"],
    }
    assert titles(olga.search.everything("textile order"))["deals"] == [
        "Textile order Kazan",
        "Textile order Moscow",
        "Textile order Ufa",
    ]
    assert titles(bilal.search.everything("irina"))["contacts"] == ["Irina Petrova"]
    assert titles(bilal.search.everything("textile order k"))["deals"] == []
    assert len(boss.search.everything("textil")["deals"]) == 5
    assert len(ws.search.everything("textil")["deals"]) == 5


# -- plans: an index behind every query --------------------------------------------------
def statements(ws: crm_core.Workspace, call: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The SELECT statements ``call`` runs, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    event.listen(ws.engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(ws.engine, "before_cursor_execute", capture)
    return seen


def plans(ws: crm_core.Workspace, call: Callable[[], Any], tiny: bool = False) -> list[str]:
    """The plan of each SELECT ``call`` runs, as one text per statement. ``tiny``: the
    tables hold a handful of rows, which PostgreSQL rightly reads whole; it is asked
    for its best plan that reads an index instead."""
    out = []
    sqlite = ws.engine.dialect.name == "sqlite"
    with ws.engine.connect() as conn:
        if tiny and not sqlite:
            conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, params in statements(ws, call):
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = conn.exec_driver_sql(explain + statement, params).all()
            out.append("\n".join(str(row[-1]) for row in rows))
    return out


def main_plan(
    ws: crm_core.Workspace, call: Callable[[], Any], table: str, tiny: bool = False
) -> str:
    """The plan of the first statement of ``call`` that reads ``table``."""
    found = [
        plan
        for (statement, _), plan in zip(statements(ws, call), plans(ws, call, tiny), strict=True)
        if f" FROM {table} " in " ".join(statement.split()) + " "
    ]
    assert found, f"no statement read {table}"
    return found[0]


def people(n: int) -> list[dict[str, str]]:
    return [
        {
            "name": f"Person {i:05d}",
            "email": f"p{i}@example.com",
            "phone": f"+92300{i:07d}",
            "mobile": f"+92301{i:07d}",
        }
        for i in range(n)
    ]


@pytest.fixture
def big(ws):
    """1,500 contacts and companies, loaded in bulk (which refreshes the statistics)."""
    ws.set_setting("phone_region", "PK")
    assert bulk.import_contacts(ws, people(1500)).inserted == 1500
    rows = [{k: v for k, v in row.items() if k != "mobile"} for row in people(1500)]
    assert bulk.import_companies(ws, rows).inserted == 1500
    return ws


def forget_statistics(ws: crm_core.Workspace) -> None:
    """The workspace as records created one by one leave it: no statistics."""
    if ws.engine.dialect.name == "sqlite":
        with ws.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM sqlite_stat1")
        ws.engine.dispose()


LOOKUPS = {
    "email": ({"email": "P1234@example.com"}, ["ix_{t}_email_key"]),
    "phone": ({"phone": "0300 0001234"}, ["ix_{t}_phone"]),
    "e164": ({"phone": "+923000001234"}, ["ix_{t}_phone"]),
}


@pytest.mark.parametrize(
    ("backend", "statistics"),
    [
        ("sqlite", "with statistics"),
        ("sqlite", "without statistics"),
        # PostgreSQL always has statistics (autovacuum, ANALYZE after loads).
        pytest.param("postgresql", "with statistics", marks=pytest.mark.postgres),
    ],
    indirect=["backend"],
)
@pytest.mark.parametrize("lookup", sorted(LOOKUPS))
@pytest.mark.parametrize("table", ["contacts", "companies"])
def test_an_exact_lookup_uses_its_index(big, table, lookup, statistics):
    if statistics == "without statistics":
        forget_statistics(big)
    service = getattr(big, table)
    filters, indexes = LOOKUPS[lookup]
    plan = main_plan(big, lambda: service.search(**filters), table)
    for index in indexes:
        assert index.format(t=table) in plan, plan
    assert f"ix_{table}_active_name" not in plan, plan
    count = main_plan(big, lambda: service.count(**filters), table)
    for index in indexes:
        assert index.format(t=table) in count, count
    assert service.search(**filters)["name"].tolist() == ["Person 01234"]
    assert service.count(**filters) == 1


def test_a_contacts_mobile_lookup_uses_both_phone_indexes(big):
    forget_statistics(big)
    plan = main_plan(big, lambda: big.contacts.search(phone="0301 0000042"), "contacts")
    assert "ix_contacts_phone" in plan and "ix_contacts_mobile" in plan, plan
    assert big.contacts.search(phone="0301 0000042")["name"].tolist() == ["Person 00042"]


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("p1234@example", "ix_{t}_email_key"),
        ("0300 0001234", "ix_{t}_phone"),
        ("Person 01234", "search_terms"),
    ],
)
def test_every_query_of_the_global_search_reads_an_index(big, query, index):
    forget_statistics(big)
    big.pipeline.create("Person 01234 renewal")
    every = plans(big, lambda: big.search.everything(query), tiny=True)
    assert every
    text = "\n".join(every)
    for table in ("contacts", "companies"):
        assert index.format(t=table) in text, text
    assert "ix_opportunities_active_name" in text, text
    for line in text.splitlines():
        if big.engine.dialect.name == "sqlite":
            # SEARCH: an index range; SCAN would read a whole table or index.
            assert not line.strip().startswith("SCAN"), text
        else:
            assert "Seq Scan on contacts" not in line and "Seq Scan on opportunities" not in line
    found = big.search.everything(query)
    assert [h["title"] for h in found["contacts"]][:1] == ["Person 01234"]


def test_a_sales_users_deal_search_reads_their_own_deals_index(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    bilal = ws.as_user("bilal")
    bilal.pipeline.create("Textile order Lahore")
    plan = main_plan(bilal, lambda: bilal.search.everything("textile"), "opportunities", tiny=True)
    assert "ix_opportunities_owner_name" in plan, plan


# -- statistics ----------------------------------------------------------------------------
def test_opening_analyses_a_workspace_that_outgrew_its_statistics(sqlite_ws, tmp_path):
    path = sqlite_ws.engine.url.database
    bulk.import_contacts(sqlite_ws, people(1500))
    forget_statistics(sqlite_ws)
    sqlite_ws.close()
    engine = db.make_engine(path)
    try:
        assert db.keep_statistics(engine) is True
        with engine.connect() as conn:
            stats = conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'contacts'"
            ).scalar()
        assert stats and stats > 0
        assert db.keep_statistics(engine) is False  # current now: nothing to do
    finally:
        engine.dispose()
    forget_statistics(crm_core.open(path))  # crm_core.open analyses too
    reopened = crm_core.open(path)
    plan = main_plan(reopened, lambda: reopened.contacts.search(q="person 00042"), "contacts")
    assert plan
    with reopened.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_stat1").scalar()
    reopened.close()


def test_opening_a_busy_workspace_does_not_wait_to_analyse_it(sqlite_ws):
    path = sqlite_ws.engine.url.database
    bulk.import_contacts(sqlite_ws, people(1500))
    forget_statistics(sqlite_ws)
    with sqlite_ws.engine.connect() as writer:
        writer.exec_driver_sql("BEGIN IMMEDIATE")  # another process is writing
        started = time.perf_counter()
        opened = crm_core.open(path)
        assert time.perf_counter() - started < 2  # not the 10 s lock wait
        assert opened.contacts.count() == 1500
        opened.close()
        writer.rollback()


def test_a_small_workspace_opens_without_analysing(sqlite_ws):
    sqlite_ws.contacts.create(name="Only One")
    assert db.keep_statistics(sqlite_ws.engine) is False


@pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_bulk_load_analyses_postgresql_too(ws):
    bulk.import_contacts(ws, people(200))
    with ws.engine.connect() as conn:
        analysed = conn.exec_driver_sql(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'contacts'"
        ).scalar()
    assert analysed is not None
