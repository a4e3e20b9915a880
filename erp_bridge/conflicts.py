"""Review and re-decide the conflicts a sync recorded.

A manager's or an admin's work, as running the sync is
(:func:`crm_core.access.check_unrestricted`): a conflict names any record of the team
(another rep's deal among them) and deciding one writes to the ERP. A sales user is
refused both the list and the decision, as the app's Sync page shows neither to them.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pandas as pd
from sqlalchemy import select

from crm_core import Workspace, access, text, validation
from crm_core.errors import FieldError, NotFoundError, ValidationError
from crm_core.journal import encode, plain
from crm_core.keys import PHONE_FIELDS, phone_key
from crm_core.models import ExternalLink, SyncConflict
from erp_bridge.adapter import Adapter
from erp_bridge.binder import Binder
from erp_bridge.context import RunContext
from erp_bridge.local import MODELS, LocalWriter, shown_value, snapshot
from erp_bridge.mapper import EntityMap, later
from erp_bridge.reconcile import _jsonable


def open_conflicts(ws: Workspace) -> pd.DataFrame:
    """Every conflict not yet confirmed, with both values (a linked record, such as a
    stage or an owner, by its name) and the side that was kept.
    Managers and admins only (a sales user is refused, not shown a narrowed list: the
    values are of any record)."""
    access.check_unrestricted(ws, "review", "the sync's conflicts")
    with ws.transaction() as s:
        rows = [
            {
                "id": c.id,
                "entity": c.entity,
                "local_id": c.local_id,
                "field": c.field,
                "crm": shown_value(s, c.field, json.loads(c.local_value or "null")),
                "erp": shown_value(s, c.field, json.loads(c.remote_value or "null")),
                "kept": c.winner,
                "rule": c.rule,
                "detected_at": c.detected_at,
            }
            for c in s.scalars(
                select(SyncConflict).where(SyncConflict.status == "open").order_by(SyncConflict.id)
            )
        ]
    return pd.DataFrame(
        rows,
        columns=["id", "entity", "local_id", "field", "crm", "erp", "kept", "rule", "detected_at"],
    )


def decide(
    ws: Workspace,
    adapter: Adapter,
    conflict_id: int,
    winner: Literal["crm", "erp"],
    maps: list[EntityMap] | None = None,
) -> Any:
    """Settle an open conflict: write the chosen side's value on both sides and close
    it; returns the value written (in local terms).

    The chosen side is read again (the local record, or the ERP's record through the
    adapter): while it still holds what the sync left on both sides, its value is the
    one recorded with the conflict (the side the sync overruled gets it back); an edit
    made there since is the value chosen, since writing the recorded one back would
    undo it. Choosing the side the sync already kept, unchanged since, only confirms
    it. The value goes through crm_core's validation locally and is written
    to the ERP as the sync would write it. A conflict already decided is refused (its
    decision is the last word, and its recorded values are older still). A manager's
    or an admin's decision, as running the sync is.
    """
    access.check_unrestricted(ws, "decide", f"conflict #{conflict_id}")
    if winner not in ("crm", "erp"):
        raise ValueError(f"winner must be 'crm' or 'erp', not {winner!r}")
    emaps = {m.entity: m for m in (maps or adapter.catalogue.maps())}
    binder = Binder(adapter.backend)
    with ws.transaction() as s:
        conflict = s.get(SyncConflict, conflict_id)
        if conflict is None or conflict.backend != adapter.backend:
            raise NotFoundError("conflict", conflict_id)
        if conflict.status != "open":
            reason = f"is already {conflict.status}: a conflict is decided once"
            raise ValidationError(
                [FieldError(f"conflict #{conflict_id}", "status", conflict.status, reason)]
            )
        emap = emaps[conflict.entity]
        obj = s.get(MODELS[conflict.entity], conflict.local_id)
        if obj is None:
            raise NotFoundError(conflict.entity, conflict.local_id)
        binder.load(s)
        ctx = RunContext(adapter, binder, "")
        fmap = next(f for f in emap.fields if f.local == conflict.field)
        fields = [conflict.field, *fmap.brings]
        record = snapshot(obj, [f.local for f in emap.fields])
        if winner == "crm":
            now = {k: record[k] for k in fields}
        else:
            now = _remote_now(adapter, emap, conflict, ctx, fields)
        region = ws.phone_region
        chosen = _chosen(conflict, winner, now[conflict.field], record.get("country"), region)
        # A stage taken from the ERP brings the ERP's probability along (crm_core
        # would give the deal the stage's default); the CRM's stage keeps the
        # probability the deal has here once it is in that stage.
        values = {conflict.field: chosen}
        if winner == "erp":
            values = emap.taken_along(values, now)
        _, errors = LocalWriter(ws).apply(s, conflict.entity, obj, values)
        if errors:
            raise ValidationError(errors)
        value = snapshot(obj, fields)
        record = snapshot(obj, [f.local for f in emap.fields])
        first, after = later(emap.to_remote(value, ctx, record))
        for written in (first, after):  # see mapper.Later
            if written:
                adapter.write(emap.remote_model, [conflict.remote_id], written)
        link = s.scalars(
            select(ExternalLink).where(
                ExternalLink.backend == adapter.backend,
                ExternalLink.entity == conflict.entity,
                ExternalLink.local_id == conflict.local_id,
            )
        ).one()
        agreed = _jsonable(value)
        link.synced = {
            side: {**(link.synced or {}).get(side, {}), **agreed} for side in ("local", "remote")
        }
        conflict.status = "decided"
        conflict.winner = "local" if winner == "crm" else "remote"
        conflict.rule = "decided by user"
        conflict.decided_at = ws.clock()
        conflict.decided_by_id = ws.user_id
        return agreed[conflict.field]


def _chosen(conflict: SyncConflict, winner: str, now: Any, country: Any, region: str | None) -> Any:
    """The value choosing ``winner`` writes: the one recorded with the conflict while
    that side still holds what the sync left on both sides (the kept value: the side
    that lost was overwritten with it), else ``now``, the edit made there since.

    "Still holds" compares the field's normal form, as the sync's merge and matching
    compare values: the kept value as the ERP wrote it (``+7 383 300 00 02``) is the
    same phone as crm_core stored it here (``+73833000002``); a difference of
    writing is no edit."""
    recorded = conflict.local_value if winner == "crm" else conflict.remote_value
    kept = conflict.local_value if conflict.winner == "local" else conflict.remote_value
    if _same_value(conflict.field, _as_recorded(now), json.loads(kept or "null"), country, region):
        return json.loads(recorded or "null")
    return now


def _same_value(field: str, now: Any, kept: Any, country: Any, region: str | None) -> bool:
    """``now`` and ``kept`` (both as recorded) are one value of ``field``: equal, or
    written differently but equal in the form crm_core stores (a phone in E.164 read
    in the record's country, an e-mail as crm_core keeps it, text without its
    surrounding blanks). Letter case is not writing: a name changed only in case is an
    edit."""
    if now == kept or (now in ("", None) and kept in ("", None)):
        return True
    if not isinstance(now, str) or not isinstance(kept, str):
        return False
    if field in PHONE_FIELDS:
        number = phone_key(now, country, region)
        return number is not None and number == phone_key(kept, country, region)
    if field == "email":
        address = _email(now)
        return address is not None and address == _email(kept)
    return text.clean(now) == text.clean(kept)


def _email(value: str) -> str | None:
    """An e-mail address as crm_core stores it (None: one it refuses)."""
    try:
        return validation.email(value)
    except validation.Reject:
        return None


def _as_recorded(value: Any) -> Any:
    """``value`` as a conflict records it (JSON: dates ISO, decimals as strings)."""
    return json.loads(encode(plain(value)) or "null")


def _remote_now(
    adapter: Adapter, emap: EntityMap, conflict: SyncConflict, ctx: RunContext, fields: list[str]
) -> dict[str, Any]:
    """``fields`` (the conflict's and those it brings) as the ERP holds them now, in
    local terms (read again through the adapter: they may have changed since the
    conflict was recorded)."""
    fmaps = [f for f in emap.fields if f.local in fields]
    wanted = sorted({name for f in fmaps for name in (f.remote, *f.reads)})
    records = adapter.read(emap.remote_model, [conflict.remote_id], wanted)
    if not records:
        raise NotFoundError(f"{emap.remote_model} record", conflict.remote_id)
    return {f.local: f.read_remote(records[0], ctx) for f in fmaps}
