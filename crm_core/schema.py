"""A workspace's schema: created, checked and upgraded, each as one transaction.

- A new (empty) database is created and seeded with the default pipeline and lost
  reasons in one transaction: killed at any moment, it is left empty (and made on the
  next open) or complete, never half-made.
- A workspace at an older schema is upgraded only when asked (``crmbook migrate``,
  ``crm_core.migrate``, ``crm_core.open(..., migrate=True)``), after a backup, in one
  transaction; otherwise opening it raises :class:`~crm_core.errors.SchemaError`
  naming the command to run.
- A workspace made by a newer crmbook raises a one-line
  :class:`~crm_core.errors.SchemaError` naming both versions.
- Two processes opening one new workspace at once: the first migration holds the
  migration lock (see :func:`crm_core.db.migration_transaction`); the second then
  finds the schema made and seeds nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import sessionmaker

from crm_core import db, journal
from crm_core.errors import SchemaError
from crm_core.models import LostReason, Pipeline, Stage

Clock = Callable[[], dt.datetime]

#: Name of the pipeline a new workspace starts with.
DEFAULT_PIPELINE = "Sales"


def location_text(engine: Engine, location: str | Path | None = None) -> str:
    """The workspace as a user names it in a command: ``location`` as given when it is
    a file path, else the SQLite file, or the URL without its password."""
    if location is not None and "://" not in str(location):
        return str(location)
    if engine.dialect.name == "sqlite":
        return engine.url.database or ""
    return engine.url.render_as_string(hide_password=True)


def prepare(
    engine: Engine,
    *,
    clock: Clock,
    migrate: bool = False,
    create: bool = True,
    backup: bool = True,
    location: str | Path | None = None,
) -> Path | None:
    """Make the schema of ``engine``'s database ready to use, or refuse.

    An empty database is created and seeded when ``create`` (else SchemaError: no
    workspace). An older schema is upgraded when ``migrate``, after a backup when
    ``backup`` (else SchemaError naming ``crmbook migrate``). A newer schema is always
    refused. Returns the backup written, if any. ``location``, as the user gave it,
    is how the errors name the workspace.
    """
    head = db.head_revision()
    where = location_text(engine, location)
    if engine.dialect.name == "sqlite" and not create and not _sqlite_file(engine):
        raise _missing(where)
    # The common case, a workspace already at this crmbook's schema, takes no lock.
    with engine.connect() as conn:
        current = db.revision_of(conn)
        _refuse_newer(conn, current)
    if current == head:
        return None
    if current is None and not create:
        raise _missing(where)
    if current is not None and not migrate:
        raise _out_of_date(where, current, head)
    with db.migration_transaction(engine) as conn:
        # Under the lock: another process may have migrated it meanwhile.
        current = db.revision_of(conn)
        _refuse_newer(conn, current)
        if current == head:
            return None
        if current is not None and not migrate:
            raise _out_of_date(where, current, head)
        saved = None
        if current is not None and backup:
            from crm_core.backups import backup as write_backup

            # Taken while the lock keeps other writers (and migrators) out.
            saved = write_backup(engine)
        db.upgrade(engine, connection=conn)
        if current is None:
            seed(conn, clock)
    if current is not None:  # an upgraded workspace holds data: let the planner see it
        db.refresh_statistics(engine)
    return saved


def seed(conn: Connection, clock: Clock) -> None:
    """Create the default pipeline with its stages and the lost reasons through
    ``conn``, inside its transaction (journaled like any creation).

    The same rows as ``ws.pipeline.ensure_default()`` writes; it lives here because a
    new workspace must get them in the transaction that creates its tables.
    """
    from crm_core.services.pipeline import DEFAULT_LOST_REASONS, DEFAULT_STAGES

    # "rollback_only": the session works inside the migration's transaction and leaves
    # committing it to the migration.
    factory = sessionmaker(bind=conn, autoflush=False, join_transaction_mode="rollback_only")
    journal.install(factory)
    with factory() as session:
        session.info.update(clock=clock, user_id=None, origin=None)
        session.add_all(LostReason(name=name, active=True) for name in DEFAULT_LOST_REASONS)
        pipeline = Pipeline(name=DEFAULT_PIPELINE)
        session.add(pipeline)
        session.flush()
        for seq, (name, probability, won, lost) in enumerate(DEFAULT_STAGES, start=1):
            session.add(
                Stage(
                    pipeline_id=pipeline.id,
                    name=name,
                    sequence=seq * 10,
                    probability=Decimal(probability),
                    is_won=won,
                    is_lost=lost,
                )
            )
        session.flush()


def _sqlite_file(engine: Engine) -> bool:
    database = engine.url.database
    return not database or database == ":memory:" or Path(database).exists()


def _refuse_newer(conn: Connection, revision: str | None) -> None:
    """SchemaError when ``revision`` is one this crmbook does not know (a newer one)."""
    if db.known_revision(revision):
        return
    from crm_core import __version__

    try:
        by = db.written_by(conn)
    except Exception:  # a schema we do not know may store it differently
        by = None
    made = f"crmbook {by}" if by else "a newer crmbook"
    raise SchemaError(
        f"this workspace was made by {made} (schema {revision}); "
        f"this is crmbook {__version__}: upgrade crmbook"
    )


def _out_of_date(where: str, current: str, head: str | None) -> SchemaError:
    from crm_core import __version__

    command = f"crmbook migrate -w {where}"
    return SchemaError(
        f"the workspace {where} has schema {current}; crmbook {__version__} needs schema "
        f"{head}: run `{command}` (it writes a backup first)",
        command=command,
    )


def _missing(where: str) -> SchemaError:
    command = f"crmbook init {where}"
    return SchemaError(f"no workspace at {where}; create one with: {command}", command=command)
