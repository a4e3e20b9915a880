"""One process at a time fetches a mailbox: a lease on its row, with an expiry.

A process takes the lease with one conditional UPDATE (free, expired, or already its
own), renews it with every batch it writes, and gives it back at the end. PostgreSQL's
row lock and SQLite's single writer make the UPDATE atomic, so of two processes
starting at once exactly one gets it; a process that dies leaves a lease that expires.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from crm_core.errors import CrmError
from crm_core.models import Mailbox

#: How long a lease lasts without renewal.
LEASE_TTL = dt.timedelta(minutes=10)


class LeaseLost(CrmError):
    """Another process took the mailbox's lease (this one stalled past its expiry)."""


def holder() -> str:
    """A name for this process's leases: host, process id and a random part."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def take(s: Session, mailbox_id: int, owner: str, now: dt.datetime) -> bool:
    """Take (or renew) the lease of the mailbox for ``owner``; False if another holds it."""
    result = s.execute(
        update(Mailbox)
        .where(
            Mailbox.id == mailbox_id,
            or_(
                Mailbox.lease_until.is_(None),
                Mailbox.lease_until < now,
                Mailbox.lease_owner == owner,
            ),
        )
        .values(lease_owner=owner, lease_until=now + LEASE_TTL)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def renew(s: Session, mailbox_id: int, owner: str, now: dt.datetime) -> None:
    """Extend ``owner``'s lease; :class:`LeaseLost` if it is no longer theirs."""
    result = s.execute(
        update(Mailbox)
        .where(Mailbox.id == mailbox_id, Mailbox.lease_owner == owner)
        .values(lease_until=now + LEASE_TTL)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise LeaseLost("another process took over this mailbox's fetch")


def give_back(s: Session, mailbox_id: int, owner: str) -> None:
    """Release ``owner``'s lease (nothing if it is no longer theirs)."""
    s.execute(
        update(Mailbox)
        .where(Mailbox.id == mailbox_id, Mailbox.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
