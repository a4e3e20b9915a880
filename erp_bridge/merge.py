"""Field-level three-way merge against the last-synced values.

For each field: if neither side moved away from its last-synced value there is nothing
to do; if only one side moved, that side wins; if both moved, the field's owner wins
(the ERP owns accounting fields, the CRM owns pipeline fields) and shared fields follow
the configured policy. Every both-changed case is returned as a :class:`Conflict`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Owner = Literal["erp", "crm", "shared"]
Policy = Literal["last_writer", "erp", "crm"]
MISSING = object()


@dataclass(frozen=True)
class Conflict:
    """A field both sides changed since the last sync, and which side won."""

    field: str
    base: Any
    local: Any
    remote: Any
    winner: Literal["local", "remote"]
    rule: str


@dataclass
class MergeResult:
    """What to write where after merging one record."""

    to_local: dict[str, Any] = field(default_factory=dict)
    to_remote: dict[str, Any] = field(default_factory=dict)
    merged: dict[str, Any] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)


def merge(
    base_local: Mapping[str, Any],
    base_remote: Mapping[str, Any],
    local: Mapping[str, Any],
    remote: Mapping[str, Any],
    owners: Mapping[str, Owner],
    *,
    policy: Policy = "last_writer",
    local_changed_at: dt.datetime | None = None,
    remote_changed_at: dt.datetime | None = None,
) -> MergeResult:
    """Merge one record's fields; all values are in local terms.

    Each side is compared with its own last-synced copy: ``base_local`` is what the
    local record held after the last sync (as crm_core stored it, normalised) and
    ``base_remote`` what the ERP held then (as it sent it). So normalisation on one
    side (an e-mail's domain lower-cased, a phone put in E.164) is never mistaken for
    a change to push back. A field absent from either current side is not touched.
    Under ``last_writer`` a shared field goes to the side changed most recently (the
    ERP on a tie, as the books are the reference).
    """
    result = MergeResult()
    for name in sorted(set(local) & set(remote)):
        mine, theirs = local[name], remote[name]
        local_moved = not _same(mine, base_local.get(name, MISSING))
        remote_moved = not _same(theirs, base_remote.get(name, MISSING))
        result.merged[name] = mine
        if not remote_moved and not local_moved:
            continue
        if remote_moved and not local_moved:
            result.to_local[name] = theirs
            result.merged[name] = theirs
            continue
        if local_moved and not remote_moved:
            result.to_remote[name] = mine
            continue
        if _same(mine, theirs):
            continue
        winner, rule = _decide(
            owners.get(name, "shared"), policy, local_changed_at, remote_changed_at
        )
        if winner == "remote":
            result.to_local[name] = theirs
            result.merged[name] = theirs
        else:
            result.to_remote[name] = mine
        before = base_local.get(name)
        result.conflicts.append(Conflict(name, before, mine, theirs, winner, rule))
    return result


def _decide(
    owner: Owner, policy: Policy, local_at: dt.datetime | None, remote_at: dt.datetime | None
) -> tuple[Literal["local", "remote"], str]:
    if owner == "erp":
        return "remote", "erp owns field"
    if owner == "crm":
        return "local", "crm owns field"
    if policy == "erp":
        return "remote", "policy: erp wins"
    if policy == "crm":
        return "local", "policy: crm wins"
    if local_at is not None and remote_at is not None and local_at > remote_at:
        return "local", "last writer: crm"
    return "remote", "last writer: erp"


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    # Tag lists compare as sets; empty text and None are the same absence.
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return sorted(map(str, a)) == sorted(map(str, b))
    if a in ("", None) and b in ("", None):
        return True
    return bool(a == b)
