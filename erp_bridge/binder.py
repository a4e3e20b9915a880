"""The binder: which local record is which remote record, per backend."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, delete, insert, select, type_coerce, update
from sqlalchemy.orm import Session

from crm_core.db import insert_returning
from crm_core.models import ExternalLink, SyncState

_COLUMNS = (
    ExternalLink.id,
    ExternalLink.entity,
    ExternalLink.local_id,
    ExternalLink.remote_model,
    ExternalLink.remote_id,
    # As stored: decoded only for the few links a run compares (see Link.synced).
    type_coerce(ExternalLink.synced, Text),
    ExternalLink.remote_write_date,
)


@dataclass(slots=True)
class Link:
    """One row of ``external_links`` as the run sees it."""

    id: int
    entity: str
    local_id: int
    remote_model: str
    remote_id: int
    _synced: dict[str, Any] | str | None
    remote_write_date: str | None

    @property
    def synced(self) -> dict[str, Any] | None:
        """The last-synced values: ``{"local": {...}, "remote": {...}}``."""
        if isinstance(self._synced, str):
            self._synced = json.loads(self._synced)
        return None if isinstance(self._synced, str) else self._synced


class Binder:
    """Links of one backend, cached for a run; writes go through the caller's session."""

    def __init__(self, backend: str):
        self.backend = backend
        self._by_local: dict[tuple[str, int], Link] = {}
        self._by_remote: dict[tuple[str, int], Link] = {}
        self._entities: set[str] = set()

    def load(self, s: Session) -> None:
        """Read every link of the backend (a few per record: cheap next to the RPCs)."""
        self._by_local.clear()
        self._by_remote.clear()
        for row in s.execute(select(*_COLUMNS).where(ExternalLink.backend == self.backend)):
            self._remember(Link(*row))

    def _remember(self, link: Link) -> None:
        self._by_local[(link.entity, link.local_id)] = link
        self._by_remote[(link.entity, link.remote_id)] = link
        self._entities.add(link.entity)

    def by_local(self, entity: str, local_id: int | None) -> Link | None:
        """The link of a local record."""
        return None if local_id is None else self._by_local.get((entity, local_id))

    def by_remote(self, entity: str, remote_id: int | None) -> Link | None:
        """The link of a remote record (as ``entity``)."""
        return None if remote_id is None else self._by_remote.get((entity, remote_id))

    def as_other_kind(self, entity: str, remote_model: str, remote_id: int) -> Link | None:
        """The link of a remote record under another entity of the same remote model:
        an Odoo partner linked as a contact that now arrives as a company, or back."""
        for other in self._entities - {entity}:
            link = self._by_remote.get((other, remote_id))
            if link is not None and link.remote_model == remote_model:
                return link
        return None

    def remote_ids(self, remote_model: str) -> set[int]:
        """The ids of the records of ``remote_model`` linked to a local record, as any
        entity (an Odoo partner is a company or a contact)."""
        return {
            link.remote_id for link in self._by_remote.values() if link.remote_model == remote_model
        }

    def links(self, entity: str) -> list[Link]:
        """Every link of ``entity``."""
        return [link for (e, _), link in self._by_local.items() if e == entity]

    def bind(
        self,
        s: Session,
        entity: str,
        local_id: int,
        remote_model: str,
        remote_id: int,
        synced: dict[str, Any],
        remote_write_date: str | None,
        now: dt.datetime,
    ) -> None:
        """Create or refresh the link and its last-synced values, in ``s``."""
        values = {
            "remote_id": remote_id,
            "synced": synced,
            "remote_write_date": remote_write_date,
            "synced_at": now,
        }
        old = self.by_local(entity, local_id)
        if old is not None:
            s.execute(update(ExternalLink).where(ExternalLink.id == old.id).values(values))
            self._by_remote.pop((entity, old.remote_id), None)
            link_id = old.id
        else:
            link_id = s.execute(
                insert(ExternalLink)
                .values(
                    backend=self.backend,
                    entity=entity,
                    local_id=local_id,
                    remote_model=remote_model,
                    **values,
                )
                .returning(ExternalLink.id)
            ).scalar_one()
        self._remember(
            Link(link_id, entity, local_id, remote_model, remote_id, synced, remote_write_date)
        )

    def bind_new(self, s: Session, links: list[dict[str, Any]]) -> None:
        """Create many links of one entity at once (records just created on one side),
        in ``s``. Each dict holds ExternalLink's columns except ``backend``."""
        if not links:
            return
        entity = links[0]["entity"]
        assert all(link["entity"] == entity for link in links), "one entity per call"
        # The Core table, not the ORM entity: no per-row unit-of-work bookkeeping.
        table: Any = ExternalLink.__table__
        rows = [{"backend": self.backend, **link} for link in links]
        returned = insert_returning(s.connection(), table, rows, "local_id", "id")
        ids: dict[int, int] = {local_id: link_id for local_id, link_id in returned}
        for link in links:
            self._remember(
                Link(
                    ids[link["local_id"]],
                    entity,
                    link["local_id"],
                    link["remote_model"],
                    link["remote_id"],
                    link["synced"],
                    link["remote_write_date"],
                )
            )

    def restamp(self, s: Session, link: Link, remote_write_date: str | None) -> None:
        """Remember another ``write_date`` for a link whose values did not change."""
        s.execute(
            update(ExternalLink)
            .where(ExternalLink.id == link.id)
            .values(remote_write_date=remote_write_date)
        )
        link.remote_write_date = remote_write_date

    def unbind(self, s: Session, link: Link, *, deleted: bool = False) -> None:
        """Delete a link (its remote record is gone), in ``s``. ``deleted``: the ERP
        deleted the remote record; the local record is remembered as one whose twin
        was deleted (see :meth:`orphans`)."""
        s.execute(delete(ExternalLink).where(ExternalLink.id == link.id))
        self._by_local.pop((link.entity, link.local_id), None)
        self._by_remote.pop((link.entity, link.remote_id), None)
        if deleted:
            key = orphan_key(link.entity, link.local_id)
            if s.get(SyncState, (self.backend, key)) is None:
                s.add(SyncState(backend=self.backend, key=key, value=str(link.remote_id)))

    def orphans(self, s: Session, entity: str) -> set[int]:
        """The local records of ``entity`` whose twin the ERP deleted (archived here
        by the sync, their link dropped): never the twin of another remote record,
        which would take over the deleted one's record, its history and its values
        (see :mod:`erp_bridge.matching`)."""
        prefix = orphan_key(entity, 0)[:-1]
        keys = s.scalars(
            select(SyncState.key).where(
                SyncState.backend == self.backend, SyncState.key.startswith(prefix)
            )
        )
        return {int(k[len(prefix) :]) for k in keys if k[len(prefix) :].isdigit()}


def orphan_key(entity: str, local_id: int) -> str:
    """The sync state remembering that the ERP deleted the twin of a local record."""
    return f"deleted-twin:{entity}:{local_id}"
