"""indexes on deal names for the global search

``ws.search.everything`` finds deals whose name starts with what was typed, a page
in name order read from ``(active, name_key)``; a sales user, who sees only the deals
they own, from ``(owner_id, active, name_key)``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 16:00:00
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_opportunities_active_name", "opportunities", ["active", "name_key"])
    op.create_index(
        "ix_opportunities_owner_name", "opportunities", ["owner_id", "active", "name_key"]
    )


def downgrade() -> None:
    op.drop_index("ix_opportunities_owner_name", table_name="opportunities")
    op.drop_index("ix_opportunities_active_name", table_name="opportunities")
