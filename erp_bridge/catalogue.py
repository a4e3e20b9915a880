"""What a sync reads from one ERP, in the ERP's own names: the data half of the contract.

Every adapter carries a :class:`Catalogue` (``Adapter.catalogue``): its entity maps,
the models reference data and read-only copies come from (with the fields to read, the
domain selecting them and how a remote record becomes crmbook's values), and the small
lookup tables its converters read. The generic modules (importer, copies, context, run)
name no ERP model or field: they read them here. ``erp_bridge/odoo/catalogue.py`` fills
one in for Odoo; a second ERP is a second catalogue.

The entity names themselves are crmbook's (``user``, ``company``, ``invoice``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from erp_bridge.adapter import Adapter
    from erp_bridge.mapper import Context, EntityMap

Domain = list[Any]
Record = dict[str, Any]

#: crmbook's reference entities, pulled (and linked by name) in this order.
REFERENCE = ("user", "stage", "lost_reason", "tag")
#: crmbook's entities synced both ways by the catalogue's maps, in dependency order.
SYNCED = ("company", "contact", "opportunity", "activity")
#: crmbook's read-only copies of the ERP's accounting data, pulled in this order.
COPIES = ("product", "invoice", "sales_order")


@dataclass(frozen=True)
class Lookup:
    """A small remote table converters look values up in (countries, stages, the
    currencies), read whole once per run (``RunContext.reference``)."""

    fields: Sequence[str]
    #: Selects the rows of a table read only in part.
    domain: Domain = field(default_factory=list)


@dataclass(frozen=True)
class Reference:
    """Where a reference entity comes from and how a remote record reads.

    ``values`` turns a remote record into crmbook's values: for ``user`` ``login``,
    ``name``, ``email`` (None when empty) and ``active``; for ``stage`` ``name``,
    ``sequence`` (an int) and ``is_won``; for ``lost_reason`` and ``tag`` ``name``.

    ``remote``, for an entity the sync creates in the ERP when a synced record links to
    one the ERP lacks (a stage or a lost reason added here), turns crmbook's values of
    it (those :func:`erp_bridge.local.reference_values` gives) into the new remote
    record's fields, or None for one the ERP has no place for; one of the same name
    (any case) there is linked instead of creating another."""

    model: str
    fields: Sequence[str]
    domain: Domain
    values: Callable[[Record], Record]
    remote: Callable[[Record], Record | None] | None = None


@dataclass(frozen=True)
class Copy:
    """Where a read-only copy comes from and how a remote record becomes its row.

    ``values(record, extra, ctx)`` gives the row's columns as crmbook holds them
    (``Decimal`` money, ``date``/``datetime`` values, currency codes), set in that
    order; ``partner`` (a remote partner id or None) is resolved to the linked company
    or contact, and ``lines`` (sales orders) is a list of lines, each with
    ``remote_id``, ``product`` (a remote product id or None), ``description``,
    ``quantity`` and ``price_subtotal``. ``extra`` is what ``page`` read for that
    record (an empty dict if nothing). ``page(adapter, records)``, when given, reads
    what a page of records needs beyond them (an invoice's payments, an order's lines),
    in one read per page, by remote id."""

    model: str
    fields: Sequence[str]
    domain: Domain
    values: Callable[[Record, Record, Context], Record]
    page: Callable[[Adapter, list[Record]], dict[int, Record]] | None = None


@dataclass(frozen=True)
class Catalogue:
    """One ERP's models as the sync reads them (see the module docstring)."""

    #: The entity maps synced both ways, in dependency order (entities of ``SYNCED``).
    maps: Callable[[], list[EntityMap]]
    #: Reference entity (of ``REFERENCE``) -> where it comes from.
    references: Mapping[str, Reference]
    #: Copied entity (of ``COPIES``) -> where it comes from.
    copies: Mapping[str, Copy]
    #: Remote model -> the lookup table converters read of it.
    lookups: Mapping[str, Lookup]
    #: The lookup tables read before the copies are pulled (their ``values`` use them).
    copy_lookups: Sequence[str] = ()
