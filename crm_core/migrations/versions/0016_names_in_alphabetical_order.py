"""names listed in alphabetical order in every script

Companies, contacts and deals were listed in the order of their folded search key's
code points, which puts Urdu's ٹ پ چ ڈ ڑ ژ گ after ی and ہ before و, and Sindhi's own
letters after everything. Each now has a ``sort_key`` (crm_core.collation: ICU's
collation, CLDR's Urdu tailoring in the scripts' root order), filled here for every
row, and lists are ordered by it:

- ``sort_key`` on ``companies``, ``contacts`` and ``opportunities``, and the one the
  word index (``search_terms``) copies so that a name search reads its page in name
  order from the index alone, widened to the key's length;
- the index of active companies and contacts in name order now on ``sort_key``
  (``ix_*_active_sort`` for ``ix_*_active_name``; ``name_key`` keeps its own index for
  search), and two on deals beside the search's: everyone's and an owner's.

Rows are read in pages of ``BATCH`` (keyset on id), so a workspace of a million
contacts migrates in bounded memory. The downgrade drops the column and the indexes.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 17:30:00
"""

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from crm_core.collation import KEY_LENGTH, sort_key
from crm_core.text import fold

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BATCH = 5000
TABLES = ("companies", "contacts", "opportunities")
#: Tables with a word index, and the entity name their terms carry.
INDEXED = {"companies": "company", "contacts": "contact"}
#: The word index's sort key before: the folded name, at most 120 characters.
TERM_KEY = 120
_TERMS = sa.table(
    "search_terms",
    sa.column("entity", sa.String),
    sa.column("record_id", sa.Integer),
    sa.column("sort_key", sa.String),
)


def _pages(conn: sa.Connection, table_name: str) -> Iterator[list[Any]]:
    """(id, name) of every row of ``table_name``, a page of :data:`BATCH` at a time."""
    table = sa.table(table_name, sa.column("id", sa.Integer), sa.column("name", sa.Text))
    after = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, table.c.name)
            .where(table.c.id > after)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield list(rows)
        after = rows[-1][0]


def _terms_keyed(conn: sa.Connection, entity: str, values: list[dict[str, Any]]) -> None:
    """Give the word index's rows of ``entity`` their records' keys (``rid``, ``sort_key``)."""
    conn.execute(
        _TERMS.update().where(_TERMS.c.entity == entity, _TERMS.c.record_id == sa.bindparam("rid")),
        values,
    )


def _fill(conn: sa.Connection, table_name: str) -> None:
    keys = sa.table(table_name, sa.column("id", sa.Integer), sa.column("sort_key", sa.String))
    for rows in _pages(conn, table_name):
        values = [{"rid": rid, "sort_key": sort_key(name)} for rid, name in rows]
        conn.execute(keys.update().where(keys.c.id == sa.bindparam("rid")), values)
        if table_name in INDEXED:
            _terms_keyed(conn, INDEXED[table_name], values)


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("search_terms") as batch:
        batch.alter_column(
            "sort_key", type_=sa.String(KEY_LENGTH), existing_type=sa.String(TERM_KEY)
        )
    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            batch.add_column(
                sa.Column("sort_key", sa.String(KEY_LENGTH), nullable=False, server_default="")
            )
        _fill(conn, name)
    op.drop_index("ix_companies_active_name", table_name="companies")
    op.drop_index("ix_contacts_active_name", table_name="contacts")
    op.create_index("ix_companies_active_sort", "companies", ["active", "sort_key"])
    op.create_index("ix_contacts_active_sort", "contacts", ["active", "sort_key"])
    op.create_index("ix_opportunities_active_sort", "opportunities", ["active", "sort_key"])
    op.create_index(
        "ix_opportunities_owner_sort", "opportunities", ["owner_id", "active", "sort_key"]
    )


def downgrade() -> None:
    op.drop_index("ix_opportunities_owner_sort", table_name="opportunities")
    op.drop_index("ix_opportunities_active_sort", table_name="opportunities")
    op.drop_index("ix_contacts_active_sort", table_name="contacts")
    op.drop_index("ix_companies_active_sort", table_name="companies")
    op.create_index("ix_contacts_active_name", "contacts", ["active", "name_key"])
    op.create_index("ix_companies_active_name", "companies", ["active", "name_key"])
    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            batch.drop_column("sort_key")
    # The word index's key as it was: the folded name.
    conn = op.get_bind()
    for table_name, entity in INDEXED.items():
        for rows in _pages(conn, table_name):
            values = [{"rid": rid, "sort_key": fold(name)[:TERM_KEY]} for rid, name in rows]
            _terms_keyed(conn, entity, values)
    with op.batch_alter_table("search_terms") as batch:
        batch.alter_column(
            "sort_key", type_=sa.String(TERM_KEY), existing_type=sa.String(KEY_LENGTH)
        )
