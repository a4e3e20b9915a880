"""Reading a mailbox's folders over IMAP with imapclient: what is new, and its bytes.

A folder is read from the UID after the last one seen while its UIDVALIDITY is the one
seen; a changed UIDVALIDITY (the server renumbered the folder) reads it all again, and
the Message-IDs already stored keep that from duplicating anything. Messages are asked
for in batches; one over the size limit is read as headers only.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import imapclient
from imapclient import IMAPClient

#: Messages fetched per IMAP command (and written per transaction).
BATCH = 200
#: The default size over which only a message's headers are read.
MAX_MESSAGE_BYTES = 25 * 1024 * 1024


@dataclass
class FolderPlan:
    """A folder to read: its server name, UIDVALIDITY and the UIDs that are new."""

    name: str
    uidvalidity: int
    uids: list[int]
    renumbered: bool


@dataclass
class RawMessage:
    """One message as the server gave it."""

    uid: int
    raw: bytes
    size: int
    received: dt.datetime | None
    complete: bool


def connect(
    host: str, port: int, security: str, login: str, password: str, timeout: float = 60
) -> IMAPClient:
    """A logged-in client. ``security`` is ``tls`` (implicit TLS), ``starttls`` or
    ``none`` (loopback and tests only)."""
    context = ssl.create_default_context()
    client = IMAPClient(
        host, port=port, ssl=security == "tls", ssl_context=context, timeout=timeout
    )
    try:
        if security == "starttls":
            client.starttls(context)
        client.login(login, password)
    except Exception:
        client.shutdown()
        raise
    client.normalise_times = False  # aware INTERNALDATEs, not the local zone's
    return client


def server_folder(client: IMAPClient, wanted: str) -> str | None:
    """The server's name of folder ``wanted``: itself, or for "Sent" the folder the
    server flags as sent mail (``\\Sent``) when no folder has that name."""
    names = {name for _flags, _sep, name in client.list_folders()}
    if wanted in names:
        return wanted
    lowered = {name.lower(): name for name in names}
    if wanted.lower() in lowered:
        return lowered[wanted.lower()]
    if wanted.lower() == "sent":
        found = client.find_special_folder(imapclient.SENT)
        return str(found) if found else None
    return None


def plan(
    client: IMAPClient, folder: str, uidvalidity: int | None, last_uid: int, since: dt.date | None
) -> FolderPlan:
    """Select ``folder`` read-only and list the UIDs after ``last_uid`` (all, when its
    UIDVALIDITY is no longer ``uidvalidity``) received on or after ``since``."""
    info = client.select_folder(folder, readonly=True)
    current = int(info[b"UIDVALIDITY"])
    renumbered = uidvalidity is not None and current != uidvalidity
    start = 0 if renumbered or uidvalidity is None else last_uid
    criteria: list[object] = ["UID", f"{start + 1}:*"]
    if since is not None:
        criteria += ["SINCE", since]
    # "n:*" always matches the last message, even below n: keep only the new ones.
    uids = sorted(int(u) for u in client.search(criteria) if int(u) > start)
    return FolderPlan(folder, current, uids, renumbered)


def fetch(
    client: IMAPClient, uids: Sequence[int], max_bytes: int = MAX_MESSAGE_BYTES
) -> Iterator[RawMessage]:
    """The messages ``uids`` of the selected folder, in UID order: the whole message,
    or its headers alone when it is over ``max_bytes``."""
    sizes = client.fetch(list(uids), [b"RFC822.SIZE", b"INTERNALDATE"])
    small = [u for u in uids if u in sizes and sizes[u].get(b"RFC822.SIZE", 0) <= max_bytes]
    chosen = set(small)
    large = [u for u in uids if u in sizes and u not in chosen]
    bodies = client.fetch(small, [b"BODY.PEEK[]"]) if small else {}
    heads = client.fetch(large, [b"BODY.PEEK[HEADER]"]) if large else {}
    for uid in uids:
        if uid not in sizes:
            continue  # expunged meanwhile
        size = int(sizes[uid].get(b"RFC822.SIZE", 0))
        received = sizes[uid].get(b"INTERNALDATE")
        if isinstance(received, dt.datetime) and received.tzinfo is None:
            received = received.replace(tzinfo=dt.UTC)
        if uid in bodies:
            raw = bodies[uid].get(b"BODY[]") or b""
            yield RawMessage(uid, raw, size, received, True)
        elif uid in heads:
            raw = heads[uid].get(b"BODY[HEADER]") or b""
            yield RawMessage(uid, raw, size, received, False)
