"""values kept as written, failed sync records, run heartbeats

- ``unvalidated`` on companies, contacts, opportunities and activities: the fields that
  hold a value kept as the ERP (or a file) wrote it although a person could not have
  typed it (field -> reason).
- Text columns that receive ERP values lose their length limit on PostgreSQL (SQLite
  never enforced one), so a long value from the ERP is kept whole.
- ``sync_failures``: records that failed to pull or push, retried by every run until
  they get through (before, only failed pushes were kept, as JSON in ``sync_state``).
- ``sync_runs.heartbeat_at`` and ``reason``, and at most one running run per backend.
- ``remote_write_date`` on the ERP copies (products, invoices, orders), so a run that
  re-reads a few seconds skips the copies that did not change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 09:00:00
"""

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WIDENED = {
    "companies": [
        "name",
        "email",
        "phone",
        "street",
        "street2",
        "city",
        "zip",
        "state",
        "website",
        "vat",
    ],
    "contacts": [
        "name",
        "email",
        "phone",
        "street",
        "street2",
        "city",
        "zip",
        "state",
        "job_title",
        "mobile",
    ],
    "opportunities": ["name"],
    "activities": ["subject"],
}
UNVALIDATED = ("companies", "contacts", "opportunities", "activities")
COPIES = ("erp_products", "erp_invoices", "erp_sales_orders")


def upgrade() -> None:
    bind = op.get_bind()
    for table in UNVALIDATED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("unvalidated", sa.JSON(none_as_null=True), nullable=True))
    if bind.dialect.name == "postgresql":
        for table, columns in WIDENED.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.Text())

    for table in COPIES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("remote_write_date", sa.String(40), nullable=True))

    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
    # Runs left "running" by an older crmbook were killed: that is what they were.
    op.execute("UPDATE sync_runs SET status = 'interrupted' WHERE status = 'running'")
    op.create_index(
        "uq_sync_runs_running",
        "sync_runs",
        ["backend"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )

    failures = op.create_table(
        "sync_failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("backend", sa.String(200), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("direction", sa.String(4), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "uq_sync_failures_record",
        "sync_failures",
        ["backend", "entity", "direction", "record_id"],
        unique=True,
    )
    # The pushes an older crmbook kept to retry become failures to retry.
    state = sa.table("sync_state", sa.column("backend"), sa.column("key"), sa.column("value"))
    rows = bind.execute(
        sa.select(state.c.backend, state.c.key, state.c.value).where(
            state.c.key.like("push:retry:%")
        )
    ).all()
    now = dt.datetime.now(dt.UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    carried = [
        {
            "backend": backend,
            "entity": key.removeprefix("push:retry:"),
            "direction": "push",
            "record_id": int(local_id),
            "error": "failed to push in an earlier run",
            "attempts": 1,
            "first_failed_at": now,
            "last_failed_at": now,
        }
        for backend, key, value in rows
        for local_id in sorted(set(json.loads(value or "[]")))
    ]
    if carried:
        op.bulk_insert(failures, carried)
    op.execute("DELETE FROM sync_state WHERE key LIKE 'push:retry:%'")


def downgrade() -> None:
    op.drop_index("uq_sync_failures_record", table_name="sync_failures")
    op.drop_table("sync_failures")
    op.drop_index("uq_sync_runs_running", table_name="sync_runs")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("reason")
        batch.drop_column("heartbeat_at")
    for table in reversed(COPIES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("remote_write_date")
    for table in reversed(UNVALIDATED):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("unvalidated")
