"""indexes on (active, name_key) of companies and contacts

Counting the active records and paging them in name order (the ContactBook's first
page at a million contacts) read these covering indexes instead of the tables.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 04:30:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_companies_active_name", "companies", ["active", "name_key"])
    op.create_index("ix_contacts_active_name", "contacts", ["active", "name_key"])


def downgrade() -> None:
    op.drop_index("ix_contacts_active_name", table_name="contacts")
    op.drop_index("ix_companies_active_name", table_name="companies")
