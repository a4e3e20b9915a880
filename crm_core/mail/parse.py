"""One raw message (bytes from IMAP) to the facts an interaction keeps.

Parsed with the standard library's ``email`` package: encoded-word headers (RFC 2047)
in any script are decoded as ``policy.default`` decodes them; a body is decoded with its
declared charset (``cp1256``, ``koi8-r``, ``windows-1251``, ...) or, when that is
missing or wrong, the charset ``charset-normalizer`` detects. Broken MIME is read as far
as it goes (its defects are listed); only bytes that are no message at all raise
:class:`Unreadable`.

Speed: ``policy.default`` builds a parsed header object for every header the parser or
we look at, which was most of a message's cost. The message is split into parts with
``policy.compat32`` (headers kept as written), and ``policy.default``'s header parser
is asked only for the headers that need it: those with encoded words or 8-bit bytes,
address headers that are not plain ``Name <addr>`` lists. What comes out is what
``policy.default`` alone gives (bench/mail.py, tests/crm_core/mail/).

Bounds: ``policy.default``'s header parser costs far more than the value it reads (a
Subject of 5,000 encoded words, 83 KB, took 220 MB; 20,000 words ran out of memory, so
a fetch died on that message every time). It is given at most :data:`RICH_CHARS`
characters and :data:`RICH_WORDS` encoded words of a header: a longer Subject is cut
(at a word's edge) before it is decoded, an address header over :data:`ADDRESS_CHARS`
is cut after an address and one over the parser's bound is read by the cheap parser
(``getaddresses``, display names decoded by hand); at most :data:`MAX_ADDRESSES`
addresses of a header and :data:`MAX_REFERENCES` Message-IDs of References are kept.
Each cut is listed among the message's defects (``HeaderCutDefect(Subject)``, ...).
"""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.policy import EmailPolicy
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from crm_core.imports.encoding import best_code_page
from crm_core.mail.bounces import Bounce, find_bounce
from crm_core.mail.html_text import html_to_text
from crm_core.models.mail import MESSAGE_ID_LEN
from crm_core.validation import DIRECTION_CONTROLS

#: The most characters of a message's text an interaction's summary keeps.
SUMMARY_CHARS = 4000
SUBJECT_CHARS = 300
#: The most characters of a sender's display name kept (a proposal's name column).
NAME_CHARS = 300
#: The longest header value, and the most encoded words in one, given to
#: ``policy.default``'s parser (its cost grows much faster than the value): a longer
#: one is cut, or read by the cheap parser.
RICH_CHARS = 8000
RICH_WORDS = 200
#: The most characters of an address header (To, Cc, From) read at all.
ADDRESS_CHARS = 65536
#: The most addresses kept of one address header.
MAX_ADDRESSES = 1000
#: The longest address kept (RFC 5321's limit on a path: 254 characters).
MAX_ADDRESS_LEN = 254
#: The most Message-IDs kept of References: the first (the thread's root) and the
#: last ones (the nearest), as RFC 5322 lets a client trim the middle.
MAX_REFERENCES = 100
_MSG_ID = re.compile(r"<[^<>\s]+>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_DIRECTIONS = re.compile(f"[{DIRECTION_CONTROLS}]")
_QUOTED = re.compile(r"^\s*>.*$", re.MULTILINE)


class Unreadable(ValueError):
    """Bytes that are no e-mail message: the reason says why."""


@dataclass
class Attachment:
    """An attached file: its name, size in bytes and MIME type."""

    name: str
    size: int
    type: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "type": self.type}


@dataclass
class ParsedMail:
    """What crmbook keeps of one message."""

    message_id: str
    in_reply_to: str | None
    references: list[str]
    subject: str | None
    from_name: str | None
    from_address: str | None
    to: list[str]
    cc: list[str]
    sent_at: dt.datetime | None
    text: str | None
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    bounce: Bounce | None = None
    #: False when only the headers were read (a message over the size limit).
    complete: bool = True

    @property
    def summary(self) -> str | None:
        """The message's own words for the timeline: quoted lines left out, shortened."""
        if not self.text:
            return None
        own = _QUOTED.sub("", self.text)
        own = re.sub(r"\n{3,}", "\n\n", own).strip() or self.text.strip()
        return own[:SUMMARY_CHARS] or None


def clean_text(value: str | None, multiline: bool = False) -> str | None:
    """Text a database and crm_core's validation accept: control characters and lone
    surrogates become spaces (tab and line breaks kept in ``multiline`` text), and the
    invisible direction controls are removed (a sender's "PKR \u202e000,05" would read
    "PKR 50,000" in the timeline)."""
    if value is None:
        return None
    value = _DIRECTIONS.sub("", value)
    if multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
        value = re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]", " ", value)
    else:
        value = _CONTROL.sub(" ", value.replace("\t", " ").replace("\n", " ").replace("\r", " "))
        value = re.sub(r" {2,}", " ", value)
    return value.strip() or None


def message_id_key(value: str) -> str:
    """A Message-ID as stored: ``<...>`` kept; one too long for its column is shortened
    to a prefix and its hash, the same every time."""
    if len(value) <= MESSAGE_ID_LEN:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()
    return value[: MESSAGE_ID_LEN - 66] + "#" + digest + ">"


def message_ids(value: str | None) -> list[str]:
    """The Message-IDs in a header (References, In-Reply-To), in order, each once."""
    if not value:
        return []
    seen: dict[str, None] = {}
    for found in _MSG_ID.findall(value):
        if not any("\udc80" <= ch <= "\udcff" for ch in found):  # raw 8-bit: unusable
            seen.setdefault(message_id_key(found), None)
    return list(seen)


def _trim_references(ids: list[str], notes: list[str]) -> list[str]:
    """At most :data:`MAX_REFERENCES` of ``ids``: the first and the last ones."""
    if len(ids) <= MAX_REFERENCES:
        return ids
    notes.append("HeaderCutDefect(References)")
    return [ids[0], *ids[-(MAX_REFERENCES - 1) :]]


def _cut(value: str, words: int = RICH_WORDS) -> tuple[str, bool]:
    """``value`` cut to what ``policy.default``'s parser reads cheaply (at most
    :data:`RICH_CHARS` characters and ``words`` encoded words), at the start of an
    encoded word or at a space so that no word is split; whether it was cut."""
    if len(value) <= RICH_CHARS and value.count("=?") <= words:
        return value, False
    cut = value[:RICH_CHARS]
    at = -1
    for _ in range(min(words, RICH_CHARS) + 1):  # where the first word too many starts
        at = cut.find("=?", at + 1)
        if at < 0:
            break
    if at >= 0:
        cut = cut[:at]
    else:
        space = max(cut.rfind(" "), cut.rfind("\t"), cut.rfind("\n"))
        if space > 0:
            cut = cut[:space]
    return cut.rstrip(), True


def _cut_list(value: str) -> tuple[str, bool]:
    """An address header's value cut to :data:`ADDRESS_CHARS` after a comma."""
    if len(value) <= ADDRESS_CHARS:
        return value, False
    cut = value[:ADDRESS_CHARS]
    comma = cut.rfind(",")
    return (cut[:comma] if comma > 0 else cut), True


class _BoundedPolicy(EmailPolicy):
    """``policy.default`` given each header cut by :func:`_cut` (its parser's cost)."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        return super().header_fetch_parse(name, _cut(value)[0])


class _Headers:
    """A message's headers: each one's first value as written (``raw``, unfolded),
    the same with its whitespace collapsed (``get``), by lower-case name."""

    def __init__(self, msg: Message):
        self.raw: dict[str, str] = {}
        for name, value in msg.raw_items():
            self.raw.setdefault(name.lower(), str(value))
        self.plain = {k: _collapse(v) for k, v in self.raw.items()}
        #: What was cut or left out of the headers: added to the message's defects.
        self.notes: list[str] = []

    def get(self, name: str, default: Any = None) -> Any:
        return self.plain.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.raw

    def rich(self, name: str) -> Any:
        """The header as ``policy.default`` parses it (``msg.get(name)`` there)."""
        return _RICH.header_fetch_parse(name, self.raw[name.lower()])


#: policy.default, each header cut to what its parser reads cheaply.
_RICH = _BoundedPolicy()
#: Whitespace that is not one space (what str.split() splits on).
_SPACES = re.compile(r"\s{2,}|[^\S ]")
_PIECE = 65536


def _collapse(value: str) -> str:
    """``" ".join(value.split())``; a long value a piece at a time (``split`` or one
    ``re.sub`` would hold each word of a megabyte header at once: 60 MB)."""
    if len(value) <= _PIECE:
        return " ".join(value.split())
    pieces = [_SPACES.sub(" ", value[i : i + _PIECE]) for i in range(0, len(value), _PIECE)]
    return _SPACES.sub(" ", "".join(pieces)).strip()  # the runs where pieces meet


#: A header value policy.default reads as it is written: ASCII, no encoded word.
_PLAIN = re.compile(r"[\x20-\x7e\t]*")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]"
_ADDR = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
#: One address as ``Name Words <local@domain>`` or bare ``local@domain``: a form
#: whose display name and address policy.default's parser gives as written.
_SIMPLE_ADDRESS = re.compile(rf" *(?:((?:{_ATEXT}+(?: {_ATEXT}+)*)? ?)<({_ADDR})>|({_ADDR})) *")


def _is_plain(value: str) -> bool:
    return "=?" not in value and _PLAIN.fullmatch(value) is not None


def _header(msg: Message, name: str, headers: _Headers) -> str | None:
    """A header's decoded text; a header the parser cannot read is decoded by hand, and
    raw 8-bit bytes in one (no encoded words) in the message's charset or the detected
    one."""
    raw_value = headers.get(name.lower())
    if raw_value is None:
        return None
    # At most RICH_CHARS characters (some thousand more than a column keeps); one
    # with more encoded words than policy.default's parser reads cheaply is decoded
    # by hand, as one that parser fails on.
    raw_value, cut = _cut(raw_value, words=RICH_CHARS)
    if cut:
        headers.notes.append(f"HeaderCutDefect({name})")
    if any("\udc80" <= ch <= "\udcff" for ch in raw_value):
        raw = raw_value.encode("utf-8", "surrogateescape")
        return _decode(raw, msg.get_content_charset()).strip()
    if _is_plain(raw_value):  # what policy.default would give, whitespace aside
        return raw_value
    if raw_value.count("=?") > RICH_WORDS:
        return _decode_words(raw_value)
    try:
        value = headers.rich(name) if not cut else _RICH.header_fetch_parse(name, raw_value)
    except Exception:  # the email package raises on some malformed headers
        value = _decode_words(raw_value)
    if value is None:
        return None
    return str(value)


def _decode_words(raw: str) -> str:
    parts = []
    for chunk, charset in email.header.decode_header(raw):
        if isinstance(chunk, bytes):
            parts.append(_decode(chunk, charset))
        else:
            parts.append(chunk)
    return "".join(parts)


def _decode(raw: bytes, charset: str | None) -> str:
    """Bytes to text: the declared charset when it reads them, else the detected one."""
    if charset:
        try:
            return raw.decode(charset.strip().strip('"').lower())
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Undeclared 8-bit text: the code page whose reading is most plausibly words (one
    # script each, cased as words are), as an imported file is read; charset-normalizer
    # alone took a short KOI8-R subject for Chinese.
    found = best_code_page(raw)
    if found is not None:
        return raw.decode(found)
    return raw.decode("utf-8", "replace")


def _simple_addresses(value: str) -> list[tuple[str, str]] | None:
    """The (display name, address) pairs of a plain list of simple addresses, as
    policy.default reads them; None for any other (its parser reads those)."""
    if not _is_plain(value) or '"' in value:
        return None
    found = []
    for one in value.split(","):
        match = _SIMPLE_ADDRESS.fullmatch(one)
        if match is None:
            return None
        display, angled, bare = match.groups()
        found.append(((display or "").rstrip(), angled or bare))
    return found


def _addresses(msg: Message, name: str, headers: _Headers) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address header, lower-case addresses."""
    out: list[tuple[str, str]] = []
    value, cut = _cut_list(headers.raw[name.lower()])
    found = _simple_addresses(value.replace("\t", " "))
    if found is None and not _cut(value)[1]:  # else too much for policy.default's parser
        try:
            header: Any = headers.rich(name)
            found = [(a.display_name, a.addr_spec) for a in header.addresses] if header else []
        except Exception:
            found = None
    if found is None:
        # As written (the message is split with compat32): the parser that failed on
        # the value (or would cost too much) is not asked. Addresses are found in the
        # raw value and only the display names decoded: an encoded word decoding to
        # ", <someone@else>" would otherwise add an address the sender never had.
        raw = [value] + [_cut_list(str(v))[0] for v in msg.get_all(name, failobj=[])[1:]]
        found = [(_decode_words(_cut(d)[0]), a) for d, a in getaddresses(raw)]
    for display, address in found:
        address = (address or "").strip().strip("<>")
        if len(address) > MAX_ADDRESS_LEN:
            # no mail server delivers to it (RFC 5321: 254), and no column keeps it
            headers.notes.append(f"AddressTooLongDefect({name})")
            continue
        if "@" in address and not any(c.isspace() for c in address):
            if len(out) == MAX_ADDRESSES:
                cut = True
                break
            out.append((" ".join((display or "").split()), address.lower()))
    if cut:
        headers.notes.append(f"HeaderCutDefect({name})")
    return out


def _when(raw_date: str | None) -> dt.datetime | None:
    if not raw_date:
        return None
    try:
        when = parsedate_to_datetime(raw_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": the zone is unknown; UTC is what it says
        when = when.replace(tzinfo=dt.UTC)
    try:
        return when.astimezone(dt.UTC)
    except OverflowError:
        return None


def _part_text(part: Message, view: Message | None = None) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = str(part.get_payload()).encode("utf-8", "surrogateescape")
    return _decode(payload, (view or _view(part)).get_content_charset())


_MIME = ("content-type", "content-disposition")


def _view(part: Message) -> Message:
    """The part for asking its type, charset, disposition and file name: itself when
    its Content-Type and Content-Disposition are plain, else a message holding them
    as policy.default decodes them (an encoded-word file name, 8-bit bytes)."""
    raws: dict[str, str] = {}
    for name, value in reversed(list(part.raw_items())):
        if name.lower() in _MIME:
            raws[name.lower()] = str(value)  # the first one wins, as Message.get's
    if all(_is_plain(v) for v in raws.values()):
        return part
    shim = Message()
    shim.set_default_type(part.get_default_type())
    for name in _MIME:
        if name in raws:
            shim[name] = str(_RICH.header_fetch_parse(name, raws[name]))
    return shim


def _body_and_attachments(msg: Message) -> tuple[str | None, list[Attachment]]:
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        view = _view(part)
        ctype = view.get_content_type()
        disposition = view.get_content_disposition()
        try:
            filename = view.get_filename()
        except Exception:
            filename = None
        if disposition == "attachment" or (filename and not ctype.startswith("text/")):
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else len(str(part.get_payload()))
            name = clean_text(filename) or "(no name)"
            attachments.append(Attachment(name[:255], size, ctype))
            continue
        if ctype == "text/plain" and plain is None:
            plain = _part_text(part, view)
        elif ctype == "text/html" and html is None:
            html = _part_text(part, view)
    if plain is None and html is not None:
        plain = html_to_text(html)
    if plain is None and not attachments and isinstance(msg.get_payload(), str):
        # A multipart without its boundary: the text is all there is.
        plain = _part_text(msg)
    return plain, attachments


def _defects(msg: Message) -> list[str]:
    found: list[str] = []
    for part in msg.walk():
        found += [type(d).__name__ for d in getattr(part, "defects", [])]
    return sorted(set(found))


def _may_bounce(raw_headers: _Headers) -> bool:
    """Whether a message can be a failure report at all (a cheap look at its headers)."""
    return (
        "report" in raw_headers.get("content-type", "").lower()
        or "x-failed-recipients" in raw_headers
    )


def _bounce(raw: bytes, sender: str | None) -> Bounce | None:
    """A failure report's facts, read from the message as policy.default parses it,
    each header cut to what its parser reads cheaply (rare: only messages that may be
    one)."""
    return find_bounce(email.message_from_bytes(raw, policy=_RICH), sender)


def parse(raw: bytes, *, complete: bool = True) -> ParsedMail:
    """The facts of one message. ``complete=False`` says ``raw`` is only the headers.

    Raises :class:`Unreadable` for bytes with no sender, no Message-ID and no date: no
    message at all."""
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    raw_headers = _Headers(msg)
    senders = _addresses(msg, "From", raw_headers) if "from" in raw_headers else []
    given_id = message_ids(raw_headers.get("message-id"))
    sent_at = _when(raw_headers.get("date"))
    if not senders and not given_id and sent_at is None:
        raise Unreadable("no sender, Message-ID or date: not an e-mail message")
    references = _trim_references(message_ids(raw_headers.get("references")), raw_headers.notes)
    replied = message_ids(raw_headers.get("in-reply-to"))
    text, attachments = (None, []) if not complete else _body_and_attachments(msg)
    subject = clean_text(_header(msg, "Subject", raw_headers))
    if given_id:
        mid = given_id[0]
    else:  # the same bytes always get the same made-up id, so a re-read finds it
        mid = f"<{hashlib.sha256(raw[:65536]).hexdigest()}@no-message-id.crmbook.invalid>"
    name, address = senders[0] if senders else ("", None)
    to = [a for _, a in _addresses(msg, "To", raw_headers)] if "to" in raw_headers else []
    cc = [a for _, a in _addresses(msg, "Cc", raw_headers)] if "cc" in raw_headers else []
    from_name = clean_text(name)
    return ParsedMail(
        message_id=mid,
        in_reply_to=replied[0] if replied else None,
        references=references,
        subject=subject[:SUBJECT_CHARS] if subject else None,
        from_name=from_name[:NAME_CHARS] if from_name else None,
        from_address=address,
        to=to,
        cc=cc,
        sent_at=sent_at,
        text=clean_text(text, multiline=True),
        attachments=attachments,
        defects=sorted(set(_defects(msg) + raw_headers.notes)),
        bounce=_bounce(raw, address) if complete and _may_bounce(raw_headers) else None,
        complete=complete,
    )
