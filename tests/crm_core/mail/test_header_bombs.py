"""Header bombs: a message of a few hundred KB whose headers hold thousands of encoded
words, addresses or Message-IDs. policy.default's header parser took 220 MB for a
Subject of 5,000 encoded words and ran out of memory at 20,000, so the fetch died on
that message every time; such a message is now read within a few MB, its headers cut
(each cut listed among its defects) and stored."""

from __future__ import annotations

import email
import tracemalloc
from collections.abc import Callable
from email import policy
from typing import Any

import pytest
from sqlalchemy import select

from crm_core.mail import parse as mail_parse
from crm_core.mail.parse import (
    MAX_ADDRESSES,
    MAX_REFERENCES,
    SUBJECT_CHARS,
    ParsedMail,
    parse,
)
from crm_core.models.mail import EmailMessage
from tests.crm_core.mail.conftest import IMRAN, OWN

#: One encoded word: the Arabic letter beh (U+0628) in UTF-8, base64.
WORD = "=?utf-8?B?2Kg=?="
BEH = "\u0628"
#: The most a message of a few hundred KB may take to parse.
PEAK_LIMIT = 50_000_000


def _raw(*headers: tuple[str, str], body: str = "body") -> bytes:
    found = {name.lower() for name, _ in headers}
    base = [
        ("From", "a@b.example"),
        ("To", "c@d.example"),
        ("Message-ID", "<x@y.example>"),
        ("Date", "Sun, 10 May 2026 09:00:00 +0500"),
    ]
    lines = [f"{n}: {v}" for n, v in base if n.lower() not in found]
    lines += [f"{n}: {v}" for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


def _measured(read: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = read()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _parsed(raw: bytes) -> ParsedMail:
    mail, peak = _measured(lambda: parse(raw))
    assert peak < PEAK_LIMIT, f"parsing took {peak / 1e6:.0f} MB"
    return mail  # type: ignore[no-any-return]


def test_a_subject_of_20000_encoded_words_is_decoded_and_cut():
    raw = _raw(("Subject", " ".join([WORD] * 20_000)))
    assert len(raw) > 300_000

    mail = _parsed(raw)

    assert mail.subject == BEH * SUBJECT_CHARS
    assert "HeaderCutDefect(Subject)" in mail.defects
    assert (mail.message_id, mail.from_address, mail.to) == (
        "<x@y.example>",
        "a@b.example",
        ["c@d.example"],
    )
    assert mail.text == "body"


def test_a_subject_of_250_encoded_words_is_decoded_as_policy_default_does():
    # Over what policy.default's parser is given, within what is kept: decoded by
    # hand to the same text, nothing cut.
    raw = _raw(("Subject", "Re: " + " ".join([WORD] * 250) + " done"))
    mail = _parsed(raw)
    assert mail.subject == "Re: " + BEH * 250 + " done"
    assert mail.subject == str(email.message_from_bytes(raw, policy=policy.default)["Subject"])
    assert not any(d.startswith("HeaderCut") for d in mail.defects)


@pytest.mark.parametrize(
    "subject",
    [
        "x" * (1 << 20),  # one 1 MB word
        "a " * (1 << 19),  # a 1 MB line of words
        "=?utf-8?q?" + "a" * (1 << 20) + "?=",  # one 1 MB encoded word
        " ".join(["=?utf-8?B?" + "2Kg" * 20 + "=?="] * 20_000),  # broken encoded words
    ],
    ids=["word", "words", "encoded-word", "broken-words"],
)
def test_a_subject_line_of_a_megabyte_is_cut(subject):
    mail = _parsed(_raw(("Subject", subject)))
    assert mail.subject is not None and 0 < len(mail.subject) <= SUBJECT_CHARS
    assert "HeaderCutDefect(Subject)" in mail.defects


@pytest.mark.parametrize(
    "to",
    [
        ", ".join(f"u{i}@d.example" for i in range(20_000)),
        ", ".join(f'"User {i}" <u{i}@d.example>' for i in range(20_000)),
        ", ".join(f"{WORD} <u{i}@d.example>" for i in range(20_000)),
    ],
    ids=["plain", "quoted-names", "encoded-names"],
)
def test_a_to_of_20000_addresses_is_capped(to):
    mail = _parsed(_raw(("To", to), ("Cc", to)))
    assert len(mail.to) == len(mail.cc) == MAX_ADDRESSES
    assert mail.to[:2] == ["u0@d.example", "u1@d.example"]
    assert mail.to == [f"u{i}@d.example" for i in range(MAX_ADDRESSES)]
    assert {"HeaderCutDefect(To)", "HeaderCutDefect(Cc)"} <= set(mail.defects)


def test_a_from_of_20000_encoded_words_is_read_within_bounds():
    mail = _parsed(_raw(("From", " ".join([WORD] * 20_000) + " <a@b.example>")))
    # The address is past what is read of the header: no sender, the message is kept.
    assert mail.message_id == "<x@y.example>"
    assert "HeaderCutDefect(From)" in mail.defects


def test_a_from_with_a_long_encoded_name_keeps_its_address():
    mail = _parsed(_raw(("From", " ".join([WORD] * 1_000) + " <a@b.example>")))
    assert mail.from_address == "a@b.example"
    assert mail.from_name is not None and mail.from_name.startswith(BEH * 100)
    assert len(mail.from_name) <= mail_parse.NAME_CHARS


def test_a_comment_of_a_megabyte_in_to_is_read_within_bounds():
    mail = _parsed(_raw(("To", "(" + "x" * (1 << 20) + ") c@d.example")))
    assert mail.message_id == "<x@y.example>"
    assert "HeaderCutDefect(To)" in mail.defects


def test_references_of_50000_ids_keep_the_root_and_the_nearest():
    ids = [f"<id{i}@x.example>" for i in range(50_000)]
    mail = _parsed(_raw(("References", " ".join(ids)), ("In-Reply-To", " ".join(ids[::-1]))))
    assert len(mail.references) == MAX_REFERENCES
    assert mail.references == [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    assert mail.in_reply_to == ids[-1]
    assert "HeaderCutDefect(References)" in mail.defects


def test_an_attachment_name_of_20000_encoded_words_is_cut():
    raw = _raw(
        ("MIME-Version", "1.0"),
        ("Content-Type", 'multipart/mixed; boundary="b1"'),
        body=(
            "--b1\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n--b1\r\n"
            "Content-Type: application/pdf\r\n"
            f'Content-Disposition: attachment; filename="{" ".join([WORD] * 20_000)}"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--"
        ),
    )
    mail = _parsed(raw)
    [attachment] = mail.attachments
    assert attachment.name.startswith(BEH * 100) and len(attachment.name) <= 255
    assert mail.text == "See the file."


def test_a_failure_report_with_bomb_headers_is_read_within_bounds():
    raw = _raw(
        ("From", "MAILER-DAEMON@b.example"),
        ("Subject", " ".join([WORD] * 20_000)),
        ("X-Failed-Recipients", "gone@d.example, " + " ".join([WORD] * 20_000)),
        ("Content-Type", "text/plain"),
    )
    mail = _parsed(raw)
    assert mail.bounce is not None
    assert [r.address for r in mail.bounce.recipients] == ["gone@d.example"]


def test_a_header_bomb_is_stored_by_a_fetch_with_its_subject_cut(crm):
    ws, server = crm["ws"], crm["server"]
    bomb = (
        f"From: Imran Khan <{IMRAN}>\r\nTo: {OWN}\r\n"
        f"Subject: {' '.join([WORD] * 20_000)}\r\n"
        f"References: {' '.join(f'<id{i}@x.example>' for i in range(50_000))}\r\n"
        "Message-ID: <bomb@k.example.com>\r\nDate: Sun, 10 May 2026 09:00:00 +0500\r\n"
        "\r\nThe price list.\r\n"
    ).encode()
    server.append(bomb)

    [report] = ws.mail.fetch("sales")

    assert (report.fetched, report.created, report.skipped) == (1, 1, [])
    with ws.transaction() as s:
        stored = s.scalars(
            select(EmailMessage).where(EmailMessage.message_id == "<bomb@k.example.com>")
        ).one()
        assert stored.subject == BEH * SUBJECT_CHARS
        assert len(stored.references) == MAX_REFERENCES
        assert stored.thread_id == "<id0@x.example>"


def test_an_address_longer_than_any_server_takes_is_left_out_and_noted():
    long = "a" * 300 + "@example.com"
    raw = (
        f"From: {long}\r\nTo: ok@example.com, {long}\r\nSubject: x\r\n"
        "Message-ID: <long@x>\r\n\r\nbody\r\n"
    ).encode()
    parsed = parse(raw)
    assert parsed.from_address is None and parsed.to == ["ok@example.com"]
    assert "AddressTooLongDefect(To)" in parsed.defects
