"""The adapter: the small typed surface an ERP implements for the sync.

Values are the ERP's own (Odoo: many2one as ``[id, name]`` or ``False``); mappers
translate them. Every method may raise :class:`RemoteError`; the sync reports it
per record and carries on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from erp_bridge.cursor import Cursor

Domain = list[Any]
Record = dict[str, Any]


class RemoteError(Exception):
    """The ERP refused or failed a call; the message says which call and why."""


@runtime_checkable
class Adapter(Protocol):
    """What the sync needs from an ERP."""

    #: A stable name of this ERP database, e.g. ``odoo:crm@erp.example.com``; links,
    #: cursors and conflicts are kept per backend.
    backend: str

    def changed_since(
        self, model: str, cursor: Cursor, fields: Sequence[str], domain: Domain, limit: int
    ) -> list[Record]:
        """The next page of at most ``limit`` records after ``cursor`` (see
        :class:`~erp_bridge.cursor.Cursor`) in ``cursor.order``, archived ones
        included; each has ``id`` and ``write_date``. Called from a prefetching
        thread while the sync applies the previous page."""
        ...

    def read(self, model: str, ids: Sequence[int], fields: Sequence[str]) -> list[Record]:
        """Records by id (archived ones included); missing ids are left out."""
        ...

    def search_read(self, model: str, domain: Domain, fields: Sequence[str]) -> list[Record]:
        """All records matching ``domain`` (archived included), for small reference
        models such as stages, tags and countries."""
        ...

    def create(self, model: str, values: Record, external_id: str) -> int:
        """Create a record and register ``external_id`` for it in the same call
        sequence, so a retry after a crash can find it with :meth:`find_external_id`."""
        ...

    def external_ids(self, model: str, ids: Sequence[int], module: str) -> dict[int, str]:
        """For those of ``ids`` registered under ``module``: id -> external name."""
        ...

    def find_external_id(self, model: str, external_id: str) -> int | None:
        """The id of the record registered under ``external_id``, if any."""
        ...

    def write(self, model: str, ids: Sequence[int], values: Record) -> None:
        """Change fields of records."""
        ...

    def archive(self, model: str, ids: Sequence[int], active: bool = False) -> None:
        """Archive (or, with ``active=True``, restore) records."""
        ...

    def execute(self, model: str, ids: Sequence[int], method: str) -> Any:
        """Run a record method (an action such as marking an activity done); not
        retried, since an action need not be idempotent."""
        ...

    def all_ids(self, model: str, domain: Domain) -> set[int]:
        """Every id of ``model`` matching ``domain``, archived included: used to find
        records deleted on the ERP side."""
        ...

    def schema(self, wanted: Mapping[str, Collection[str]]) -> dict[str, set[str]]:
        """Of the ``wanted`` fields of each model, those the ERP has. A model it does
        not have at all (its module is not installed) is left out. Asked once per run,
        so that a field or a model missing from this ERP's version is left out of the
        run (and said in its report) instead of failing every call."""
        ...
