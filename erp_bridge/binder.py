"""The binder: which local record is which remote record, per backend."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from crm_core.models import ExternalLink


class Binder:
    """Links of one backend, cached for a run; writes go through the caller's session."""

    def __init__(self, backend: str):
        self.backend = backend
        self._by_local: dict[tuple[str, int], ExternalLink] = {}
        self._by_remote: dict[tuple[str, int], ExternalLink] = {}

    def load(self, s: Session) -> None:
        """Read every link of the backend (a few per record: cheap next to the RPCs)."""
        self._by_local.clear()
        self._by_remote.clear()
        for link in s.scalars(select(ExternalLink).where(ExternalLink.backend == self.backend)):
            s.expunge(link)
            self._remember(link)

    def _remember(self, link: ExternalLink) -> None:
        self._by_local[(link.entity, link.local_id)] = link
        self._by_remote[(link.entity, link.remote_id)] = link

    def by_local(self, entity: str, local_id: int | None) -> ExternalLink | None:
        """The link of a local record."""
        return None if local_id is None else self._by_local.get((entity, local_id))

    def by_remote(self, entity: str, remote_id: int | None) -> ExternalLink | None:
        """The link of a remote record (as ``entity``)."""
        return None if remote_id is None else self._by_remote.get((entity, remote_id))

    def links(self, entity: str) -> list[ExternalLink]:
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
        link = self.by_local(entity, local_id)
        if link is None:
            link = ExternalLink(
                backend=self.backend,
                entity=entity,
                local_id=local_id,
                remote_model=remote_model,
                remote_id=remote_id,
            )
        else:
            link = s.merge(link)
        link.remote_id = remote_id
        link.synced = synced
        link.remote_write_date = remote_write_date
        link.synced_at = now
        s.add(link)
        s.flush()
        s.expunge(link)
        self._remember(link)

    def bind_new(self, s: Session, links: list[dict[str, Any]]) -> None:
        """Create many links of one entity at once (records just created on one side),
        in ``s``. Each dict holds ExternalLink's columns except ``backend``."""
        if not links:
            return
        rows = [{"backend": self.backend, **values} for values in links]
        s.execute(insert(ExternalLink), rows)
        entity = rows[0]["entity"]
        assert all(r["entity"] == entity for r in rows), "one entity per call"
        query = select(ExternalLink.local_id, ExternalLink.id).where(
            ExternalLink.backend == self.backend,
            ExternalLink.entity == entity,
            ExternalLink.local_id.in_([r["local_id"] for r in rows]),
        )
        ids = {local_id: link_id for local_id, link_id in s.execute(query)}
        for row in rows:
            self._remember(ExternalLink(id=ids[row["local_id"]], **row))

    def unbind(self, s: Session, link: ExternalLink) -> None:
        """Delete a link (its remote record is gone), in ``s``."""
        s.execute(delete(ExternalLink).where(ExternalLink.id == link.id))
        self._by_local.pop((link.entity, link.local_id), None)
        self._by_remote.pop((link.entity, link.remote_id), None)
