"""What a fetch of one mailbox did: counts, skipped messages with reasons, errors."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Skipped:
    """A message not stored, and why."""

    folder: str
    uid: int
    reason: str
    message_id: str | None = None


@dataclass
class FetchReport:
    """The outcome of fetching one mailbox.

    ``fetched`` messages were read from the server; of them ``created`` became
    interactions, ``known`` were already stored (same Message-ID: a copy in another
    folder or mailbox, or a folder read again after its UIDVALIDITY changed),
    ``proposed`` wait for their sender to be accepted as a contact, ``unknown`` had no
    known contact (a mailbox importing only known contacts), ``bounces`` were delivery
    failure reports (``bouncing`` addresses marked by them; ``bounces_not_ours`` of
    them were about mail crmbook did not send, and marked no one) and ``skipped`` could
    not be stored. ``headers_only`` were over the size limit and stored without their body.
    ``unsubscribed`` are the contacts an ``unsubscribe <token>`` message opted out (the
    mailto of campaign mail's List-Unsubscribe); ``unsubscribe_ignored`` such messages
    whose token was not valid, with the reason (the message is stored all the same).
    ``busy`` says another process was fetching the mailbox, so this run did nothing;
    ``error`` ends a run early (the batches written before it stay).
    """

    mailbox: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    planned: int = 0
    fetched: int = 0
    created: int = 0
    known: int = 0
    proposed: int = 0
    new_proposals: int = 0
    unknown: int = 0
    bounces: int = 0
    bouncing: int = 0
    headers_only: int = 0
    bounces_not_ours: int = 0
    renumbered: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unsubscribed: list[int] = field(default_factory=list)
    unsubscribe_ignored: list[Skipped] = field(default_factory=list)
    busy: bool = False
    #: When busy: until when the other process's lease runs (renewed while it works).
    busy_until: dt.datetime | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the run read everything it planned to (skipped messages aside)."""
        return self.error is None and not self.busy

    def counts(self) -> dict[str, Any]:
        """The counts as plain values (what the mailbox keeps as its last report)."""
        out = {
            k: v for k, v in asdict(self).items() if k not in ("skipped", "started_at", "mailbox")
        }
        out["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        out["busy_until"] = self.busy_until.isoformat() if self.busy_until else None
        out["skipped"] = len(self.skipped)
        out["unsubscribed"] = len(self.unsubscribed)
        out["unsubscribe_ignored"] = len(self.unsubscribe_ignored)
        return out

    def __str__(self) -> str:
        if self.busy:
            until = (
                f" (its lease runs to {self.busy_until:%Y-%m-%d %H:%M} UTC unless it goes on "
                "working: a process of another machine that stopped holds it till then)"
                if self.busy_until is not None
                else ""
            )
            return f"{self.mailbox}: another process is fetching it{until}; nothing done"
        text = (
            f"{self.mailbox}: {self.fetched} message(s) read, {self.created} new "
            f"interaction(s), {self.known} already stored, {self.proposed} from proposed "
            f"contacts ({self.new_proposals} new), {self.unknown} without a known contact, "
            f"{self.bounces} bounce report(s), {len(self.skipped)} skipped"
        )
        if self.headers_only:
            text += f", {self.headers_only} too big (headers only)"
        if self.bounces_not_ours:
            text += (
                f", {self.bounces_not_ours} failure report(s) about mail crmbook did not"
                " send (no address marked)"
            )
        if self.unsubscribed:
            text += f", {len(self.unsubscribed)} opted out by mail"
        if self.unsubscribe_ignored:
            why = "; ".join(sorted({u.reason for u in self.unsubscribe_ignored}))
            text += f", {len(self.unsubscribe_ignored)} unsubscribe request(s) ignored ({why})"
        if self.renumbered:
            text += f"; read again (UIDVALIDITY changed): {', '.join(self.renumbered)}"
        if self.error:
            text += f"; stopped: {self.error}"
        return text
