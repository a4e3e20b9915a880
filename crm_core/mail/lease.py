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

from sqlalchemy import or_, select, update
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
    """Take (or renew) the lease of the mailbox for ``owner``; False if another holds
    it. A lease held by a process of this machine that is gone (killed) is taken over
    at once rather than left to expire."""
    free = [Mailbox.lease_until.is_(None), Mailbox.lease_until < now, Mailbox.lease_owner == owner]
    held = s.scalar(select(Mailbox.lease_owner).where(Mailbox.id == mailbox_id))
    if held is not None and held != owner and gone(held):
        free.append(Mailbox.lease_owner == held)
    result = s.execute(
        update(Mailbox)
        .where(Mailbox.id == mailbox_id, or_(*free))
        .values(lease_owner=owner, lease_until=now + LEASE_TTL)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def gone(held: str) -> bool:
    """Whether the process a lease names (:func:`holder`) is known to be gone: it ran on
    this machine and no process has its id now. Another machine's is never known."""
    host, _, rest = held.rpartition(":")[0].rpartition(":")
    if host != socket.gethostname()[:120] or not rest.isdecimal():
        return False
    try:
        os.kill(int(rest), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


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
