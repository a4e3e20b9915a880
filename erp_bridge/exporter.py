"""Push: send local changes, found in crm_core's journal, to the ERP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, or_, select

from crm_core.models import ExternalLink, JournalEntry
from erp_bridge.importer import creating_key, get_state, set_state
from erp_bridge.mapper import EntityMap
from erp_bridge.reconcile import Reconciler
from erp_bridge.report import ModelReport

TABLES = {
    "company": "companies",
    "contact": "contacts",
    "opportunity": "opportunities",
    "activity": "activities",
}


class Exporter:
    """Pushes the records journaled since the last push, one transaction per record."""

    def __init__(self, rec: Reconciler, transaction: Callable[[], Any], origin: str):
        self.rec = rec
        self.origin = origin
        self.ctx = rec.ctx
        self.transaction = transaction

    def boundary(self) -> tuple[int, int]:
        """(last pushed journal id, newest journal id now): what this run pushes."""
        with self.transaction() as s:
            start = int(get_state(s, self.ctx.binder.backend, "push:journal") or 0)
            end = int(s.scalar(select(func.max(JournalEntry.id))) or 0)
        return start, end

    def push(self, emap: EntityMap, rep: ModelReport, start: int, end: int) -> None:
        """Push every record of ``emap`` journaled in ``(start, end]`` by anyone but this
        sync, and every local record never linked (a first sync pushes the whole base)."""
        backend = self.ctx.binder.backend
        creating = creating_key(emap.entity)
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
            retry_key = f"push:retry:{emap.entity}"
            changed |= set(json.loads(get_state(s, backend, retry_key) or "[]"))
            if changed and not self.ctx.dry_run and not get_state(s, backend, creating):
                # Committed before any remote create: see Importer.pull.
                set_state(s, backend, creating, "1")
        failed = [local_id for local_id in sorted(changed) if not self._one(emap, local_id, rep)]
        if not self.ctx.dry_run:
            # A record that failed is tried again by the next run, even though the
            # journal position moves on.
            with self.transaction() as s:
                set_state(s, self.ctx.binder.backend, retry_key, json.dumps(failed))

    def _one(self, emap: EntityMap, local_id: int, rep: ModelReport) -> bool:
        """Push one record; False when it failed (the error is in the report)."""
        try:
            with self.transaction() as s:
                obj = self.rec.load_local(s, emap.entity, local_id)
                if obj is None:
                    return True
                link = self.ctx.binder.by_local(emap.entity, local_id)
                if link is None:
                    # An archived record the ERP never had (or deleted) is not created
                    # there; restoring it locally pushes it as new.
                    if emap.push_if(obj, self.ctx):
                        self.rec.push_new(s, emap, obj, rep)
                    return True
                if self.rec.unchanged(emap, obj, link):
                    return True  # echo suppression: nothing moved since the last sync
                found = self.ctx.adapter.read(
                    emap.remote_model, [link.remote_id], emap.remote_fields
                )
                if not found:  # deleted in the ERP: archive (or mark done) here too
                    rep.archived += self.rec.vanished(emap, obj)
                    self.ctx.binder.unbind(s, link)
                    return True
                self.rec.merge_pair(s, emap, obj, found[0], rep)
                return True
        except Exception as exc:  # one bad record never stops the run
            rep.errors.append(f"local #{local_id}: {type(exc).__name__}: {exc}")
            with self.transaction() as s:
                self.ctx.binder.load(s)
            return False

    def done(self, end: int) -> None:
        """Record that the journal up to ``end`` has been pushed."""
        with self.transaction() as s:
            set_state(s, self.ctx.binder.backend, "push:journal", str(end))
