"""Reconcile one record pair: create the missing side, or merge both against the base."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session, object_session

from crm_core import Workspace
from crm_core.errors import ValidationError
from crm_core.journal import encode, plain
from crm_core.models import SyncConflict
from crm_core.party_writer import PartyWriter
from crm_core.text import fold
from erp_bridge.adapter import RemoteError, Unavailable
from erp_bridge.context import RunContext
from erp_bridge.cursor import STAMP_FORMAT
from erp_bridge.local import (
    MODELS,
    LocalWriter,
    earlier_values,
    reference_values,
    snapshot,
    snapshot_many,
)
from erp_bridge.mapper import EntityMap
from erp_bridge.matching import Matching, agreed_bases, said
from erp_bridge.merge import Policy, merge
from erp_bridge.report import ModelReport
from erp_bridge.review import Review


class Reconciler:
    """Applies the merge rules to one record at a time, in the caller's session."""

    def __init__(self, ws: Workspace, ctx: RunContext, policy: Policy):
        self.ws = ws
        self.ctx = ctx
        self.policy = policy
        self.writer = LocalWriter(ws)
        self._bulk: dict[str, PartyWriter] = {}
        #: Records with no link: their twins on the other side, and the review queue.
        self.review = Review(ctx.binder.backend)
        self.matching = Matching(ws, ctx, self.review)
        #: Reference records given to the ERP in this run (see ensure_references).
        self._given: set[tuple[str, int]] = set()
        #: Local records linked to that the ERP has no counterpart of and no way to
        #: take (a user with no login there), already said in this run's report.
        self._said: set[tuple[str, int]] = set()

    def local_values(self, emap: EntityMap, obj: Any, base: dict[str, Any]) -> dict[str, Any]:
        """The record's values in sync terms; a link to a record the ERP does not know
        (a local-only user or stage) counts as unchanged, so it never blanks the ERP.
        With no last-synced value (a record never pushed), the latest value it held
        before that the ERP knows stands for it: a deal lost here before its first push
        (in the local Lost stage, which the ERP has not) goes in the stage it was in."""
        values = snapshot(obj, [f.local for f in emap.fields])
        for f in emap.fields:
            value = values[f.local]
            if (
                f.link is None
                or value is None
                or base.get(f.local) is not None
                or f.remote_of(value, self.ctx) is not None
            ):
                continue
            for earlier in earlier_values(obj, f.local):
                if f.remote_of(earlier, self.ctx) is not None:
                    values[f.local] = earlier
                    break
        return self._linked_values(emap, values, base)

    def _linked_values(
        self, emap: EntityMap, values: dict[str, Any], base: dict[str, Any]
    ) -> dict[str, Any]:
        for f in emap.fields:
            if (
                f.link is not None
                and values[f.local] is not None
                and f.remote_of(values[f.local], self.ctx) is None
            ):
                values[f.local] = base.get(f.local)
        return values

    def pull_new(
        self, s: Session, emap: EntityMap, record: dict[str, Any], rep: ModelReport
    ) -> None:
        """A remote record with no local counterpart: create it locally and link it."""
        remote = emap.from_remote(record, self.ctx)
        obj, errors = self.writer.apply(s, emap.entity, None, remote)
        if obj is None:
            # Not created: a failure of the record, listed so later runs try it again.
            raise ValidationError(errors)
        rep.errors += [f"remote #{record['id']}: {e}" for e in errors]
        self._bind(
            s,
            emap,
            obj,
            int(record["id"]),
            self.local_values(emap, obj, {}),
            remote,
            record.get("write_date"),
        )
        rep.created += 1

    def pull_many(
        self, s: Session, emap: EntityMap, records: list[dict[str, Any]], rep: ModelReport
    ) -> list[dict[str, Any]]:
        """Remote records with no local counterpart, created locally in one batch.

        Every row is validated as a service create would be; rows crm_core refuses in
        part are returned to go through :meth:`pull_new` one by one, which keeps their
        valid fields and reports the refused ones.
        """
        if emap.entity not in self._bulk:
            self._bulk[emap.entity] = PartyWriter(self.ws, emap.entity, keep_invalid=True)
        writer = self._bulk[emap.entity]
        remote = [emap.from_remote(r, self.ctx) for r in records]
        results = writer.create(s, remote)
        made = {res: i for i, res in enumerate(results) if isinstance(res, int)}
        now = self.ws.clock()
        links = []
        fields = [f.local for f in emap.fields]
        # The rows just written are the local values (no need to read them back).
        current = writer.stored(s, fields)
        if current is None:
            current = snapshot_many(s, emap.entity, list(made), fields)
        for local_id, values in current.items():
            i = made[local_id]
            synced = {
                "local": _jsonable(self._linked_values(emap, values, {})),
                "remote": _jsonable(remote[i]),
            }
            links.append(
                {
                    "entity": emap.entity,
                    "local_id": local_id,
                    "remote_model": emap.remote_model,
                    "remote_id": int(records[i]["id"]),
                    "synced": synced,
                    "remote_write_date": self.ctx.applied(records[i].get("write_date")),
                    "synced_at": now,
                }
            )
        self.ctx.binder.bind_new(s, links)
        rep.created += len(made)
        return [r for r, res in zip(records, results, strict=True) if not isinstance(res, int)]

    def forget_batches(self) -> None:
        """Drop the batch writers (and the tag ids they remember) after a rollback."""
        self._bulk.clear()

    def push_new(self, s: Session, emap: EntityMap, obj: Any, rep: ModelReport) -> None:
        """A local record with no remote counterpart: create it remotely (idempotent under
        its external id) and link it."""
        values = self.local_values(emap, obj, {})
        remote = {**emap.defaults, **emap.to_remote(values, self.ctx)}
        if emap.on_create is not None:
            said_why = emap.on_create(remote, values, self.ctx)
            if said_why:
                rep.notes.append(said_why)
        rid = self.ctx.create(emap.remote_model, remote, self.ctx.xmlid(emap.entity, obj.id))
        self._say_missing(emap, obj, rep)
        self._bind(s, emap, obj, rid, values, values, None)
        rep.pushed_created += 1

    def adopt(
        self, s: Session, emap: EntityMap, obj: Any, record: dict[str, Any], rep: ModelReport
    ) -> None:
        """Link a local record to the remote one a push created before a crash."""
        self._bind(
            s,
            emap,
            obj,
            int(record["id"]),
            self.local_values(emap, obj, {}),
            emap.from_remote(record, self.ctx),
            record.get("write_date"),
        )
        rep.pushed_created += 1

    def match(
        self,
        s: Session,
        emap: EntityMap,
        obj: Any,
        record: dict[str, Any],
        rep: ModelReport,
        keys: Sequence[str],
    ) -> None:
        """Link a local record with no link to the remote one found to be its twin (by
        ``keys``: see :mod:`erp_bridge.matching`), then merge them like any synced
        pair, against bases where only the values both hold alike are agreed."""
        local = _jsonable(self.local_values(emap, obj, {}))
        remote = _jsonable(emap.from_remote(record, self.ctx))
        base_local, base_remote = agreed_bases(local, remote, self.ws.phone_region)
        rid = int(record["id"])
        self.ctx.binder.bind(
            s,
            emap.entity,
            obj.id,
            emap.remote_model,
            rid,
            {"local": base_local, "remote": base_remote},
            None,
            self.ws.clock(),
        )
        self.ctx.note(
            f"match {emap.entity} #{obj.id} {local.get('name')!r} with {emap.remote_model} "
            f"#{rid} {remote.get('name')!r} ({said(keys)})"
        )
        self.merge_pair(s, emap, obj, record, rep)
        rep.matched += 1

    def merge_pair(
        self,
        s: Session,
        emap: EntityMap,
        obj: Any,
        record: dict[str, Any],
        rep: ModelReport,
        *,
        pushing: bool = False,
    ) -> None:
        """Both sides exist: three-way merge, each side against its last-synced copy.
        ``pushing``: the push merges a record changed here (see :meth:`_say_missing`)."""
        link = self.ctx.binder.by_local(emap.entity, obj.id)
        assert link is not None
        base_local, base_remote = _bases(link.synced)
        # A stage or lost reason added here goes to the ERP first, as a push gives
        # it (the exporter's own call fails the record when it cannot; here its field
        # stays one the ERP does not know: see below).
        with contextlib.suppress(RemoteError):
            self.ensure_references(s, emap, obj)
        own = _jsonable(snapshot(obj, [f.local for f in emap.fields]))
        local = self.local_values(emap, obj, base_local)
        # Fields changed here to a record the ERP does not know (a user with no login
        # there): merged with this side's value, so a change on both sides is a
        # conflict decided as any other, but never written to the ERP (it would blank
        # the field there).
        unknown = {k for k, v in _jsonable(local).items() if own[k] != v}
        remote = emap.from_remote(record, self.ctx)
        if _jsonable(local) == base_local and _jsonable(remote) == base_remote:
            rep.skipped += 1
            if link.remote_write_date != self.ctx.applied(record.get("write_date")):
                self._bind(s, emap, obj, link.remote_id, local, remote, record.get("write_date"))
            return
        result = merge(
            base_local,
            base_remote,
            {**_jsonable(local), **{k: own[k] for k in unknown}},
            _jsonable(remote),
            emap.owners,
            policy=self.policy,
            local_changed_at=getattr(obj, "updated_at", None),
            remote_changed_at=_remote_time(record.get("write_date")),
        )
        to_remote = {k: local[k] for k in result.to_remote if k not in unknown}
        # A stage pulled brings the ERP's probability (crm_core would reset it to the
        # stage's default), or this side's own when that is what goes to the ERP.
        to_local = emap.taken_along({k: remote[k] for k in result.to_local}, remote, to_remote)
        # A field not taken because what it needs is kept from here (an outcome won in
        # the ERP, the stage kept here): this side's value goes with the kept one, so
        # that the ERP's record agrees (a lead lost there is reopened in the stage kept).
        to_remote.update(
            {k: local[k] for k in result.to_local if k not in to_local and k not in unknown}
        )
        if emap.direction == "pull":  # the ERP's copy is the reference: take it whole
            to_local.update({k: remote[k] for k in to_remote})
            to_remote = {}
        if to_local:
            _, errors = self.writer.apply(s, emap.entity, obj, to_local)
            rep.errors += [f"local #{obj.id}: {e}" for e in errors]
            rep.updated += 1
        if to_remote:
            self.ctx.write(
                emap.remote_model, link.remote_id, emap.to_remote(to_remote, self.ctx, local)
            )
            remote.update(to_remote)
            rep.pushed_updated += 1
        if unknown and (to_remote or pushing or any(c.field in unknown for c in result.conflicts)):
            self._say_missing(emap, obj, rep)
        for c in result.conflicts:
            s.add(
                SyncConflict(
                    backend=self.ctx.binder.backend,
                    entity=emap.entity,
                    local_id=obj.id,
                    remote_model=emap.remote_model,
                    remote_id=link.remote_id,
                    field=c.field,
                    base_value=encode(c.base),
                    local_value=encode(c.local),
                    remote_value=encode(c.remote),
                    winner=c.winner,
                    rule=c.rule,
                    status="open",
                    detected_at=self.ws.clock(),
                )
            )
            rep.conflicts += 1
        self._bind(
            s,
            emap,
            obj,
            link.remote_id,
            self.local_values(emap, obj, base_local),
            remote,
            record.get("write_date"),
        )

    def ensure_references(self, s: Session, emap: EntityMap, obj: Any) -> None:
        """Give the ERP the reference records ``obj`` links to that it lacks (a stage
        or a lost reason added here), as tags are given: one of the same name (any
        case) there is linked, else one is created (idempotent under its external id)
        where the catalogue says how (:attr:`Reference.remote`); then the record's
        link to it is pushed like any other. A reference the ERP cannot take fails
        the record with a reason naming it: listed, tried again by the next runs."""
        references = self.ctx.adapter.catalogue.references
        binder = self.ctx.binder
        for f in emap.fields:
            entity = f.link if isinstance(f.link, str) else None
            spec = references.get(entity) if entity is not None else None
            to_remote = spec.remote if spec is not None else None
            local_id = getattr(obj, f.local, None)
            if entity is None or spec is None or to_remote is None or local_id is None:
                continue
            if binder.by_local(entity, local_id) is not None:
                continue
            if self.ctx.dry_run and (entity, int(local_id)) in self._given:
                continue  # planned in this dry run already (a dry run binds nothing)
            values = reference_values(s, entity, int(local_id))
            remote = to_remote(values) if values is not None else None
            if values is None or remote is None:
                continue  # the ERP has no place for it: the field stays as it is there
            name = str(values["name"])
            try:
                namesakes = [
                    int(r["id"])
                    for r in self.ctx.adapter.search_read(spec.model, spec.domain, ["name"])
                    if fold(str(r["name"] or "")) == fold(name)
                ]
                free = [rid for rid in namesakes if binder.by_remote(entity, rid) is None]
                if namesakes and not free:
                    # Its namesake there stands for another record here (a stage of
                    # the same name in another pipeline): the field stays as it is.
                    self._given.add((entity, int(local_id)))
                    continue
                xmlid = self.ctx.xmlid(entity, local_id)
                rid = free[0] if free else self.ctx.create(spec.model, remote, xmlid)
            except Unavailable:
                raise
            except Exception as exc:
                raise RemoteError(
                    f"{f.local}: the {entity.replace('_', ' ')} {name!r} is not in the ERP "
                    f"and could not be created there: {exc}"
                ) from exc
            self._given.add((entity, int(local_id)))
            if not self.ctx.dry_run:
                now = self.ws.clock()
                binder.bind(s, entity, int(local_id), spec.model, rid, {"name": name}, None, now)

    def _say_missing(self, emap: EntityMap, obj: Any, rep: ModelReport) -> None:
        """Say in the report, once per run for each, the local records ``obj`` links to
        that the ERP has no counterpart of and cannot be given (a local owner with no
        user in the ERP): the field stays empty (or as it was) there."""
        references = self.ctx.adapter.catalogue.references
        values = snapshot(obj, [f.local for f in emap.fields if isinstance(f.link, str)])
        for f in emap.fields:
            entity = f.link if isinstance(f.link, str) else None
            spec = references.get(entity) if entity is not None else None
            value = values.get(f.local)
            if entity is None or spec is None or spec.remote is not None or value is None:
                continue
            if f.remote_of(value, self.ctx) is not None or (entity, int(value)) in self._said:
                continue
            self._said.add((entity, int(value)))
            session = object_session(obj)
            row = None if session is None else self.load_local(session, entity, int(value))
            name = getattr(row, "name", None)
            rep.notes.append(
                f"{f.local}: the {entity.replace('_', ' ')} #{value} {name!r} has no "
                f"{entity.replace('_', ' ')} in the ERP; the {emap.entity} records sent "
                f"with it go without one there ({spec.model} left as it is)"
            )

    def _bind(
        self,
        s: Session,
        emap: EntityMap,
        obj: Any,
        remote_id: int,
        local: dict[str, Any],
        remote: dict[str, Any],
        write_date: str | None,
    ) -> None:
        synced = {"local": _jsonable(local), "remote": _jsonable(remote)}
        self.ctx.binder.bind(
            s,
            emap.entity,
            obj.id,
            emap.remote_model,
            remote_id,
            synced,
            self.ctx.applied(write_date),
            self.ws.clock(),
        )

    def remote_unchanged(self, emap: EntityMap, record: dict[str, Any], link: Any) -> bool:
        """True when the remote record still has its last-synced values."""
        _, base_remote = _bases(link.synced)
        return _jsonable(emap.from_remote(record, self.ctx)) == base_remote

    def unchanged(self, emap: EntityMap, obj: Any, link: Any) -> bool:
        """True when the local record still has its last-synced values."""
        base_local, _ = _bases(link.synced)
        return _jsonable(self.local_values(emap, obj, base_local)) == base_local

    def vanished(self, emap: EntityMap, obj: Any) -> bool:
        """The ERP deleted ``obj``'s twin: archive it (or, for an activity, mark it
        done). True when that changed the record."""
        if emap.vanished == "done":
            if obj.done_at is not None:
                return False
            obj.done_at = self.ws.clock()
            return True
        if not obj.active:
            return False
        obj.active = False
        return True

    def writer_model(self, entity: str) -> Any:
        """The crm_core model class of ``entity``."""
        return MODELS[entity]

    def load_local(self, s: Session, entity: str, local_id: int) -> Any:
        """The local record of a link (None if it was deleted)."""
        return s.get(MODELS[entity], local_id)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Values as stored in the link's JSON (dates ISO, decimals as strings)."""
    return {k: plain(v) for k, v in values.items()}


def _bases(synced: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The last-synced local and remote copies stored in a link."""
    synced = synced or {}
    return dict(synced.get("local", {})), dict(synced.get("remote", {}))


def _remote_time(write_date: str | None) -> dt.datetime | None:
    if not write_date:
        return None
    return dt.datetime.strptime(write_date, STAMP_FORMAT).replace(tzinfo=dt.UTC)
