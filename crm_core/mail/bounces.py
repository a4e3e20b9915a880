"""Delivery failure reports: which addresses bounced, with the server's words.

A report is a ``multipart/report; report-type=delivery-status`` message (RFC 3464),
whose ``message/delivery-status`` part names each recipient with its ``Action`` and
``Status``; or a message from a mailer daemon carrying ``X-Failed-Recipients`` (Exim).
Only permanent failures (``Action: failed``, status 5.x.x) mark an address: a delayed
or temporary one says nothing about the address yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

_DAEMONS = ("mailer-daemon@", "postmaster@")
_MSG_ID = re.compile(r"<[^<>\s]+>")


@dataclass
class BouncedAddress:
    """One recipient a report says could not be reached."""

    address: str
    status: str | None
    reason: str | None


@dataclass
class Bounce:
    """A delivery failure report: its recipients and the message that bounced."""

    recipients: list[BouncedAddress] = field(default_factory=list)
    original_message_id: str | None = None


def _address(value: str | None) -> str | None:
    if not value:
        return None
    # "rfc822; someone@example.com"
    address = value.split(";", 1)[-1].strip().strip("<>").lower()
    return address if "@" in address else None


def _dsn_fields(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _original_id(report: Message) -> str | None:
    for part in report.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                found = _MSG_ID.findall(str(inner[0].get("Message-ID", "")))
            else:
                found = re.findall(
                    r"^Message-ID:\s*(<[^<>\s]+>)", str(inner), re.IGNORECASE | re.MULTILINE
                )
            if found:
                return str(found[0])
    return None


def find_bounce(msg: Message, sender: str | None) -> Bounce | None:
    """The permanent failures ``msg`` reports, or None when it is no failure report."""
    bounce = Bounce()
    is_report = (
        msg.get_content_type() == "multipart/report"
        and str(msg.get_param("report-type", "")).lower() == "delivery-status"
    )
    if is_report:
        for part in msg.walk():
            if part.get_content_type() != "message/delivery-status":
                continue
            for block in _dsn_fields(part):
                address = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
                action = str(block.get("Action", "")).strip().lower()
                status = str(block.get("Status", "")).strip() or None
                permanent = action == "failed" and (status is None or status.startswith("5"))
                if address and permanent:
                    reason = block.get("Diagnostic-Code")
                    text = " ".join(str(reason).split()) if reason else None
                    bounce.recipients.append(BouncedAddress(address, status, text))
    elif sender and sender.startswith(_DAEMONS):
        failed = str(msg.get("X-Failed-Recipients", ""))
        for raw in failed.split(","):
            address = _address(raw)
            if address:
                bounce.recipients.append(BouncedAddress(address, None, "X-Failed-Recipients"))
    if not is_report and not bounce.recipients:
        return None
    bounce.original_message_id = _original_id(msg)
    return bounce
