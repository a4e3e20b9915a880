"""crm_core: the CRM domain of crmbook. Knows no UI and no ERP.

>>> import crm_core
>>> ws = crm_core.open("crm.sqlite")          # or "postgresql+psycopg://host/db"
>>> ws.contacts.create(name="Imran Khan", email="imran@example.pk", phone="0300 1234567")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Defined before the imports below: crm_core.db and crm_core.schema record and name it.
__version__ = "0.1.0"

from crm_core.errors import (
    AccessDenied,
    ConflictError,
    CrmError,
    FieldError,
    NotFoundError,
    SchemaError,
    ValidationError,
    WorkspaceBusy,
    WorkspaceUnreachable,
)
from crm_core.workspace import Clock, Workspace, open_workspace, utc_now


def open(
    location: str | Path,
    *,
    clock: Clock = utc_now,
    migrate: bool = False,
    create: bool = True,
    **engine_kwargs: Any,
) -> Workspace:
    """Open the workspace at ``location``, creating it if the database is new.

    A file path opens an embedded SQLite workspace; a URL such as
    ``postgresql+psycopg://user@host/db`` opens PostgreSQL. A new (missing or empty)
    database gets the schema and the default pipeline in one transaction. A workspace
    made by an older crmbook raises :class:`SchemaError` naming ``crmbook migrate``
    unless ``migrate=True``, which backs it up (see :func:`backup`) and upgrades it; one
    made by a newer crmbook always raises :class:`SchemaError`. With ``create=False`` a
    missing or empty database raises :class:`SchemaError` instead of being created
    (what reading commands use). ``clock`` is the time source (aware UTC) used for
    stamps, the journal and "today".
    """
    return open_workspace(location, clock=clock, migrate=migrate, create=create, **engine_kwargs)


def migrate(location: str | Path, *, backup: bool = True) -> Path | None:
    """Upgrade the workspace at ``location`` to this crmbook's schema, in one
    transaction, after writing a backup (unless ``backup=False``); a new database is
    created. Returns the backup's path, or None when none was needed or asked for.
    Raises :class:`SchemaError` for a workspace made by a newer crmbook."""
    from crm_core import db, schema

    engine = db.make_engine(location)
    try:
        db.reachable(engine)
        return schema.prepare(engine, clock=utc_now, migrate=True, backup=backup, location=location)
    finally:
        engine.dispose()


def backup(location: str | Path, target: str | Path | None = None) -> Path:
    """Write a backup of the workspace at ``location`` and return its path: SQLite's
    online backup beside the workspace file (``crm.backup-20261204-091500.sqlite``),
    or a ``pg_dump`` custom-format dump for PostgreSQL (in the current folder), unless
    ``target`` names the file. Readable by its owner only."""
    from crm_core.backups import backup as write_backup

    return write_backup(location, target)


def restore(source: str | Path, location: str | Path, *, force: bool = False) -> None:
    """Replace the workspace at ``location`` with the backup ``source`` (made by
    :func:`backup`), in one transaction. Refuses a workspace that holds any table
    unless ``force``."""
    from crm_core.backups import restore as restore_backup

    restore_backup(source, location, force=force)


__all__ = [
    "AccessDenied",
    "ConflictError",
    "CrmError",
    "FieldError",
    "NotFoundError",
    "SchemaError",
    "ValidationError",
    "Workspace",
    "WorkspaceBusy",
    "WorkspaceUnreachable",
    "backup",
    "migrate",
    "open",
    "restore",
]
