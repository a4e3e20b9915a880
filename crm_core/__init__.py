"""crm_core: the CRM domain of crmbook. Knows no UI and no ERP.

>>> import crm_core
>>> ws = crm_core.open("crm.sqlite")          # or "postgresql+psycopg://host/db"
>>> ws.contacts.create(name="Imran Khan", email="imran@example.pk", phone="0300 1234567")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crm_core.errors import (
    AccessDenied,
    ConflictError,
    CrmError,
    FieldError,
    NotFoundError,
    ValidationError,
)
from crm_core.workspace import Clock, Workspace, open_workspace, utc_now

__version__ = "0.1.0"


def open(location: str | Path, *, clock: Clock = utc_now, **engine_kwargs: Any) -> Workspace:
    """Open (creating and migrating on first use) the workspace at ``location``.

    A file path opens an embedded SQLite workspace; a URL such as
    ``postgresql+psycopg://user@host/db`` opens PostgreSQL. ``clock`` is the time
    source (aware UTC) used for stamps, the journal and "today".
    """
    return open_workspace(location, clock=clock, **engine_kwargs)


__all__ = [
    "AccessDenied",
    "ConflictError",
    "CrmError",
    "FieldError",
    "NotFoundError",
    "ValidationError",
    "Workspace",
    "open",
]
