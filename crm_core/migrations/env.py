"""Alembic environment: runs on the connection (or else the engine) crm_core hands over
in the config.

crm_core.db passes a connection already inside its migration transaction (with the
migration lock held), so every step of an upgrade commits together or not at all.
"""

from alembic import context

from crm_core.models import Base

config = context.config


def _run(connection):
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The caller's transaction wraps every step, DDL included, on SQLite too.
        transactional_ddl=True,
    )
    context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with config.attributes["engine"].begin() as connection:
        _run(connection)
