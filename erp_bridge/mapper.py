"""Declarative field maps between local entities and remote models, both directions.

A :class:`FieldMap` pairs a local field with a remote one; plain fields copy their
value, the rest name a converter in each direction. Values are compared and merged
in local terms, so every remote record is first turned into local values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from erp_bridge.merge import Owner


class Context(Protocol):
    """What converters may look up during a run (links and reference data)."""

    def local_id(self, entity: str, remote_id: int | None) -> int | None:
        """The local id linked to a remote id of ``entity``'s model, if any."""
        ...

    def remote_id(self, entity: str, local_id: int | None) -> int | None:
        """The remote id linked to a local id of ``entity``, if any."""
        ...

    def reference(self, model: str) -> dict[int, dict[str, Any]]:
        """All records of a small remote reference model (countries, tags) by id."""
        ...

    def ensure_reference(self, model: str, name: str, values: dict[str, Any]) -> int:
        """The id of the reference record called ``name``, created if missing."""
        ...

    def read(self, model: str, ids: list[int], fields: list[str]) -> list[dict[str, Any]]:
        """Remote records as they are now (those the ERP user can see)."""
        ...


Convert = Callable[[Any, Context], Any]


class Fields(dict[str, Any]):
    """An outbound converter's result that sets several remote fields at once (an
    activity's document is Odoo's ``res_model_id`` and ``res_id``)."""


class Later(Fields):
    """An outbound converter's result written after the record's other fields, in a
    write of its own: the ERP sets such a field itself in a write that changes others
    (Odoo stamps a lead's ``date_closed`` with the time of the write that wins or
    archives it), so ours must come after (see :func:`later`)."""


def later(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Remote values split into those written first and the :class:`Later` ones."""
    first = {k: v for k, v in values.items() if not isinstance(v, Later)}
    after: dict[str, Any] = {}
    for v in values.values():
        if isinstance(v, Later):
            after.update(v)
    return first, after


@dataclass(frozen=True)
class Action:
    """An outbound converter's result that is a method called on the remote record
    instead of a field write (Odoo marks an activity done with ``action_feedback``)."""

    method: str


def same(value: Any, _ctx: Context) -> Any:
    """The plain inbound converter: Odoo's ``False`` for "empty" reads as None."""
    return None if value is False else value


def identity(value: Any, _ctx: Context) -> Any:
    """The plain outbound converter (the adapter turns None into the ERP's empty)."""
    return value


@dataclass(frozen=True)
class FieldMap:
    """One local field and its remote counterpart.

    ``owner`` decides a both-sides change: ``erp``, ``crm`` or ``shared`` (the
    configured policy). ``remote_fields`` lists what to read when the converter needs
    more than the one remote field.
    """

    local: str
    remote: str
    to_local: Convert = same
    to_remote: Convert = identity
    owner: Owner = "shared"
    push: bool = True
    #: For a many-to-one: the entity linked records belong to; ids translate through
    #: the links. With several entities (a deal's partner is a company or a
    #: contact) the local value is ``"entity:id"``.
    link: str | tuple[str, ...] | None = None
    #: When set, ``to_local`` receives the whole remote record, which must include
    #: these fields (a local value computed from several remote ones).
    reads: tuple[str, ...] = ()
    #: Those of ``reads`` a server may lack (Odoo 19 has no partner mobile): there the
    #: field is kept, reading the rest (see :meth:`EntityMap.fitted`).
    reads_optional: tuple[str, ...] = ()
    #: An empty value is not sent, so the ERP's default applies (a required field).
    omit_empty: bool = False
    #: Local fields ``to_remote`` needs besides this one (a state is looked up within
    #: the record's country): it then receives a dict of this field's value and
    #: theirs (see :meth:`EntityMap.to_remote`).
    writes_with: tuple[str, ...] = ()
    #: Local fields taken from the same side whenever this one is (see
    #: :meth:`EntityMap.taken_along`): crm_core gives a deal moved to another stage
    #: that stage's default probability, so a stage taken from the ERP brings the
    #: ERP's probability with it, or the two sides would stay apart.
    brings: tuple[str, ...] = ()
    #: Local fields this one is taken from a side only together with: when the other
    #: side's value of one of them wins (see :meth:`EntityMap.taken_along`), this one
    #: keeps that side's value too. A deal's outcome and its stage are one fact: an
    #: outcome "won" taken from the ERP while the stage kept is this side's open one
    #: would make a won deal in an open stage.
    needs: tuple[str, ...] = ()

    def read_remote(self, record: dict[str, Any], ctx: Context) -> Any:
        """This field's local value from a remote record."""
        if self.reads:
            return self.to_local(record, ctx)
        raw = record.get(self.remote, False)
        if self.link is None:
            return self.to_local(raw, ctx)
        rid = raw[0] if isinstance(raw, list | tuple) and raw else (raw or None)
        if isinstance(self.link, str):
            return ctx.local_id(self.link, rid)
        for entity in self.link:
            lid = ctx.local_id(entity, rid)
            if lid is not None:
                return f"{entity}:{lid}"
        return None

    def write_remote(self, value: Any, ctx: Context) -> Any:
        """This field's remote value from a local one (with :attr:`writes_with`, a
        dict of this field's value and those fields')."""
        if self.link is None:
            return self.to_remote(value, ctx)
        return self.remote_of(value, ctx) or False

    def remote_of(self, value: Any, ctx: Context) -> int | None:
        """For a link field: the remote id of a local value (None if not linked)."""
        if value is None:
            return None
        if isinstance(self.link, str):
            return ctx.remote_id(self.link, value)
        entity, _, lid = str(value).partition(":")
        return ctx.remote_id(entity, int(lid))


@dataclass(frozen=True)
class EntityMap:
    """How one local entity maps onto one remote model.

    ``domain`` selects the remote records that are this entity (Odoo's partner model is
    both companies and contacts); ``defaults`` are sent on create; ``direction`` is
    ``both`` or ``pull``; ``depends_on`` names entities to sync first.

    ``vanished`` says what a record deleted in the ERP becomes locally: ``archive``
    (the default), or ``done`` for activities, which Odoo deletes when they are done;
    ``deletions_every_run`` checks for them on every run instead of only on ``--full``
    (cheap for small id sets). ``push_if`` decides whether a local record the ERP has
    never seen is created there (by default: when it is active); ``on_create`` may
    adjust what it is created with.
    """

    entity: str
    remote_model: str
    fields: Sequence[FieldMap]
    domain: list[Any] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    direction: Literal["both", "pull"] = "both"
    depends_on: tuple[str, ...] = ()
    vanished: Literal["archive", "done"] = "archive"
    deletions_every_run: bool = False
    push_if: Callable[[Any, Context], bool] = lambda obj, _ctx: bool(getattr(obj, "active", True))
    #: Adjusts, in place, the remote values of a record about to be created in the ERP
    #: (given its local values) where the ERP would otherwise not keep them as sent;
    #: returns a sentence for the run report when it did (see
    #: :func:`erp_bridge.odoo.mappings.own_address`).
    on_create: Callable[[dict[str, Any], dict[str, Any], Context], str | None] | None = None

    @property
    def remote_fields(self) -> list[str]:
        """The remote fields to read."""
        names = {f.remote for f in self.fields} | {"write_date"}
        for f in self.fields:
            names |= set(f.reads)
        return sorted(names)

    def fitted(self, available: set[str]) -> tuple[EntityMap, list[str]]:
        """This map without the fields whose remote field (or one it reads) is not in
        ``available``; and the remote fields it left out."""
        kept = []
        for f in self.fields:
            lacking = {f.remote, *f.reads} - available
            if not lacking:
                kept.append(f)
            elif lacking <= set(f.reads_optional):
                kept.append(replace(f, reads=tuple(r for r in f.reads if r in available)))
        # What a field reads only where it is there (reads_optional) is no loss.
        needed = {f.remote for f in self.fields}
        for f in self.fields:
            needed |= set(f.reads) - set(f.reads_optional)
        missing = sorted(needed - available)
        if kept == list(self.fields):
            return self, missing
        return replace(self, fields=kept), missing

    def taken_along(
        self,
        chosen: Mapping[str, Any],
        side: Mapping[str, Any],
        kept: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``chosen`` (values taken from one side, by local field) with the fields they
        bring (:attr:`FieldMap.brings`) taken from that side's values ``side`` too: a
        deal's stage pulled from the ERP comes with the ERP's probability. A brought
        field in ``kept`` (the other side's values that win, such as a probability
        edited here while the ERP moved the stage) takes that value instead, written
        again after the field that brings it; one ``chosen`` has is left as it is. A
        field that :attr:`FieldMap.needs` one in ``kept`` is not taken: it stays as
        this side has it, with the field kept."""
        needs = {f.local: f.needs for f in self.fields}
        out = {
            name: value
            for name, value in chosen.items()
            if kept is None or not any(n in kept for n in needs.get(name, ()))
        }
        taken = set(out)
        # What is brought brings its own: an outcome a stage, the stage its probability.
        while taken:
            brought: set[str] = set()
            for f in self.fields:
                if f.local in taken:
                    for name in f.brings:
                        if name in out:
                            continue
                        if kept is not None and name in kept:
                            out[name] = kept[name]
                        elif name in side:
                            out[name] = side[name]
                            brought.add(name)
            taken = brought
        return out

    @property
    def owners(self) -> dict[str, Owner]:
        """Field ownership, by local field name."""
        return {f.local: f.owner for f in self.fields}

    def from_remote(self, record: dict[str, Any], ctx: Context) -> dict[str, Any]:
        """A remote record's values in local terms."""
        return {f.local: f.read_remote(record, ctx) for f in self.fields}

    def to_remote(
        self, values: dict[str, Any], ctx: Context, record: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Local values (some fields) in remote terms, for create or write. A field whose
        converter returns :class:`Fields` sets those; one returning an :class:`Action`
        keeps it under the field's remote name for the caller to run.

        ``record`` is the whole local record's values, for fields whose converter needs
        others (:attr:`FieldMap.writes_with`) that ``values`` does not hold (a state
        sent alone is looked up within the record's country); a field missing from
        both is absent from the dict the converter gets."""
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.local in values and f.push:
                given: Any = values[f.local]
                if f.writes_with:
                    given = {f.local: given}
                    for name in f.writes_with:
                        if name in values:
                            given[name] = values[name]
                        elif record is not None and name in record:
                            given[name] = record[name]
                value = f.write_remote(given, ctx)
                if f.omit_empty and value in (None, False):
                    continue
                if isinstance(value, Later):
                    out[f.remote] = value  # kept whole: written after the rest
                elif isinstance(value, Fields):
                    out.update(value)
                else:
                    out[f.remote] = value
        return out
