"""The adapter: the small typed surface an ERP implements for the sync.

Values are the ERP's own (Odoo: many2one as ``[id, name]`` or ``False``); mappers
translate them. Every method may raise :class:`RemoteError`: the ERP refused that call
(an access or validation error on one record), which the sync reports per record and
carries on; or its subclass :class:`Unavailable`: the ERP could not be asked at all
(unreachable, timed out, login refused, server failing), which stops the run, stored
as failed, with no cursor moved past what was applied.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from erp_bridge.cursor import Cursor

if TYPE_CHECKING:
    from erp_bridge.catalogue import Catalogue

Domain = list[Any]
Record = dict[str, Any]


class RemoteError(Exception):
    """The ERP refused or failed a call; the message says which call and why."""


class Unavailable(RemoteError):
    """The ERP could not be asked: unreachable, no answer within the timeout, the login
    or API key refused, or the server failing after retries. Not about one record: a
    run stops at the first one."""


@runtime_checkable
class Adapter(Protocol):
    """What the sync needs from an ERP."""

    #: A stable name of this ERP database, e.g. ``odoo:crm@erp.example.com``; links,
    #: cursors and conflicts are kept per backend.
    backend: str
    #: This ERP's models, fields and domains as the sync reads them: its entity maps,
    #: where reference data and the read-only copies come from (see
    #: :mod:`erp_bridge.catalogue`). The generic modules name no ERP model: they ask here.
    catalogue: Catalogue

    def identity(self) -> str | None:
        """The ERP database's own identity, the same by whatever address it is reached
        (Odoo: ``database.uuid``); None when the syncing user may not read it. Asked
        only for an address the workspace has not used (see :mod:`erp_bridge.backends`)."""
        ...

    def same_server(self, backend: str) -> bool:
        """Whether ``backend`` (a name this adapter's kind gives) is this database at
        another spelling of the same address (``localhost`` for ``127.0.0.1``)."""
        ...

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

    def search_read(
        self, model: str, domain: Domain, fields: Sequence[str], limit: int | None = None
    ) -> list[Record]:
        """The records matching ``domain`` (archived included) in id order, the first
        ``limit`` of them if given: small reference models such as stages and tags,
        records by id, and the ids and dates of a rewind window, keyset-paged by id."""
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
        """Every id of ``model`` matching ``domain`` that the syncing user may see,
        archived included: with :meth:`existing`, used to find records deleted on the
        ERP side."""
        ...

    def existing(self, model: str, ids: Sequence[int]) -> set[int]:
        """Those of ``ids`` that still exist in the ERP, whether or not the syncing user
        may see them: a record only hidden from that user (reassigned to someone else)
        is not a deleted one."""
        ...

    def server_time(self) -> str:
        """The ERP's clock now, in the form of its ``write_date`` values: the start of
        a run, from which the next run's rewind window counts."""
        ...

    def match_candidates(
        self,
        model: str,
        keys: Mapping[str, Collection[str]],
        fields: Sequence[str],
        domain: Domain,
    ) -> list[Record]:
        """The records of ``model`` within ``domain`` (archived included) that may hold
        one of ``keys``, read with ``fields``: what a sync asks before it creates a
        record the ERP may already have (a first sync with an ERP that holds the same
        customers).

        ``keys`` maps a kind of key to its values, as crmbook normalises them
        (:mod:`crm_core.keys`): ``email``, addresses compared without regard to case;
        ``vat``, VAT numbers in capitals without spaces, dots, dashes or slashes;
        ``phone``, E.164 numbers, each looked for in every phone field among
        ``fields``. A kind the adapter does not know is ignored.

        The answer may hold records that hold no key (an ERP stores values as typed,
        so an adapter searches loosely, e.g. on a phone's last digits): the caller
        compares the keys of what comes back and keeps the true matches. It must not
        leave out a record that holds one. No keys: no records."""
        ...

    def exchange_rates(self, since: str | None) -> list[Record]:
        """The ERP's exchange rates changed at or after ``since`` (a value of the form
        :meth:`server_time` gives; None: every rate), each a plain row: ``currency``
        and ``base`` (ISO 4217 codes), ``day`` (a ``date``), ``rate`` (a ``Decimal``:
        on that day one ``base`` is worth ``rate`` ``currency``) and ``changed`` (when
        the ERP last changed it). Optional: an adapter without it syncs no rates."""
        ...

    def schema(self, wanted: Mapping[str, Collection[str]]) -> dict[str, set[str]]:
        """Of the ``wanted`` fields of each model, those the ERP has. A model it does
        not have at all (its module is not installed) is left out. Asked once per run,
        so that a field or a model missing from this ERP's version is left out of the
        run (and said in its report) instead of failing every call. Raises
        :class:`Unavailable` when it cannot ask: an unreachable ERP is not one without
        models."""
        ...
