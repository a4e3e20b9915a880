"""Matching before creating: the twin of a record that has none yet, looked for on the
other side by e-mail, VAT number and phone before the sync creates a copy there.

A first sync with an ERP that already holds the business's customers must not create
a second copy of each, on either side. So a remote record with no link is first looked
up locally (a pull), and a local record with no link in the ERP through
:meth:`~erp_bridge.adapter.Adapter.match_candidates` (a push), by the keys of
:mod:`crm_core.keys`: the e-mail in any case, the VAT number without its spaces and
dots, the phones as E.164 (a national number read in the record's own country, then in
the workspace's phone region), computed the same way on both sides from values in
local terms. Only records with no link are candidates, and never a local record merged
into another one: its keys find the record it was merged into (see
:func:`crm_core.imports.matching.survivors`, which the imports follow too). Nor is a
local record whose twin the ERP deleted (archived by the sync, its link dropped: see
:meth:`~erp_bridge.binder.Binder.orphans`) the twin of a new remote record: that
would restore it as another party, with the deleted one's history, and send its
values (an e-mail) to the new record. A phone kept as written (one with an extension:
see :func:`crm_core.validation.phone`) is no key.

- One candidate, which no other record of the same batch claims too: the two are
  linked and merged field by field like any synced pair (see
  :func:`agreed_bases`), counted as ``matched``.
- Several: nothing is created; the record waits in the review queue
  (:mod:`erp_bridge.review`), counted as ``ambiguous``, and so does one whose
  candidate waits in another question.
- None: it is created on the other side as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import Workspace, text
from crm_core.imports.matching import ENTITY_KEYS, SAID, Matcher, survivors
from crm_core.keys import PHONE_FIELDS, RowKeys, email_key, party_keys, phone_key, vat_key
from crm_core.models import ExternalLink
from erp_bridge.adapter import Record
from erp_bridge.context import RunContext
from erp_bridge.local import MODELS, snapshot
from erp_bridge.mapper import EntityMap
from erp_bridge.report import ModelReport
from erp_bridge.review import Direction, Queued, Review

#: The kinds of key records are matched by, and the local fields that hold them.
KINDS = ("email", "vat", "phone")
KEY_FIELDS = {"email": ("email",), "vat": ("vat",), "phone": PHONE_FIELDS}
#: Local records looked up in the ERP per call.
BATCH = 200
#: Unlinked remote ids a lookup is narrowed to at most (more: it searches them all).
MAX_IDS = 10_000


@dataclass
class Twin:
    """What becomes of a record with no link: ``match`` (with ``other``, by ``keys``;
    ``("chosen",)`` when a reviewer chose it), ``ambiguous`` (``candidates``: id ->
    keys), ``held`` (it is a candidate of a question that waits), ``new``, or
    ``failed`` (it could not be looked up: ``error``)."""

    kind: Literal["match", "ambiguous", "held", "new", "failed"]
    other: int | None = None
    keys: tuple[str, ...] = ()
    candidates: dict[int, list[str]] = field(default_factory=dict)
    #: The record's own row in the review queue, if it has one.
    row: Queued | None = None
    #: For a push: the remote record matched, as the map reads it.
    record: Record | None = None
    #: For a push: the remote candidates' names, for the review queue.
    names: dict[int, str] = field(default_factory=dict)
    error: str = ""


def keyed(emap: EntityMap) -> bool:
    """True for an entity records are matched by (companies and contacts)."""
    names = {f.local for f in emap.fields}
    return emap.entity in ENTITY_KEYS and bool(names & {"email", "vat", *PHONE_FIELDS})


def shared_keys(a: RowKeys, b: RowKeys) -> list[str]:
    """The kinds of key two records have in common."""
    out = []
    if a.email and a.email == b.email:
        out.append("email")
    if a.vat and a.vat == b.vat:
        out.append("vat")
    if set(a.phones) & set(b.phones):
        out.append("phone")
    return out


def _pairs(keys: RowKeys) -> list[tuple[str, str]]:
    """A record's keys as (kind, value) pairs."""
    pairs = [("email", keys.email), ("vat", keys.vat), *(("phone", p) for p in keys.phones)]
    return [(kind, value) for kind, value in pairs if value]


def said(keys: Sequence[str]) -> str:
    """Keys as a reason: ``same e-mail, same phone``."""
    return ", ".join(SAID.get(k, "chosen by a reviewer") for k in keys)


def agreed_bases(
    local: Mapping[str, Any], remote: Mapping[str, Any], region: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The last-synced copies to merge a newly matched pair against.

    There was no last sync: each side's base is the empty record, so that a value only
    one side has goes to the other and a value each has differently is a conflict,
    decided by the field's owner or the policy and recorded for review. But values
    that differ only in the way they are written (an e-mail's case, a VAT number's
    spaces, a phone in national or E.164 form, a name's case) are the same value: for
    those each side's base is its own value, so neither side is rewritten and no
    conflict is made up.

    A match never archives a live record: when one side is archived and the other
    active, both bases say archived, so that the active side wins and the archived one
    is restored, whatever the field's owner or the policy. (The records are one by their
    keys, and one side still uses it: an ERP customer is not archived because of a
    stale contact archived here, nor a contact here because of an old partner archived
    in the ERP. Records archived by a merge are never matched: see
    :func:`crm_core.imports.matching.survivors`.)
    """
    base_local: dict[str, Any] = {}
    base_remote: dict[str, Any] = {}
    for name in set(local) & set(remote):
        mine, theirs = local[name], remote[name]
        if name == "active" and isinstance(mine, bool) and isinstance(theirs, bool):
            base_local[name] = base_remote[name] = mine and theirs
        elif _same_value(name, mine, theirs, local.get("country"), remote.get("country"), region):
            base_local[name], base_remote[name] = mine, theirs
        else:
            base_local[name] = [] if isinstance(mine, list) else None
            base_remote[name] = [] if isinstance(theirs, list) else None
    return base_local, base_remote


def _same_value(
    name: str, mine: Any, theirs: Any, my_country: Any, their_country: Any, region: str | None
) -> bool:
    if mine == theirs or (mine in ("", None) and theirs in ("", None)):
        return True
    if isinstance(mine, list) and isinstance(theirs, list):
        return sorted(map(str, mine)) == sorted(map(str, theirs))
    if not isinstance(mine, str) or not isinstance(theirs, str):
        return False
    if name == "email":
        return email_key(mine) is not None and email_key(mine) == email_key(theirs)
    if name == "vat":
        return vat_key(mine) == vat_key(theirs)
    if name in PHONE_FIELDS:
        number = phone_key(mine, my_country, region)
        return number is not None and number == phone_key(theirs, their_country, region)
    return text.fold(mine) == text.fold(theirs)


def label(values: Mapping[str, Any]) -> str:
    """A record for a reviewer: its name and the keys it has."""
    keys = [str(values[f]) for f in ("email", "vat", *PHONE_FIELDS) if values.get(f)]
    name = str(values.get("name") or "")
    return f"{name} ({', '.join(keys)})" if keys else name


class Matching:
    """Finds the twins of one run's records with no link; decides what to do with
    them from the candidates found and the review queue."""

    def __init__(self, ws: Workspace, ctx: RunContext, review: Review):
        self.ws = ws
        self.ctx = ctx
        self.review = review
        #: Records counted as ambiguous in this run (a record re-read is counted once).
        self._counted: set[tuple[str, str, int]] = set()

    def forget(self, entity: str, ids: Sequence[int], direction: Direction = "pull") -> None:
        """Forget that records were counted as ambiguous: their work was rolled back
        and is done again."""
        self._counted -= {(entity, direction, i) for i in ids}

    def keys(self, values: Mapping[str, Any]) -> RowKeys:
        """The keys of a record's values (in local terms)."""
        return party_keys(values, self.ws.phone_region)

    # -- pull: remote records looked up here --------------------------------------------
    def for_pull(self, s: Session, emap: EntityMap, records: Sequence[Record]) -> dict[int, Twin]:
        """What to do with remote records that have no link: remote id -> twin."""
        entity, binder = emap.entity, self.ctx.binder
        model = MODELS[entity]
        found: dict[int, dict[int, list[str]]]
        if self._all_linked(s, entity):
            # No local record without a link (a first pull into a new workspace, or
            # every record synced): no candidate to find, no key to compute.
            found = {int(r["id"]): {} for r in records}
        else:
            kinds = tuple(k for k in KINDS if k in ENTITY_KEYS[entity])
            keys = {int(r["id"]): self.keys(emap.from_remote(r, self.ctx)) for r in records}
            finds = Matcher(entity, kinds).find(s, list(keys.values()))
            orphans = binder.orphans(s, entity)
            found = {
                rid: {
                    lid: ks
                    for lid, ks in f.strong.items()
                    if binder.by_local(entity, lid) is None and lid not in orphans
                }
                for rid, f in zip(keys, finds, strict=True)
            }

        def free(local_id: int) -> bool:
            # A reviewer's choice merged away since is asked again.
            unlinked = binder.by_local(entity, local_id) is None
            return (
                unlinked
                and s.get(model, local_id) is not None
                and not survivors(s, model, [local_id])
            )

        return self._decide(entity, "pull", found, free)

    def _all_linked(self, s: Session, entity: str) -> bool:
        """Whether every local record of ``entity`` is linked to this backend (one
        indexed query: the first record without a link, if any)."""
        model: Any = MODELS[entity]
        link = ExternalLink
        linked = (
            select(link.local_id)
            .where(
                link.backend == self.ctx.binder.backend,
                link.entity == entity,
                link.local_id == model.id,
            )
            .exists()
        )
        return s.scalar(select(model.id).where(~linked).limit(1)) is None

    # -- push: local records looked up in the ERP ---------------------------------------
    def push_values(self, emap: EntityMap, objs: Sequence[Any]) -> dict[int, dict[str, Any]]:
        """The values of local records a lookup needs (their name and keys), read in
        the caller's session: local id -> values."""
        wanted = {"name", "country", *(f for fs in KEY_FIELDS.values() for f in fs)}
        names = [f.local for f in emap.fields if f.local in wanted]
        return {obj.id: snapshot(obj, names) for obj in objs}

    def for_push(self, emap: EntityMap, values: Mapping[int, Mapping[str, Any]]) -> dict[int, Twin]:
        """What to do with local records that have no link (``values``: see
        :meth:`push_values`): local id -> twin. Asks the ERP once per :data:`BATCH`
        records."""
        out: dict[int, Twin] = {}
        ids = sorted(values)
        within = list(emap.domain)
        if len(ids) > BATCH:
            # Many records (a first sync pushing a large base): only the ERP's records
            # with no link can be twins, and the pull before has linked nearly all of
            # them. One search for their ids narrows every lookup to those few (none:
            # no lookup at all) instead of a loose text search of every record per
            # batch.
            unlinked = self.ctx.adapter.all_ids(emap.remote_model, emap.domain)
            unlinked -= self.ctx.binder.remote_ids(emap.remote_model)
            if not unlinked:
                binder = self.ctx.binder
                return self._decide(
                    emap.entity,
                    "push",
                    {lid: {} for lid in ids},
                    lambda rid: binder.by_remote(emap.entity, rid) is None,
                )
            if len(unlinked) <= MAX_IDS:
                within = [*within, ["id", "in", sorted(unlinked)]]
        for start in range(0, len(ids), BATCH):
            chunk = {lid: values[lid] for lid in ids[start : start + BATCH]}
            out.update(self._push_batch(emap, chunk, within))
        return out

    def _push_batch(
        self, emap: EntityMap, values: Mapping[int, Mapping[str, Any]], within: list[Any]
    ) -> dict[int, Twin]:
        entity, binder = emap.entity, self.ctx.binder
        keys = {lid: self.keys(v) for lid, v in values.items()}
        ask: dict[str, set[str]] = {kind: set() for kind in KINDS}
        for lid, k in keys.items():
            if k.email:
                ask["email"].add(str(values[lid]["email"]))
            if k.vat:
                ask["vat"].add(k.vat)
            ask["phone"].update(k.phones)
        records: dict[int, Record] = {}
        if any(ask.values()):
            for r in self.ctx.adapter.match_candidates(
                emap.remote_model,
                {kind: sorted(v) for kind, v in ask.items() if v},
                emap.remote_fields,
                within,
            ):
                rid = int(r["id"])
                if binder.by_remote(entity, rid) is None and (
                    binder.as_other_kind(entity, emap.remote_model, rid) is None
                ):
                    records[rid] = r
        # Index the candidates by key: the ERP's answer is loose, the keys decide.
        index: dict[tuple[str, str], set[int]] = {}
        names: dict[int, str] = {}
        for rid, r in records.items():
            remote = emap.from_remote(r, self.ctx)
            names[rid] = str(remote.get("name") or "")
            for pair in _pairs(self.keys(remote)):
                index.setdefault(pair, set()).add(rid)
        found: dict[int, dict[int, list[str]]] = {}
        for lid, k in keys.items():
            cands: dict[int, list[str]] = {}
            for kind, value in _pairs(k):
                for rid in sorted(index.get((kind, value), ())):
                    if kind not in cands.setdefault(rid, []):
                        cands[rid].append(kind)
            found[lid] = cands
        twins = self._decide(
            entity, "push", found, lambda rid: binder.by_remote(entity, rid) is None
        )
        for twin in twins.values():
            if twin.kind == "match" and twin.other in records:
                twin.record = records[twin.other]
            twin.names = {rid: names[rid] for rid in twin.candidates if rid in names}
        return twins

    # -- deciding ------------------------------------------------------------------------
    def _decide(
        self,
        entity: str,
        direction: Direction,
        found: dict[int, dict[int, list[str]]],
        free: Callable[[int], bool],
    ) -> dict[int, Twin]:
        """Twins from the candidates found per record and the review queue."""
        pulling = direction == "pull"
        held_records = self.review.held(entity, "remote" if pulling else "local")
        held_others = self.review.held(entity, "local" if pulling else "remote")
        out: dict[int, Twin] = {}
        for rid, cands in found.items():
            own = self.review.row(entity, direction, rid)
            mine = {own.id} if own is not None and own.waiting else set()
            if own is not None and own.status == "decided":
                if own.choice is None:
                    out[rid] = Twin("new", row=own)
                    continue
                if free(own.choice):
                    out[rid] = Twin("match", own.choice, ("chosen",), row=own)
                    continue
                # The chosen record was linked or deleted meanwhile: ask again.
            if held_records.get(rid, set()) - mine:
                out[rid] = Twin("held")
            elif any(held_others.get(c, set()) - mine for c in cands) or len(cands) > 1:
                out[rid] = Twin("ambiguous", candidates=cands, row=own)
            elif cands:
                ((other, ks),) = cands.items()
                out[rid] = Twin("match", other, tuple(ks), row=own)
            else:
                out[rid] = Twin("new", row=own)
        # One candidate claimed by several records: none of them is sure, unless a
        # reviewer chose it for one.
        claims = Counter(t.other for t in out.values() if t.kind == "match")
        chosen = {t.other for t in out.values() if t.kind == "match" and t.keys == ("chosen",)}
        for rid, twin in out.items():
            doubtful = claims[twin.other] > 1 or twin.other in chosen
            if twin.kind == "match" and twin.keys != ("chosen",) and doubtful:
                out[rid] = Twin("ambiguous", candidates=found[rid], row=twin.row)
        return out

    # -- queueing ------------------------------------------------------------------------
    def hold(
        self,
        s: Session,
        emap: EntityMap,
        direction: Direction,
        record_id: int,
        values: Mapping[str, Any],
        twin: Twin,
        rep: ModelReport,
        names: Mapping[int, str],
    ) -> None:
        """Queue an ambiguous record for review (nothing is created for it), count it
        once per run, and say so in a dry run's plan."""
        what = label(values)
        candidates = [
            {"id": cid, "keys": ks, "name": names.get(cid, "")}
            for cid, ks in sorted(twin.candidates.items())
        ]
        self.review.queue(s, emap.entity, direction, record_id, what, candidates, self.ws.clock())
        seen = (emap.entity, direction, record_id)
        if seen not in self._counted:
            self._counted.add(seen)
            rep.ambiguous += 1
            where = "here" if direction == "pull" else "in the ERP"
            record = f"{emap.remote_model} #{record_id}" if direction == "pull" else f"#{record_id}"
            listed = ", ".join(f"#{cid} {said(ks)}" for cid, ks in sorted(twin.candidates.items()))
            self.ctx.note(
                f"ambiguous {emap.entity} {record} {what!r}: {len(candidates)} candidates "
                f"{where} ({listed}); nothing created, queued for review"
            )

    def local_names(self, s: Session, entity: str, ids: Sequence[int]) -> dict[int, str]:
        """The names of local records, for the review queue."""
        model: Any = MODELS[entity]
        return dict(s.execute(select(model.id, model.name).where(model.id.in_(list(ids)))).all())
