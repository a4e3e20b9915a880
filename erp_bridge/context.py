"""The run context: links, cached lookup tables (read as the adapter's catalogue says)
and the dry-run plan."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

from erp_bridge.adapter import Adapter
from erp_bridge.binder import Binder
from erp_bridge.cursor import settled
from erp_bridge.mapper import Action, later


class RunContext:
    """What converters and the sync steps share during one run.

    In a dry run, remote writes are not sent: they are described in ``plan`` and
    creates get placeholder negative ids.
    """

    def __init__(
        self,
        adapter: Adapter,
        binder: Binder,
        xmlid_prefix: str,
        *,
        dry_run: bool = False,
        started: str = "",
    ):
        self.adapter = adapter
        #: The ERP's clock when the run began (``Adapter.server_time``).
        self.started = started
        self.xmlid_prefix = xmlid_prefix
        self.binder = binder
        self.dry_run = dry_run
        self.plan: list[str] = []
        self._references: dict[str, dict[int, dict[str, Any]]] = {}
        self._placeholder = itertools.count(-1, -1)

    # -- Context protocol ---------------------------------------------------------
    def local_id(self, entity: str, remote_id: int | None) -> int | None:
        link = self.binder.by_remote(entity, remote_id)
        return link.local_id if link else None

    def remote_id(self, entity: str, local_id: int | None) -> int | None:
        link = self.binder.by_local(entity, local_id)
        return link.remote_id if link else None

    def reference(self, model: str) -> dict[int, dict[str, Any]]:
        if model not in self._references:
            # The ERP's catalogue says which fields (and rows) of the table to read.
            lookup = self.adapter.catalogue.lookups[model]
            rows = self.adapter.search_read(model, lookup.domain, list(lookup.fields))
            self._references[model] = {int(r["id"]): r for r in rows}
        return self._references[model]

    def read(self, model: str, ids: list[int], fields: list[str]) -> list[dict[str, Any]]:
        return self.adapter.read(model, ids, fields)

    def ensure_reference(self, model: str, name: str, values: dict[str, Any]) -> int:
        for rid, rec in self.reference(model).items():
            if rec.get("name") == name:
                return rid
        digest = hashlib.sha1(name.encode()).hexdigest()[:16]
        rid = self.create(model, values, self.xmlid(model.replace(".", "_"), digest))
        self._references[model][rid] = {"id": rid, **values}
        return rid

    def applied(self, write_date: str | None) -> str | None:
        """The ``write_date`` a link remembers for a record read in this run (None
        until it has settled: see :func:`erp_bridge.cursor.settled`)."""
        return settled(write_date, self.started)

    def note(self, line: str) -> None:
        """Say in a dry run's plan what the run would do besides writing to the ERP (a
        match it would make, a record it would queue for review)."""
        if self.dry_run:
            self.plan.append(line)

    # -- remote writes (or their plan) -----------------------------------------------
    def xmlid(self, kind: str, key: object) -> str:
        """The external id crmbook registers for a record it creates remotely."""
        return f"{self.xmlid_prefix}.{kind}_{key}"

    def create(self, model: str, values: dict[str, Any], external_id: str) -> int:
        """Create a remote record, idempotently under ``external_id``. Actions are not
        run on create (a record is created only while it needs none)."""
        values = {k: v for k, v in values.items() if not isinstance(v, Action)}
        values, after = later(values)
        if self.dry_run:
            self.plan.append(f"create {model} {values.get('name', '')!r}")
            return next(self._placeholder)
        rid = self.adapter.create(model, values, external_id)
        if after:  # what the ERP sets itself on create (see mapper.Later)
            self.adapter.write(model, [rid], after)
        return rid

    def write(self, model: str, remote_id: int, values: dict[str, Any]) -> None:
        """Write fields of a remote record, then run the actions among ``values``."""
        actions = [v for v in values.values() if isinstance(v, Action)]
        values = {k: v for k, v in values.items() if not isinstance(v, Action)}
        values, after = later(values)
        if self.dry_run:
            if after:
                values = {**values, **after}
            if values:
                self.plan.append(f"write {model} #{remote_id} {sorted(values)}")
            self.plan += [f"call {model} #{remote_id} {a.method}" for a in actions]
            return
        if values:
            self.adapter.write(model, [remote_id], values)
        if after:  # after the rest: see mapper.Later
            self.adapter.write(model, [remote_id], after)
        for action in actions:
            self.adapter.execute(model, [remote_id], action.method)
