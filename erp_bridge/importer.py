"""Pull: read what changed in the ERP since the saved position and apply it locally:
the synced entities (companies, contacts, deals, activities) and the reference data
they link to (users, stages, lost reasons, tags). Deletions are found here too."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.models import (
    Tag,
)
from crm_core.services.unique import insert_unique
from crm_core.text import fold
from erp_bridge import failures
from erp_bridge.adapter import RemoteError, Unavailable
from erp_bridge.catalogue import REFERENCE, Reference
from erp_bridge.copies import Copier
from erp_bridge.local import (
    find_or_create_lost_reason,
    find_or_create_stage,
    find_or_create_user,
)
from erp_bridge.mapper import EntityMap
from erp_bridge.matching import Twin, keyed
from erp_bridge.pages import PageStream, get_state
from erp_bridge.reconcile import Reconciler
from erp_bridge.report import ModelReport

#: Entities whose new records a pull creates in batches (crm_core.party_writer.PartyWriter).
BULK = ("company", "contact")
Transaction = Callable[[], Any]  # a context manager factory yielding a Session
Upsert = Callable[[Session, dict[str, Any]], Any]  # (session, crmbook's values) -> local row


def creating_key(entity: str) -> str:
    """The sync state set (and committed) before a push of ``entity`` creates records
    in the ERP, and dropped when that push ended with every record linked: while it is
    set, pulls look for records created before a crash."""
    return f"push:creates:{entity}"


class Importer:
    """Pulls one model at a time, page by page, committing after every record."""

    def __init__(
        self,
        rec: Reconciler,
        transaction: Transaction,
        *,
        page_size: int = 1000,
        rewind_seconds: int = 300,
        progress: Callable[[str, int], None] | None = None,
        started: str = "",
    ):
        self.rec = rec
        self.ctx = rec.ctx
        self.transaction = transaction
        self.page_size = page_size
        self.rewind_seconds = rewind_seconds
        self.progress = progress
        #: The ERP's clock when the run began: the next run's rewind counts from it.
        self.started = started
        #: Remote ids of each entity that failed before and are tried again this run.
        self.failing: dict[str, set[int]] = {}
        #: Records of the page being applied that wait for a record they link to (a
        #: deal whose partner waits in the review queue): remote id -> why. Listed
        #: with the failures once the page is committed, so every run reads them again.
        self._waits: dict[int, str] = {}

    def pages(
        self,
        entity: str,
        model: str,
        fields: list[str],
        domain: list[Any],
        full: bool,
        known: Callable[[], dict[int, str | None]],
    ) -> Any:
        """Yield pages of changed records, saving the cursor after each page is applied
        (a :class:`PageStream` started now and closed when the caller is done)."""
        stream = self._stream(entity, model, fields, domain, full, known)
        try:
            yield from stream
        finally:
            stream.close()

    def _stream(
        self,
        entity: str,
        model: str,
        fields: list[str],
        domain: list[Any],
        full: bool,
        known: Callable[[], dict[int, str | None]],
    ) -> PageStream:
        with self.transaction() as s:
            retry = failures.pending(s, self.ctx.binder.backend, entity, "pull")
            self.rec.review.load(s)
        self.failing[entity] = set(retry)
        # Records waiting in the review queue are read again too: a reviewer's answer
        # is applied by the next run, whatever the cursor says.
        again = [*retry, *self.rec.review.pending(entity, "pull")]
        return PageStream(self, f"pull:{entity}", model, fields, domain, full, known, again)

    def _linked(self, entity: str) -> Callable[[], dict[int, str | None]]:
        """What is applied of ``entity``: remote id -> ``write_date``, from the links."""
        return lambda: {
            link.remote_id: link.remote_write_date for link in self.ctx.binder.links(entity)
        }

    def stream(self, emap: EntityMap, full: bool = False) -> PageStream:
        """Start reading ``emap``'s changed records ahead, for a later :meth:`pull`.

        A run starts every entity's stream before it applies the first one, so the ERP
        serves the contacts' first pages while the companies are being written. The
        caller must :meth:`PageStream.close` a stream it does not consume."""
        return self._stream(
            emap.entity,
            emap.remote_model,
            emap.remote_fields,
            emap.domain,
            full,
            self._linked(emap.entity),
        )

    def _failed(self, entity: str, remote_id: int, error: str) -> None:
        """List a record that could not be applied; later runs read it again."""
        with self.transaction() as s:
            failures.failed(
                s, self.ctx.binder.backend, entity, "pull", remote_id, error, self.rec.ws.clock()
            )
        self.failing.setdefault(entity, set()).add(remote_id)

    def _cleared(self, s: Session, entity: str, page: list[dict[str, Any]]) -> None:
        """Take the records of ``page`` that were listed as failed off the list."""
        listed = self.failing.get(entity)
        done = ({int(r["id"]) for r in page} - set(self._waits)) & listed if listed else set()
        if done:
            failures.cleared(s, self.ctx.binder.backend, entity, "pull", done)
            listed -= done  # type: ignore[operator]

    def pull(
        self,
        emap: EntityMap,
        rep: ModelReport,
        full: bool = False,
        stream: PageStream | None = None,
    ) -> None:
        """Apply remote changes of one entity map (create, merge; archived included),
        from ``stream`` when one was started for it (see :meth:`stream`)."""
        with self.transaction() as s:
            # Only a push of this entity that did not end cleanly (killed, or a record
            # failed) can have left records it created unlinked there: else skip the
            # lookup (see Exporter.push).
            pushed = get_state(s, self.ctx.binder.backend, creating_key(emap.entity)) is not None
        stream = stream or self.stream(emap, full)
        try:
            self._apply_pages(emap, rep, stream, pushed)
        finally:
            stream.close()
        with self.transaction() as s:
            # The candidates left over by answered push questions were read again.
            self.rec.review.drop_applied(s, emap.entity, "pull")

    def _apply_pages(
        self, emap: EntityMap, rep: ModelReport, stream: PageStream, pushed: bool
    ) -> None:
        for page in stream:
            ours = self._created_by_us(emap, page) if pushed else {}
            # The whole page in one transaction (one commit, not one per record); if any
            # record fails, the page is rolled back and applied again record by record,
            # so the bad one is reported and the others still land.
            trial = ModelReport()
            twins: dict[int, Twin] = {}
            self._waits.clear()
            try:
                with self.transaction() as s:
                    twins = self._twins(s, emap, page, ours)
                    for record in self._pull_new_in_bulk(s, emap, page, trial, ours, twins):
                        rid = int(record["id"])
                        self._apply(s, emap, record, trial, ours.get(rid), twins.get(rid))
                        s.flush()
                        # Done with this record: keep the session small, or every flush
                        # of the page walks all records loaded so far.
                        s.expunge_all()
                    self._cleared(s, emap.entity, page)
            except Exception as exc:
                # Links, tags and queued matches made in the rolled-back page are gone:
                # forget them.
                self.rec.writer.kept.clear()
                self.rec.forget_batches()
                self.rec.matching.forget(emap.entity, [int(r["id"]) for r in page])
                with self.transaction() as s:
                    self.ctx.binder.load(s)
                    self.rec.review.load(s)
                if isinstance(exc, Unavailable):
                    raise  # the ERP is gone: the run stops, this page stays unread
                for record in page:
                    rid = int(record["id"])
                    self._one(emap, record, rep, ours.get(rid), twins.get(rid))
            else:
                rep.add(trial)
                self.kept(rep)
                self._list_waits(emap.entity)

    def kept(self, rep: ModelReport) -> None:
        """Say in ``rep`` what the work just committed kept marked as not validated
        (see :attr:`erp_bridge.local.LocalWriter.kept`)."""
        rep.kept += self.rec.writer.kept
        self.rec.writer.kept.clear()

    def _twins(
        self, s: Session, emap: EntityMap, page: list[dict[str, Any]], ours: dict[int, int]
    ) -> dict[int, Twin]:
        """The local twins of the page's records that have no link (see
        :mod:`erp_bridge.matching`), looked up for the whole page at once."""
        if not keyed(emap):
            return {}
        binder = self.ctx.binder
        unlinked = [
            r
            for r in page
            if int(r["id"]) not in ours
            and binder.by_remote(emap.entity, int(r["id"])) is None
            and binder.as_other_kind(emap.entity, emap.remote_model, int(r["id"])) is None
        ]
        return self.rec.matching.for_pull(s, emap, unlinked) if unlinked else {}

    def _pull_new_in_bulk(
        self,
        s: Session,
        emap: EntityMap,
        page: list[dict[str, Any]],
        rep: ModelReport,
        ours: dict[int, int],
        twins: dict[int, Twin],
    ) -> list[dict[str, Any]]:
        """Create the page's new companies or contacts in one batch (a first pull is
        mostly that); returns the records still to apply one by one (those matched
        to a local record or queued for review among them)."""
        if emap.entity not in BULK:
            return page
        binder = self.ctx.binder
        new = [
            r
            for r in page
            if int(r["id"]) not in ours
            and binder.by_remote(emap.entity, int(r["id"])) is None
            and binder.as_other_kind(emap.entity, emap.remote_model, int(r["id"])) is None
            and _plain_new(twins.get(int(r["id"])))
            and self._waits_for(emap, r) is None
        ]
        if not new:
            return page
        left = self.rec.pull_many(s, emap, new, rep)
        s.expunge_all()
        taken = {int(r["id"]) for r in new} - {int(r["id"]) for r in left}
        return [r for r in page if int(r["id"]) not in taken]

    def _created_by_us(self, emap: EntityMap, page: list[dict[str, Any]]) -> dict[int, int]:
        """Unlinked remote records that carry our external id: created by a push whose
        local commit never happened (a crash). remote id -> local id."""
        unlinked = [
            int(r["id"])
            for r in page
            if self.ctx.binder.by_remote(emap.entity, int(r["id"])) is None
        ]
        if not unlinked:
            return {}
        try:
            names = self.ctx.adapter.external_ids(
                emap.remote_model, unlinked, self.ctx.xmlid_prefix
            )
        except Unavailable:
            raise
        except RemoteError as exc:
            # Stops the run before this page is applied: pulled as new, the records
            # the push created would be copied here.
            raise RemoteError(
                f"{emap.entity}: a run before this one stopped while creating records "
                f"in the ERP; they cannot be looked for there, so nothing is pulled: {exc}"
            ) from exc
        kind = f"{emap.entity}_"
        return {
            rid: int(name[len(kind) :])
            for rid, name in names.items()
            if name.startswith(kind) and name[len(kind) :].isdigit()
        }

    def _apply(
        self,
        s: Session,
        emap: EntityMap,
        record: dict[str, Any],
        rep: ModelReport,
        ours: int | None,
        twin: Twin | None = None,
    ) -> None:
        waits = self._waits_for(emap, record)
        if waits is not None:
            self._waits[int(record["id"])] = waits
            self.ctx.note(f"wait {emap.entity} {emap.remote_model} #{record['id']}: {waits}")
            return
        # A record re-read by the rewind is compared with its last-synced copy, not
        # skipped on (id, write_date) alone: write_date has whole seconds, so a second
        # change within the same second would otherwise be missed.
        link = self.ctx.binder.by_remote(emap.entity, int(record["id"]))
        if link is not None and self.rec.remote_unchanged(emap, record, link):
            # Nothing new from the ERP: no local read needed. Local edits of this record
            # are the push's business (it follows the journal).
            rep.skipped += 1
            stamp = self.ctx.applied(record.get("write_date"))
            if stamp != link.remote_write_date:  # touched in Odoo, or now settled
                self.ctx.binder.restamp(s, link, stamp)
            return
        obj = self.rec.load_local(s, emap.entity, link.local_id) if link else None
        adopted = self.rec.load_local(s, emap.entity, ours) if ours else None
        if link is None:
            rid = int(record["id"])
            other_kind = self.ctx.binder.as_other_kind(emap.entity, emap.remote_model, rid)
            self._changed_kind(s, emap, rid, rep)
            if twin is None and adopted is None and other_kind is None and keyed(emap):
                twin = self.rec.matching.for_pull(s, emap, [record]).get(rid)
        if link is None and adopted is not None:
            self.rec.adopt(s, emap, adopted, record, rep)
        elif link is None and twin is not None:
            self._pull_unlinked(s, emap, record, rep, twin)
        elif obj is None:
            self.rec.pull_new(s, emap, record, rep)
        else:
            self.rec.merge_pair(s, emap, obj, record, rep)

    def _waits_for(self, emap: EntityMap, record: dict[str, Any]) -> str | None:
        """Why ``record`` must wait, if a record it links to is not here yet but will
        be: a partner waiting in the review queue, or one that failed this run. Pulled
        now, it would lose that link (and a linked record would drop it)."""
        for fmap in emap.fields:
            if fmap.link is None:
                continue
            raw = record.get(fmap.remote, False)
            rid = raw[0] if isinstance(raw, list | tuple) and raw else (raw or None)
            if not isinstance(rid, int):
                continue
            entities = (fmap.link,) if isinstance(fmap.link, str) else fmap.link
            if any(self.ctx.local_id(entity, rid) is not None for entity in entities):
                continue
            for entity in entities:
                if rid in self.rec.review.held(entity, "remote"):
                    return (
                        f"its {fmap.local} (#{rid}) waits in the match review: answer it"
                        " with `crmbook sync match`, and the next run brings this record"
                    )
                if rid in self.failing.get(entity, ()):
                    return (
                        f"its {fmap.local} (#{rid}) could not be synced (see `crmbook sync"
                        " status`); this record follows it"
                    )
        return None

    def _list_waits(self, entity: str) -> None:
        """List the records that waited in the page just committed (read again by the
        next runs, like a failed record, until what they wait for is here)."""
        waits, self._waits = dict(self._waits), {}
        for rid, why in waits.items():
            self._failed(entity, rid, f"waits: {why}")

    def _pull_unlinked(
        self, s: Session, emap: EntityMap, record: dict[str, Any], rep: ModelReport, twin: Twin
    ) -> None:
        """A remote record with no link, as its twin says: linked to the local record
        found, queued for review, left waiting for another question, or created."""
        rid = int(record["id"])
        matching, review = self.rec.matching, self.rec.review
        if twin.kind == "match":
            assert twin.other is not None
            obj = self.rec.load_local(s, emap.entity, twin.other)
            self.rec.match(s, emap, obj, record, rep, twin.keys)
        elif twin.kind == "ambiguous":
            names = matching.local_names(s, emap.entity, list(twin.candidates))
            values = emap.from_remote(record, self.ctx)
            matching.hold(s, emap, "pull", rid, values, twin, rep, names)
            return
        elif twin.kind == "held":
            self.ctx.note(
                f"wait {emap.entity} {emap.remote_model} #{rid}: a candidate of a match "
                "queued for review"
            )
            return
        else:
            self.rec.pull_new(s, emap, record, rep)
        if twin.row is not None:
            review.applied(s, twin.row)

    def _changed_kind(self, s: Session, emap: EntityMap, remote_id: int, rep: ModelReport) -> None:
        """A remote record now of ``emap``'s kind that was linked as another (a person
        made a company in Odoo): archive the local record that stood for it and drop
        its link, so the record of the new kind takes its place. The archive is the
        sync's own change: it is not pushed back."""
        old = self.ctx.binder.as_other_kind(emap.entity, emap.remote_model, remote_id)
        if old is None:
            return
        obj = self.rec.load_local(s, old.entity, old.local_id)
        if obj is not None and getattr(obj, "active", False):
            obj.active = False
            rep.archived += 1
        self.ctx.binder.unbind(s, old)

    def _one(
        self,
        emap: EntityMap,
        record: dict[str, Any],
        rep: ModelReport,
        ours: int | None = None,
        twin: Twin | None = None,
    ) -> None:
        rid = int(record["id"])
        self._waits.clear()
        try:
            with self.transaction() as s:
                self._apply(s, emap, record, rep, ours, twin)
                self._cleared(s, emap.entity, [record])
            self.kept(rep)
            self._list_waits(emap.entity)
        except Unavailable:
            self.rec.writer.kept.clear()
            raise
        except Exception as exc:  # one bad record never stops the run
            self.rec.writer.kept.clear()
            error = f"{type(exc).__name__}: {exc}"
            rep.errors.append(f"remote #{rid}: {error}")
            self.rec.matching.forget(emap.entity, [rid])
            with self.transaction() as s:  # links bound in the rolled-back work are void
                self.ctx.binder.load(s)
                self.rec.review.load(s)
            self._failed(emap.entity, rid, error)

    def find_deleted(self, emap: EntityMap, rep: ModelReport) -> None:
        """Archive local records whose remote record was deleted.

        A linked record the ERP user no longer finds is only deleted if it no longer
        exists at all: one that is merely hidden from that user (a deal reassigned to
        someone the user may not see) is left alone, counted in ``rep.hidden``; one
        that still exists and is visible but no longer this entity's (a person made a
        company) is left to the entity it now belongs to."""
        adapter = self.ctx.adapter
        alive = adapter.all_ids(emap.remote_model, emap.domain)
        missing = [
            link
            for link in self.ctx.binder.links(emap.entity)
            if link.remote_id not in alive and link.remote_id >= 0
        ]
        if not missing:
            return
        exist = adapter.existing(emap.remote_model, [link.remote_id for link in missing])
        visible = {
            int(r["id"]) for r in adapter.read(emap.remote_model, sorted(exist), ["write_date"])
        }
        rep.hidden += len(exist - visible)
        for link in missing:
            if link.remote_id in exist:
                continue
            with self.transaction() as s:
                obj = self.rec.load_local(s, emap.entity, link.local_id)
                if obj is not None:
                    rep.archived += self.rec.vanished(emap, obj)
                self.ctx.binder.unbind(s, link, deleted=True)

    def apply_each(
        self,
        entity: str,
        page: list[dict[str, Any]],
        rep: ModelReport,
        apply: Callable[[Session, dict[str, Any], ModelReport], None],
    ) -> None:
        """Apply ``page`` in one transaction; if that fails, record by record, so a bad
        record is listed as failed (and read again next run) and the others land."""
        trial = ModelReport()
        try:
            with self.transaction() as s:
                for record in page:
                    apply(s, record, trial)
                self._cleared(s, entity, page)
        except Unavailable:
            raise
        except Exception:
            self._reload_links()
            for record in page:
                one = ModelReport()
                try:
                    with self.transaction() as s:
                        apply(s, record, one)
                        self._cleared(s, entity, [record])
                except Unavailable:
                    raise
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    rep.errors.append(f"remote #{record['id']}: {error}")
                    self._reload_links()
                    self._failed(entity, int(record["id"]), error)
                else:
                    rep.add(one)
        else:
            rep.add(trial)

    def _reload_links(self) -> None:
        """Read the links again: those bound in rolled-back work are void."""
        with self.transaction() as s:
            self.ctx.binder.load(s)

    # -- reference data and read-only copies -------------------------------------------
    def pull_reference(
        self, rep_for: Callable[[str], ModelReport], full: bool, only: Collection[str]
    ) -> None:
        """Users, stages, lost reasons and CRM tags (those of them in ``only``): pulled
        and linked by name, from where the adapter's catalogue says."""
        references = self.ctx.adapter.catalogue.references
        specs = [
            (entity, references[entity], UPSERTS[entity])
            for entity in REFERENCE
            if entity in references
        ]
        for entity, spec, upsert in specs:
            if entity not in only:
                continue

            def apply(
                s: Session,
                record: dict[str, Any],
                rep: ModelReport,
                entity: str = entity,
                spec: Reference = spec,
                upsert: Upsert = upsert,
            ) -> None:
                link = self.ctx.binder.by_remote(entity, int(record["id"]))
                if link is not None and link.remote_write_date == record["write_date"]:
                    rep.skipped += 1
                    return
                values = spec.values(record)
                same = link is not None and link.synced == {"name": values["name"]}
                obj = upsert(s, values)
                self.ctx.binder.bind(
                    s,
                    entity,
                    obj.id,
                    spec.model,
                    int(record["id"]),
                    {"name": values["name"]},
                    self.ctx.applied(record["write_date"]),
                    self.rec.ws.clock(),
                )
                rep.created += link is None
                rep.updated += link is not None and not same
                rep.skipped += same

            pages = self.pages(
                entity, spec.model, list(spec.fields), spec.domain, full, self._linked(entity)
            )
            for page in pages:
                for record in page:  # one at a time: a rolled-back bind would linger
                    self.apply_each(entity, [record], rep_for(entity), apply)

    def pull_copies(
        self, rep_for: Callable[[str], ModelReport], full: bool, only: Collection[str]
    ) -> None:
        """The read-only copies among ``only`` (see :mod:`erp_bridge.copies`)."""
        Copier(self).pull(rep_for, full, only)


def _tag(s: Session, values: dict[str, Any]) -> Tag:
    key = fold(values["name"])
    tag = s.scalars(select(Tag).where(Tag.name_key == key)).first()
    if tag is None:  # one row even when a user adds the same tag at that moment
        tag, _ = insert_unique(
            s, Tag, "name_key", {"name": values["name"], "name_key": key, "version": 1}
        )
    return tag


#: How each reference entity's values (:class:`~erp_bridge.catalogue.Reference`) become
#: a local row: found by name (a user by login) or created.
UPSERTS: dict[str, Upsert] = {
    "user": lambda s, v: find_or_create_user(
        s, v["login"], v["name"], v["email"], v.get("active", True)
    ),
    "stage": lambda s, v: find_or_create_stage(s, v["name"], v["sequence"], v["is_won"]),
    "lost_reason": lambda s, v: find_or_create_lost_reason(s, v["name"]),
    "tag": _tag,
}


def _plain_new(twin: Twin | None) -> bool:
    """True for a record to create as it is: no twin found, no queued question."""
    return twin is None or (twin.kind == "new" and twin.row is None)
