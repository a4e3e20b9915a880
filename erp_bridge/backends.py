"""One ERP database is one backend, whatever address it is reached by.

An adapter names its backend from what the user typed (Odoo: ``odoo:db@host:port``),
so ``http://127.0.0.1:8611`` and ``http://localhost:8611`` would be two backends with
their own links, cursors and run lock, and a run under the second spelling would copy
every deal and activity again on both sides. Before a run, :func:`resolve` maps a
spelling this workspace has not used yet to the backend it already knows for that
database, and the adapter takes that backend's name for the run (links, cursors, the
run lock, conflicts, failures: all keyed on it).

Two ways to know it is the same database, asked only for a new spelling while the
workspace syncs with another backend (a workspace with one address never pays for
it): the database's own identity (``Adapter.identity``: Odoo's ``database.uuid``,
remembered for the backend from then on), and, for a backend whose identity was
never read or a user who may not read it (Odoo's non-admin users), the adapter's own
comparison of addresses (``Adapter.same_server``: the same database name and port on
a host that resolves to the same address). A new
spelling found to be a known backend is remembered as such (``same_as``), so later
runs under it resolve without asking the ERP.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_core import Workspace
from crm_core.models import SyncState
from erp_bridge.adapter import Adapter
from erp_bridge.pages import get_state, set_state

#: State key under a backend: the ERP database's own identity.
IDENTITY = "identity"
#: State key under a spelling of an address: the backend it names.
SAME_AS = "same_as"


def resolve(ws: Workspace, adapter: Adapter, *, remember: bool = True) -> str:
    """The backend ``adapter`` talks to as this workspace knows it; sets
    ``adapter.backend`` to it. ``remember`` False (a dry run) stores nothing.

    Raises :class:`~erp_bridge.adapter.Unavailable` when the ERP must be asked and
    cannot be."""
    typed = adapter.backend
    with ws.transaction() as s:
        alias = get_state(s, typed, SAME_AS)
        asked = get_state(s, typed, IDENTITY) is not None
        rows = s.execute(select(SyncState.backend, SyncState.key)).all()
    if alias:
        adapter.backend = alias
        return alias
    known = {b for b, _ in rows} - {b for b, key in rows if key == SAME_AS}
    if typed in known and asked:
        return typed
    # A spelling not used yet, or a backend from before identities were kept: ask once
    # ("" remembers that this user may not read it).
    identity = adapter.identity() or ""
    found = None if typed in known else _same_database(ws, adapter, known - {typed}, identity)
    if remember:
        # Two processes may resolve the same spelling at once (the run lock comes after
        # this): the second finds the same facts stored and keeps them.
        with contextlib.suppress(IntegrityError), ws.transaction() as s:
            if found is not None:
                set_state(s, typed, SAME_AS, found)
            if not get_state(s, found or typed, IDENTITY):
                set_state(s, found or typed, IDENTITY, identity)
    adapter.backend = found or typed
    return adapter.backend


def _same_database(ws: Workspace, adapter: Adapter, others: set[str], identity: str) -> str | None:
    """The one of ``others`` that is the database ``adapter`` reaches: the one with
    ``identity``, else one with no identity known at an address of the same server."""
    with ws.transaction() as s:
        identities = {b: get_state(s, b, IDENTITY) for b in sorted(others)}
    for backend, known in identities.items():
        if identity and known == identity:
            return backend
    for backend, known in identities.items():
        # A user who may not read the identity (not an administrator) is recognised
        # by the address alone, as for a backend whose identity was never read.
        if (not known or not identity) and adapter.same_server(backend):
            return backend
    return None
