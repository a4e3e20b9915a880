"""Push: send local changes, found in crm_core's journal, to the ERP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crm_core.duplicates.merge import merged_into
from crm_core.models import ExternalLink, JournalEntry
from erp_bridge import failures
from erp_bridge.adapter import RemoteError, Unavailable
from erp_bridge.importer import creating_key
from erp_bridge.local import snapshot
from erp_bridge.mapper import EntityMap
from erp_bridge.matching import Twin, keyed
from erp_bridge.pages import delete_state, get_state, set_state
from erp_bridge.reconcile import Reconciler
from erp_bridge.report import ModelReport

TABLES = {
    "company": "companies",
    "contact": "contacts",
    "opportunity": "opportunities",
    "activity": "activities",
}


def waiting_key(entity: str) -> str:
    """The sync state listing the records of ``entity`` pushed without a record they
    link to, which the ERP did not have yet (see :meth:`Exporter._not_there_yet`)."""
    return f"push:waiting:{entity}"


class Exporter:
    """Pushes the records journaled since the last push, one transaction per record."""

    def __init__(self, rec: Reconciler, transaction: Callable[[], Any], origin: str):
        self.rec = rec
        self.origin = origin
        self.ctx = rec.ctx
        self.transaction = transaction
        #: Records of the entity being pushed that go without a record they link to,
        #: with the sentence saying so (see _not_there_yet).
        self._waiting: dict[int, str] = {}

    def boundary(self, entity: str) -> tuple[int, int]:
        """(last journal id pushed for ``entity``, newest journal id now): what this run
        pushes of it. Each entity keeps its own position, moved only when its push ran:
        an entity a run skipped (the ERP lacked it, the run failed first) keeps its
        local changes for a later run."""
        backend = self.ctx.binder.backend
        with self.transaction() as s:
            stored = get_state(s, backend, f"push:journal:{entity}")
            if stored is None:  # a workspace from before positions were per entity
                stored = get_state(s, backend, "push:journal")
            end = int(s.scalar(select(func.max(JournalEntry.id))) or 0)
        return int(stored or 0), end

    def push(self, emap: EntityMap, rep: ModelReport) -> None:
        """Push every record of ``emap`` journaled since its last push by anyone but
        this sync, every local record never linked (a first sync pushes the whole
        base), and the records whose push failed before. Then move the entity's
        position; records that fail again stay listed (see :mod:`erp_bridge.failures`).
        An :class:`~erp_bridge.adapter.Unavailable` ERP stops the push with the
        position unmoved: the next run sends the rest."""
        backend = self.ctx.binder.backend
        creating = creating_key(emap.entity)
        start, end = self.boundary(emap.entity)
        with self.transaction() as s:
            # What the sync itself wrote is already what both sides agree on.
            changed = set(
                s.scalars(
                    select(JournalEntry.record_id)
                    .distinct()
                    .where(
                        JournalEntry.entity == TABLES[emap.entity],
                        JournalEntry.id > start,
                        JournalEntry.id <= end,
                        or_(JournalEntry.origin.is_(None), JournalEntry.origin != self.origin),
                    )
                )
            )
            if start == 0:
                model = self.rec.writer_model(emap.entity)
                linked = select(ExternalLink.local_id).where(
                    ExternalLink.backend == backend, ExternalLink.entity == emap.entity
                )
                changed |= set(s.scalars(select(model.id).where(model.id.not_in(linked))))
            retry = set(failures.pending(s, backend, emap.entity, "push"))
            changed |= retry
            # Records pushed without a record they link to (a deal's customer not in
            # the ERP yet): looked at again until it is there.
            waiting = set(json.loads(get_state(s, backend, waiting_key(emap.entity)) or "[]"))
            changed |= waiting
            # Records waiting in the review queue, and local candidates an answered
            # question left over, are looked at again whatever the journal says.
            self.rec.review.load(s)
            changed |= set(self.rec.review.pending(emap.entity, "push"))
            if changed and not self.ctx.dry_run and not get_state(s, backend, creating):
                # Committed before any remote create: see Importer.pull.
                set_state(s, backend, creating, "1")
        twins = self._twins(emap, changed)
        done = []
        self._waiting = {}
        for local_id in sorted(changed):
            error = self._one(emap, local_id, rep, twins.get(local_id))
            if error is not None:
                self._waiting.pop(local_id, None)  # failed: retried as such
            elif local_id in self._waiting:
                rep.notes.append(self._waiting[local_id])
            # What its merge kept marked (committed with it, or rolled back with it).
            rep.kept += self.rec.writer.kept if error is None else []
            self.rec.writer.kept.clear()
            if error is None:
                done.append(local_id)
            elif not self.ctx.dry_run:
                with self.transaction() as s:
                    failures.failed(
                        s, backend, emap.entity, "push", local_id, error, self.rec.ws.clock()
                    )
        if not self.ctx.dry_run:
            with self.transaction() as s:
                failures.cleared(s, backend, emap.entity, "push", retry.intersection(done))
                set_state(s, backend, f"push:journal:{emap.entity}", str(end))
                still = sorted(self._waiting)
                if still or waiting:
                    set_state(s, backend, waiting_key(emap.entity), json.dumps(still))
                if len(done) == len(changed):
                    # Every create of this push was committed with its link (a failed
                    # record may have left one behind in the ERP): no pull needs to
                    # look for records it left unlinked (see Importer.pull).
                    delete_state(s, backend, creating)
                # The candidates left over by answered pull questions were looked at.
                self.rec.review.drop_applied(s, emap.entity, "push")

    def _twins(self, emap: EntityMap, ids: set[int]) -> dict[int, Twin]:
        """The ERP twins of those of ``ids`` that have no link and would be created
        there (see :mod:`erp_bridge.matching`): looked up in batches, before any is
        pushed. When the ERP refuses the lookup, each of these records fails with its
        reason (listed, tried again by the next run): creating them without looking
        could duplicate them."""
        if not keyed(emap):
            return {}
        binder = self.ctx.binder
        with self.transaction() as s:
            objs = [
                obj
                for local_id in sorted(ids)
                if binder.by_local(emap.entity, local_id) is None
                and (obj := self.rec.load_local(s, emap.entity, local_id)) is not None
                and emap.push_if(obj, self.ctx)
            ]
            values = self.rec.matching.push_values(emap, objs)
        if not values:
            return {}
        try:
            return self.rec.matching.for_push(emap, values)
        except Unavailable:
            raise
        except RemoteError as exc:
            return {lid: Twin("failed", error=f"looking it up in the ERP: {exc}") for lid in values}

    def _one(
        self, emap: EntityMap, local_id: int, rep: ModelReport, twin: Twin | None = None
    ) -> str | None:
        """Push one record; the error when it failed (it is in the report too)."""
        try:
            with self.transaction() as s:
                obj = self.rec.load_local(s, emap.entity, local_id)
                if obj is None:
                    return None
                self.rec.ensure_references(s, emap, obj)
                self._not_there_yet(emap, obj)
                link = self.ctx.binder.by_local(emap.entity, local_id)
                if link is None:
                    # An archived record the ERP never had (or deleted) is not created
                    # there; restoring it locally pushes it as new.
                    if emap.push_if(obj, self.ctx):
                        self._push_unlinked(s, emap, obj, rep, twin)
                    return None
                if self.rec.unchanged(emap, obj, link):
                    return None  # echo suppression: nothing moved since the last sync
                adapter = self.ctx.adapter
                found = adapter.read(emap.remote_model, [link.remote_id], emap.remote_fields)
                if not found and link.remote_id in adapter.existing(
                    emap.remote_model, [link.remote_id]
                ):
                    raise RemoteError(
                        f"{emap.remote_model} #{link.remote_id} is not visible to the ERP "
                        "user any more; the change waits until it is"
                    )
                if not found:  # deleted in the ERP: archive (or mark done) here too
                    rep.archived += self.rec.vanished(emap, obj)
                    self.ctx.binder.unbind(s, link, deleted=True)
                    return None
                pushed = rep.pushed_updated
                self.rec.merge_pair(s, emap, obj, found[0], rep, pushing=True)
                if rep.pushed_updated > pushed and not getattr(obj, "active", True):
                    self._merged(s, emap, obj.id, link.remote_id, rep)
                return None
        except Unavailable:
            raise  # not about this record: the run stops, the position stays
        except Exception as exc:  # one bad record never stops the run
            error = f"{type(exc).__name__}: {exc}"
            rep.errors.append(f"local #{local_id}: {error}")
            self.rec.matching.forget(emap.entity, [local_id], "push")
            with self.transaction() as s:
                self.ctx.binder.load(s)
                self.rec.review.load(s)
            return error

    def _not_there_yet(self, emap: EntityMap, obj: Any) -> None:
        """Remember (and say) that ``obj`` links to a synced record the ERP does not
        have yet (a deal's customer whose own push failed, or whose match waits for
        review): it goes without that link, which is set there by the first run after
        the record arrives (see :func:`waiting_key`)."""
        references = set(self.ctx.adapter.catalogue.references)
        linked = [f for f in emap.fields if f.link is not None]
        values = snapshot(obj, [f.local for f in linked])
        missing = []
        for f in linked:
            value = values[f.local]
            if value is None or f.remote_of(value, self.ctx) is not None:
                continue
            target = f.link if isinstance(f.link, str) else str(value).partition(":")[0]
            if target in references:
                continue  # reference data: given by ensure_references, or left out
            ref = f"{target.replace('_', ' ')} #{str(value).rpartition(':')[2]}"
            missing.append(f"{f.local} ({ref})")
        if missing and emap.push_if(obj, self.ctx):
            self._waiting[obj.id] = (
                f"{emap.entity} #{obj.id} {getattr(obj, 'name', '')!r} goes to the ERP "
                f"without its {', '.join(missing)}: not in the ERP yet; set there by the "
                "first run after it is"
            )

    def _merged(
        self, s: Session, emap: EntityMap, local_id: int, remote_id: int, rep: ModelReport
    ) -> None:
        """Say in the report that the archive just pushed carries out a local merge:
        the record was merged into another one, whose own twin stays. (Archiving is
        how every ERP can do it; none is asked to merge its records itself.)"""
        kept = merged_into(s, TABLES[emap.entity], local_id)
        if kept is None:
            return  # archived by hand, not merged: an archive like any other
        twin = self.ctx.binder.by_local(emap.entity, kept)
        into = f"{emap.entity} #{kept}" + (
            f" ({emap.remote_model} #{twin.remote_id})" if twin is not None else ""
        )
        done = "to be archived" if self.ctx.dry_run else "archived"
        rep.merges.append(
            f"{emap.entity} #{local_id} ({emap.remote_model} #{remote_id}) {done} in the "
            f"ERP: merged into {into}"
        )

    def _push_unlinked(
        self, s: Session, emap: EntityMap, obj: Any, rep: ModelReport, twin: Twin | None
    ) -> None:
        """A local record with no link, as its twin in the ERP says: linked to the
        remote record found, queued for review, left waiting for another question, or
        created there."""
        matching = self.rec.matching
        if twin is not None and twin.kind == "failed":
            raise RemoteError(twin.error)
        if twin is not None and twin.kind == "match":
            assert twin.other is not None
            record = twin.record
            if record is None:  # chosen by a reviewer: read it now
                found = self.ctx.adapter.read(emap.remote_model, [twin.other], emap.remote_fields)
                if not found:
                    raise RemoteError(
                        f"{emap.remote_model} #{twin.other}, chosen as the twin of "
                        f"{emap.entity} #{obj.id}, is not in the ERP any more"
                    )
                record = found[0]
            self.rec.match(s, emap, obj, record, rep, twin.keys)
        elif twin is not None and twin.kind == "ambiguous":
            values = matching.push_values(emap, [obj])[obj.id]
            matching.hold(s, emap, "push", obj.id, values, twin, rep, twin.names)
            return
        elif twin is not None and twin.kind == "held":
            self.ctx.note(f"wait {emap.entity} #{obj.id}: a candidate of a match queued for review")
            return
        else:
            self.rec.push_new(s, emap, obj, rep)
        if twin is not None and twin.row is not None:
            self.rec.review.applied(s, twin.row)
