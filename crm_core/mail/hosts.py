"""Which IMAP servers a mailbox of a user other than an admin may name.

The server connects to a mailbox's host and port and reports how that went: a
mailbox a sales user (or a manager) adds would otherwise let them probe the server's
own network (``127.0.0.1:5432`` answering, or not). So a mailbox such a user adds, and
every fetch of a mailbox such a user owns (theirs, the scheduler's, an admin's, and a
drain's look in its Sent folder), may name only a host whose addresses are all public:
not loopback, private, link-local, multicast, reserved or unspecified. The name is
resolved each time (just before connecting, for a fetch); a name that does not resolve
reaches nothing and is left to fail as it would. An admin allows a host anyway with
the mail setting ``allowed_mail_hosts`` (``ws.mail.configure(allowed_mail_hosts=[...])``:
names or addresses, as a mailbox names its host or as the name resolves).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING, Any

from crm_core import validation as v
from crm_core.models import Mailbox, Setting, User

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: The mail setting (``settings`` table, ``mail.`` prefix) listing the allowed hosts.
SETTING = "allowed_mail_hosts"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _name(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def clean_list(value: Any) -> str | None:
    """The setting's stored form: host names or addresses, comma-separated (a list or
    a comma/space separated text is taken; an empty one clears the setting)."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple | set):
        raise v.Reject("must be a list of host names or addresses")
    names = []
    for item in value:
        text = v.optional_text(item, 255)
        if text is None:
            continue
        name = _name(text)
        if not name or any(c.isspace() or c in ",/@" for c in name):
            raise v.Reject(f"{text!r} is no host name or address")
        names.append(name)
    return ",".join(dict.fromkeys(names)) or None


def allowed(ws: Workspace) -> set[str]:
    """The hosts an admin allowed (lower case, no brackets)."""
    with ws.transaction() as s:
        row = s.get(Setting, "mail." + SETTING)
        return set(row.value.split(",")) if row is not None and row.value else set()


def _addresses(name: str) -> list[Address]:
    try:
        return [ipaddress.ip_address(name.split("%", 1)[0])]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []  # resolves to nothing: a connection reaches nothing either
    out: list[Address] = []
    for _family, _type, _proto, _canon, sockaddr in found:
        try:
            out.append(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        except ValueError:
            continue
    return out


def _kind(address: Address) -> str | None:
    """What makes ``address`` no public one (None: it is public)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind, test in (
        ("a loopback address", address.is_loopback),
        ("an unspecified address", address.is_unspecified),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
    ):
        if test:
            return kind
    return None if address.is_global else "not a public address"


def refusal(ws: Workspace, host: str, permitted: set[str] | None = None) -> str | None:
    """Why a mailbox of a user other than an admin may not name ``host`` (None: it
    may); ``permitted``: the allowed hosts when already read (:func:`allowed`)."""
    name = _name(host or "")
    if permitted is None:
        permitted = allowed(ws)
    if name in permitted:
        return None
    if name == "localhost" or name.endswith(".localhost"):
        found: list[Address] = [ipaddress.ip_address("127.0.0.1")]
    else:
        found = _addresses(name)
    for address in found:
        kind = _kind(address)
        if kind is not None and str(address) not in permitted:
            shown = "" if str(address) == name else f" ({address})"
            return (
                f"{host!r}{shown} is {kind}, not a public server: a mailbox of a user other"
                " than an admin reaches public IMAP servers only, unless an admin allows"
                " the host (ws.mail.configure(allowed_mail_hosts=[...]))"
            )
    return None


def checked_owner(ws: Workspace, box: Mailbox) -> bool:
    """Whether ``box``'s host is held to :func:`refusal`: it belongs to a user who is
    not an admin (whoever runs the fetch)."""
    if box.owner_id is None:
        return False  # a shared mailbox: only an admin (or the workspace) adds one
    with ws.transaction() as s:
        owner = s.get(User, box.owner_id)
        return owner is None or owner.role != "admin"


def box_refusal(ws: Workspace, box: Mailbox) -> str | None:
    """Why the server may not connect to ``box``'s host now (None: it may)."""
    return refusal(ws, box.host) if checked_owner(ws, box) else None


__all__ = ["SETTING", "allowed", "box_refusal", "checked_owner", "clean_list", "refusal"]
