"""Alembic migrations: from empty to head, down to base and up again, on both backends;
and the migrations describe exactly what the models declare."""

import os
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

import crm_core
from crm_core import db
from crm_core.models import Base, Campaign, Invoice
from crm_core.text import fold as text_fold
from tests.conftest import PG_ADMIN_URL, _pg_unavailable


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "empty.sqlite")
        return
    name = f"crmbook_mig_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _pg_unavailable(str(exc).splitlines()[0])
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _tables(engine):
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_then_downgrade_and_upgrade_again(empty_url):
    engine = db.make_engine(empty_url)
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert _tables(engine) == set(Base.metadata.tables)
    db.downgrade(engine, "base")
    assert _tables(engine) == set()
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    assert _tables(engine) == set(Base.metadata.tables)
    db.downgrade(engine, "0002")  # one step: the journal's origin column goes
    assert "origin" not in {c["name"] for c in inspect(engine).get_columns("journal")}
    db.downgrade(engine, "0001")  # the ERP sync tables go, the CRM stays
    assert "external_links" not in _tables(engine) and "contacts" in _tables(engine)
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision() == "0016"
    assert "origin" in {c["name"] for c in inspect(engine).get_columns("journal")}
    engine.dispose()


def test_migrated_schema_matches_the_models(empty_url):
    engine = db.make_engine(empty_url)
    db.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    if engine.dialect.name == "sqlite":
        # 0006 lifted the length limits of ERP-fed text columns on PostgreSQL only:
        # SQLite never enforced VARCHAR(n), which has the same TEXT affinity as TEXT.
        diff = [d for d in diff if not _same_affinity(d)]
    engine.dispose()
    assert diff == []


def _same_affinity(change) -> bool:
    if not isinstance(change, list) or len(change) != 1 or change[0][0] != "modify_type":
        return False
    old, new = change[0][5], change[0][6]
    return {type(old).__name__, type(new).__name__} <= {"VARCHAR", "String", "Text", "TEXT"}


def test_open_creates_migrates_and_seeds_a_new_workspace_once(empty_url):
    with crm_core.open(empty_url) as ws:
        assert ws.pipeline.stages()["name"].tolist()[0] == "New"
        ws.companies.create(name="Persisted Ltd")
    with crm_core.open(empty_url) as again:  # reopening keeps data, seeds nothing twice
        assert again.info()["pipelines"] == 1
        assert again.companies.search("persisted")["name"].tolist() == ["Persisted Ltd"]


def test_database_urls():
    assert db.database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert db.database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert db.database_url("crm.sqlite") == f"sqlite:///{os.path.abspath('crm.sqlite')}"


def test_0014_widens_every_money_column_and_keeps_the_amounts(empty_url):
    """A 0013 database with amounts in it: after 0014 every money column holds 4
    decimals, the amounts are as they were, and a KWD amount keeps its third decimal."""
    with crm_core.open(empty_url) as ws:
        ws.pipeline.ensure_default()
        deal = ws.pipeline.create("Lahore", currency="PKR", expected_revenue="1500000.55")["id"]
        ws.campaigns.create("Expo", cost="18500.50", currency="PKR")
    engine = db.make_engine(empty_url)
    db.downgrade(engine, "0013")
    money = {
        "opportunities": ["expected_revenue"],
        "campaigns": ["cost"],
        "erp_products": ["list_price"],
        "erp_invoices": ["amount_untaxed", "amount_total", "amount_residual"],
        "erp_sales_orders": ["amount_total"],
        "erp_sales_order_lines": ["price_subtotal"],
    }

    def scales() -> set[tuple[str, str, int | None]]:
        found = set()
        for table, columns in money.items():
            for c in inspect(engine).get_columns(table):
                if c["name"] in columns:
                    found.add((table, c["name"], c["type"].scale))
        return found

    assert {s for _t, _c, s in scales()} == {2}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO erp_invoices (backend, remote_id, move_type, currency,"
                " amount_untaxed, amount_total, amount_residual, state)"
                " VALUES ('b', 1, 'out_invoice', 'PKR', 1000.00, 1170.50, 170.05, 'posted')"
            )
        )
    db.upgrade(engine, "0014")
    assert db.current_revision(engine) == "0014"
    assert len(scales()) == 8 and {s for _t, _c, s in scales()} == {4}
    db.upgrade(engine)
    engine.dispose()
    with crm_core.open(empty_url) as ws:
        assert str(ws.pipeline.get(deal)["expected_revenue"]) == "1500000.55"
        with ws.transaction() as s:
            assert str(s.scalar(select(Campaign.cost))) == "18500.50"
            inv = s.scalars(select(Invoice)).one()
            assert [str(inv.amount_untaxed), str(inv.amount_total), str(inv.amount_residual)] == [
                "1000.00",
                "1170.50",
                "170.05",
            ]
        kwd = ws.pipeline.create("Kuwait", currency="KWD", expected_revenue="1.235")["id"]
        assert str(ws.pipeline.get(kwd)["expected_revenue"]) == "1.235"


def test_0015_rounds_amounts_stored_before_to_their_currencys_minor_units(empty_url):
    """A 0014 database holding amounts written with two decimals whatever the currency:
    after 0015 JPY and ISK amounts are whole (half up), deals and campaigns that
    changed are journaled with the value they had, the others are untouched."""
    with crm_core.open(empty_url) as ws:
        ws.pipeline.ensure_default()
        yen = ws.pipeline.create("Osaka", currency="JPY", expected_revenue="1500")["id"]
        whole = ws.pipeline.create("Kobe", currency="JPY", expected_revenue="2000")["id"]
        kwd = ws.pipeline.create("Kuwait", currency="KWD", expected_revenue="1.235")["id"]
        pkr = ws.pipeline.create("Lahore", currency="PKR", expected_revenue="99.95")["id"]
        fair = ws.campaigns.create("Reykjavik fair", cost="700", currency="ISK")["id"]
    engine = db.make_engine(empty_url)
    db.downgrade(engine, "0014")
    with engine.begin() as conn:
        # What crmbook before 0014 could store: cents on yen and krónur.
        conn.execute(text(f"UPDATE opportunities SET expected_revenue = 1500.50 WHERE id = {yen}"))
        conn.execute(text(f"UPDATE campaigns SET cost = 699.49 WHERE id = {fair}"))
        conn.execute(
            text(
                "INSERT INTO erp_invoices (id, backend, remote_id, move_type, currency,"
                " amount_untaxed, amount_total, amount_residual, state)"
                " VALUES (1, 'b', 1, 'out_invoice', 'JPY', 999.50, 1099.45, 0.49, 'posted'),"
                " (2, 'b', 2, 'out_invoice', 'EUR', 999.50, 1099.45, 0.49, 'posted')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO erp_sales_orders (id, backend, remote_id, name, currency,"
                " amount_total, state) VALUES (1, 'b', 1, 'S1', 'JPY', 10.50, 'sale')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO erp_sales_order_lines (id, order_id, remote_id, description,"
                " quantity, price_subtotal) VALUES (1, 1, 1, 'Towel', 1, 10.50)"
            )
        )
        before = conn.execute(text("SELECT count(*) FROM journal")).scalar()
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    with engine.connect() as conn:
        revenue = dict(conn.execute(text("SELECT id, expected_revenue FROM opportunities")).all())
        assert {k: Decimal(str(v)) for k, v in revenue.items()} == {
            yen: Decimal("1501"),
            whole: Decimal("2000"),
            kwd: Decimal("1.235"),
            pkr: Decimal("99.95"),
        }
        cost = conn.execute(text(f"SELECT cost FROM campaigns WHERE id = {fair}")).scalar()
        assert Decimal(str(cost)) == Decimal("699")
        invoices = conn.execute(
            text(
                "SELECT currency, amount_untaxed, amount_total, amount_residual"
                " FROM erp_invoices ORDER BY id"
            )
        ).all()
        assert [(c, *(Decimal(str(a)) for a in amounts)) for c, *amounts in invoices] == [
            ("JPY", Decimal("1000"), Decimal("1099"), Decimal("0")),
            ("EUR", Decimal("999.50"), Decimal("1099.45"), Decimal("0.49")),
        ]
        order = conn.execute(text("SELECT amount_total FROM erp_sales_orders")).scalar()
        line = conn.execute(text("SELECT price_subtotal FROM erp_sales_order_lines")).scalar()
        assert Decimal(str(order)) == Decimal(str(line)) == Decimal("11")
        journaled = conn.execute(
            text(
                "SELECT entity, record_id, field, old, new, origin, user_id FROM journal"
                f" ORDER BY id LIMIT 10 OFFSET {before}"
            )
        ).all()
    assert [tuple(r) for r in journaled] == [
        ("opportunities", yen, "expected_revenue", '"1500.5000"', '"1501"', "migration:0015", None),
        ("campaigns", fair, "cost", '"699.4900"', '"699"', "migration:0015", None),
    ]
    engine.dispose()
    with crm_core.open(empty_url) as ws:
        assert ws.pipeline.get(yen)["expected_revenue"] == Decimal("1501")


def test_0016_fills_every_names_sort_key_in_alphabetical_order(empty_url):
    """Records written before 0016 get their sort key, and lists come out in Urdu's
    alphabet (ٹ after ت, پ after ب, ہ after و), Latin and Cyrillic in theirs."""
    names = ["ٹیپو", "ہارون", "پرویز", "واجد", "بلال", "Zoe", "émile", "Ёлка", "Анна"]
    with crm_core.open(empty_url) as ws:
        ws.pipeline.ensure_default()
        for name in names:
            ws.contacts.create(name=name)
            ws.companies.create(name=name)
            ws.pipeline.create(name)
    engine = db.make_engine(empty_url)
    db.downgrade(engine, "0015")
    assert "sort_key" not in {c["name"] for c in inspect(engine).get_columns("contacts")}
    db.upgrade(engine)
    expected = ["émile", "Zoe", "Анна", "Ёлка", "بلال", "پرویز", "ٹیپو", "واجد", "ہارون"]
    with engine.connect() as conn:
        for table in ("contacts", "companies", "opportunities"):
            listed = conn.execute(text(f"SELECT name FROM {table} ORDER BY sort_key")).scalars()
            assert list(listed) == expected, table
        # the word index's copy of the key is the record's (a name search's order)
        copies = conn.execute(
            text(
                "SELECT count(*) FROM search_terms t JOIN contacts c ON c.id = t.record_id"
                " WHERE t.entity = 'contact' AND t.sort_key = c.sort_key"
            )
        ).scalar()
        assert copies == len(names)  # one word each
    db.downgrade(engine, "0015")
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT sort_key FROM search_terms WHERE entity = 'contact'"))
        assert sorted(keys.scalars()) == sorted(text_fold(n) for n in names)
    engine.dispose()
