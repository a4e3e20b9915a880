"""Hard messages through a real Dovecot: encoded-word subjects in four scripts, legacy
charsets, HTML only, broken MIME, no message at all, a huge message and a bounce."""

from __future__ import annotations

from email.header import Header

import pytest
from sqlalchemy import select

from crm_core.mail.parse import parse
from crm_core.models import Contact, EmailBounce, EmailMessage, OutboxMessage
from tests.crm_core.mail.conftest import IMRAN, OWN, message, record_sent, when

DATE = "Date: Sun, 10 May 2026 09:00:00 +0500\r\n"


def _raw(subject_header: str, mid: str, body: bytes, content_type: str, extra: str = "") -> bytes:
    head = (
        f"From: Imran Khan <{IMRAN}>\r\nTo: {OWN}\r\nSubject: {subject_header}\r\n"
        f"Message-ID: {mid}\r\n{DATE}MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
        f"{extra}\r\n"
    )
    return head.encode("ascii") + body


def _summaries(ws, contact_id: int) -> dict[str, str | None]:
    frame = ws.interactions.timeline(contact_id=contact_id)
    return dict(zip(frame["subject"], frame["summary"], strict=True))


def test_encoded_subjects_and_legacy_charsets_are_decoded(crm):
    ws, server = crm["ws"], crm["server"]
    subjects = {
        "<ur@k.example.com>": ("قیمت کی پیشکش", "utf-8"),  # Urdu
        "<bn@k.example.com>": ("মূল্য প্রস্তাব ও চালান", "utf-8"),  # Bengali
        "<ta@k.example.com>": ("விலைப்புள்ளி மற்றும் விநியோகம்", "utf-8"),  # Tamil
        "<ru@k.example.com>": ("Коммерческое предложение", "koi8-r"),  # Russian
    }
    for mid, (subject, charset) in subjects.items():
        encoded = Header(subject, charset).encode()  # RFC 2047 encoded words
        assert encoded.startswith("=?") and subject not in encoded
        server.append(_raw(encoded, mid, b"Plain text.\r\n", "text/plain; charset=us-ascii"))
    arabic = "نشكركم على طلبكم، السعر النهائي 12000 روبية"
    russian = "Счёт на оплату приложен"
    server.append(
        _raw(
            "cp1256 body",
            "<cp1256@k.example.com>",
            arabic.encode("cp1256"),
            "text/plain; charset=windows-1256",
            "Content-Transfer-Encoding: 8bit\r\n",
        )
    )
    server.append(
        _raw(
            "koi8-r body",
            "<koi8@k.example.com>",
            russian.encode("koi8-r"),
            'text/plain; charset="koi8-r"',
            "Content-Transfer-Encoding: 8bit\r\n",
        )
    )
    server.append(
        _raw(
            "cp1251 quoted-printable body",
            "<cp1251@k.example.com>",
            b"=D1=F7=B8=F2 =ED=E0 =EE=EF=EB=E0=F2=F3 =EF=F0=E8=EB=EE=E6=E5=ED\r\n",
            "text/plain; charset=windows-1251",
            "Content-Transfer-Encoding: quoted-printable\r\n",
        )
    )
    server.append(
        message(
            frm=IMRAN,
            to=OWN,
            subject="HTML only",
            body="",
            html="<html><head><style>p{color:red}</style></head><body><p>Dear Ayesha,</p>"
            "<p>Total: <b>PKR&nbsp;12,000</b> &amp; delivery<br>next week.</p>"
            "<script>alert(1)</script></body></html>",
            mid="<html@k.example.com>",
            date=when(10, 9),
        )
    )

    [report] = ws.mail.fetch("sales")

    assert (report.fetched, report.created, report.skipped) == (8, 8, [])
    summaries = _summaries(ws, crm["imran"]["id"])
    assert {s for s, _ in subjects.values()} <= set(summaries)
    assert summaries["cp1256 body"] == arabic
    assert summaries["koi8-r body"] == russian
    assert summaries["cp1251 quoted-printable body"] == russian
    assert summaries["HTML only"] == "Dear Ayesha,\n\nTotal: PKR 12,000 & delivery\nnext week."


def test_broken_mime_is_stored_and_no_message_is_skipped_with_a_reason(crm):
    ws, server = crm["ws"], crm["server"]
    server.append(  # a multipart whose boundary never comes
        _raw(
            "Broken boundary",
            "<broken@k.example.com>",
            b"The order is confirmed.\r\n",
            'multipart/mixed; boundary="never-there"',
        )
    )
    server.append(  # a base64 attachment cut short, with a charset nobody knows
        _raw(
            "Cut attachment",
            "<cut@k.example.com>",
            b"--b1\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
            b"See the invoice.\r\n--b1\r\nContent-Type: application/pdf; name=inv.pdf\r\n"
            b"Content-Disposition: attachment; filename=inv.pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK!!!\r\n",
            'multipart/mixed; boundary="b1"',
        )
    )
    server.append(b"\x00\x01\x02 binary noise, no headers at all \xff\xfe\r\n")

    [report] = ws.mail.fetch("sales")

    assert (report.fetched, report.created) == (3, 2)
    assert [(s.uid, s.reason) for s in report.skipped] == [
        (3, "no sender, Message-ID or date: not an e-mail message")
    ]
    skipped = ws.mail.skipped("sales")
    assert skipped[["folder", "uid", "reason"]].values.tolist() == [
        ["INBOX", 3, "no sender, Message-ID or date: not an e-mail message"]
    ]
    summaries = _summaries(ws, crm["imran"]["id"])
    assert summaries["Broken boundary"] == "The order is confirmed."
    assert summaries["Cut attachment"] == "See the invoice."
    with ws.transaction() as s:
        cut = s.scalars(
            select(EmailMessage).where(EmailMessage.message_id == "<cut@k.example.com>")
        ).one()
        assert [a["name"] for a in cut.attachments] == ["inv.pdf"]
    [again] = ws.mail.fetch("sales")  # a skipped message is not read again
    assert (again.fetched, again.skipped) == (0, [])


def test_a_huge_message_is_stored_without_its_body(crm):
    ws, server = crm["ws"], crm["server"]
    big = message(
        frm=IMRAN,
        to=OWN,
        subject="Site photos",
        mid="<photos@k.example.com>",
        date=when(11, 9),
        attachments=(("photos.pdf", b"%PDF" + bytes(range(256)) * 4096),),  # 1 MiB
    )
    server.append(big)
    server.append(
        message(frm=IMRAN, to=OWN, subject="Small", mid="<s@k.example.com>", date=when(11, 10))
    )

    [report] = ws.mail.fetch("sales", max_message_bytes=200_000)

    assert (report.fetched, report.created, report.headers_only) == (2, 2, 1)
    summaries = _summaries(ws, crm["imran"]["id"])
    size = len(big.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert summaries["Site photos"] == f"(not downloaded: {size:,} bytes, over the size limit)"
    assert summaries["Small"] == "Hello"


def test_a_bounce_marks_the_address_and_the_outbox_message(crm):
    ws, server = crm["ws"], crm["server"]
    record_sent(ws, "<offer-1@indus.example.com>")
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.indus.example.com>\r\n"
        f"To: {OWN}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.indus.example.com>\r\n"
        f"{DATE}MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.indus.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {IMRAN.upper()}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <imran@karachi-traders.example.com>:\r\n"
        " Recipient address rejected: User unknown\r\n\r\n"
        "--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {OWN}\r\nTo: {IMRAN}\r\nSubject: Eid offer\r\n"
        "Message-ID: <offer-1@indus.example.com>\r\n\r\n--R--\r\n"
    ).encode()
    server.append(dsn)

    [report] = ws.mail.fetch("sales")

    assert (report.bounces, report.bouncing, report.created) == (1, 1, 0)
    with ws.transaction() as s:
        assert s.get(Contact, crm["imran"]["id"]).email_bouncing is True
        bounce = s.scalars(select(EmailBounce)).one()
        assert (bounce.email_key, bounce.status, bounce.contact_id) == (
            IMRAN,
            "5.1.1",
            crm["imran"]["id"],
        )
        assert bounce.reason == (
            "smtp; 550 5.1.1 <imran@karachi-traders.example.com>: "
            "Recipient address rejected: User unknown"
        )
        assert bounce.bounced_message_id == "<offer-1@indus.example.com>"
        assert s.scalars(select(OutboxMessage.state)).one() == "bounced"
    changes = ws.journal.for_record("contacts", crm["imran"]["id"])  # journaled like any change
    assert "email_bouncing" in set(changes["field"])


@pytest.mark.parametrize(
    ("charset", "subject", "body"),
    [
        ("koi8-r", "Договор на обслуживание", "Добрый день, прошу выслать счёт."),
        ("cp1251", "Коммерческое предложение", "Здравствуйте, напоминаем о встрече."),
        ("cp1256", "مرحبا بكم", "نرجو إرسال العرض"),
        ("cp1252", "Réunion à Genève", "Café crème à la réunion."),
    ],
)
def test_undeclared_8bit_subjects_and_bodies_are_read_in_their_code_page(charset, subject, body):
    """No charset anywhere, raw bytes in the Subject and the body (old mailers): read in
    the code page that gives words (a short KOI8-R subject was taken for Chinese)."""
    raw = (
        f"From: {IMRAN}\r\nTo: {OWN}\r\nMessage-ID: <x@k.example.com>\r\n{DATE}".encode()
        + b"Subject: "
        + subject.encode(charset)
        + b"\r\n\r\n"
        + body.encode(charset)
        + b"\r\n"
    )
    parsed = parse(raw)
    assert (parsed.subject, parsed.summary) == (subject, body)


def test_a_senders_direction_controls_are_removed_from_subject_name_and_text():
    """An outside sender's "PKR \u202e000,05" would read "PKR 50,000" in the timeline: the
    invisible direction controls no field takes from a user are not taken from a message
    either; the marks LRM and RLM, which Urdu text uses, stay."""
    raw = message(
        frm=f'"Imran \u202eKhan\u202c" <{IMRAN}>',
        to=OWN,
        subject="Price: PKR \u202e000,05\u202c",
        body="قیمت\u200f: PKR \u2067000,05\u2069 per unit",
        mid="<bidi@k.example.com>",
        date=when(11, 10),
    )
    parsed = parse(raw)
    assert parsed.subject == "Price: PKR 000,05"
    assert parsed.from_name == "Imran Khan"
    assert parsed.summary == "قیمت\u200f: PKR 000,05 per unit"
