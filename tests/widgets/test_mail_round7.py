"""The Mail page and crm_core's paused mailboxes and held messages, without a browser:
a mailbox deactivated or of a disabled user says why it is not fetched (and "Fetch
now" is not offered for it), its owner, a manager or an admin deactivates and
activates it (anyone else's refusal said in the page's language), and a queued
message of a disabled author shows as held, with why. Against a real Dovecot and a
real SMTP server on loopback, on SQLite and PostgreSQL (the ``ws`` fixture)."""

from __future__ import annotations

from typing import Any

import panel as pn
import pytest

from tests.crm_core.mail.conftest import IMRAN, OWN, message, when
from tests.crm_core.mail.smtpd import Smtpd, smtpd_fixture  # noqa: F401 (the fixture)
from tests.widgets.test_mail_page import three_boxes
from widgets import i18n
from widgets.mail_model import MailModel
from widgets.mail_page import MailPage

SENDER = "Ayesha Siddiqui <ayesha@indus.example.com>"
DENIED = "only a manager or an admin may (it is the whole team's)"


def _users(ws) -> None:
    ws.users.add("Ayesha", "ayesha", role="manager", password="pw-123456789")
    ws.users.add("Bilal", "bilal", role="sales", password="pw-123456789")
    ws.users.add("Olga", "olga", role="sales", password="pw-123456789")


def _paused(page: MailModel) -> dict[str, str]:
    return dict(zip(page.mailboxes["name"], page.mailboxes["paused"], strict=True))


def _active(ws) -> dict[str, bool]:
    found = ws.mail.status()
    return dict(zip(found["name"], found["active"].astype(bool), strict=True))


def _widget(layout: Any, css: str) -> Any:
    return next(w for w in layout.select() if css in (getattr(w, "css_classes", None) or []))


# -- a sales user: their own mailbox only ----------------------------------------------------
def test_a_sales_user_deactivates_and_activates_their_own_mailbox_only(ws):
    _users(ws)
    three_boxes(ws)
    bilal = MailModel(ws.as_user("bilal"))
    assert bilal.mailbox_names() == ["bilal", "shared"]
    assert _paused(bilal) == {"bilal": "", "shared": ""}
    assert bilal.may_switch("bilal") and not bilal.may_switch("shared")
    assert not bilal.may_switch("olga")  # not even shown to him

    done = bilal.deactivate("bilal")
    assert done is not None and done["active"] is False
    assert bilal.message_kind == "success"
    assert bilal.message == (
        "Mailbox bilal deactivated: it is not fetched until it is activated again."
    )
    assert _paused(bilal) == {"bilal": "deactivated", "shared": ""}
    assert bilal.paused("bilal") == "deactivated" and not bilal.is_active("bilal")
    assert _active(ws) == {"bilal": False, "olga": True, "shared": True}

    # the shared mailbox and another's: refused by crm_core, said as the page says refusals
    for name in ("shared", "olga"):
        assert bilal.deactivate(name) is None
        assert bilal.message_kind == "danger"
        assert bilal.message == (f"You may not deactivate mailboxes other than your own: {DENIED}")
    assert bilal.activate("shared") is None
    assert bilal.message == f"You may not activate mailboxes other than your own: {DENIED}"
    assert _active(ws) == {"bilal": False, "olga": True, "shared": True}
    with i18n.speaking("ru"):
        assert bilal.deactivate("olga") is None
        assert bilal.message == (
            "Вам нельзя отключать чужие почтовые ящики: это может только менеджер или "
            "администратор (это касается всей команды)"
        )
        assert bilal.activate("bilal") is not None
        assert bilal.message == "Почтовый ящик bilal включён: он снова загружается."
        assert _paused(bilal) == {"bilal": "", "shared": ""}
    assert _active(ws) == {"bilal": True, "olga": True, "shared": True}
    assert bilal.deactivate("") is None and bilal.message == "Choose a mailbox."


def test_a_sales_user_has_the_buttons_for_their_own_mailbox_only(ws):
    _users(ws)
    three_boxes(ws)
    page = MailPage(ws.as_user("bilal"))
    layout = page.__panel__()
    m = page.model
    box = _widget(layout, "crm-mail-box")
    fetch = _widget(layout, "crm-mail-fetch")
    deactivate = _widget(layout, "crm-mail-deactivate")
    activate = _widget(layout, "crm-mail-activate")
    box.value = "bilal"
    assert deactivate.visible and activate.visible
    assert (deactivate.disabled, activate.disabled) == (False, True)
    deactivate.clicks += 1
    assert m.paused("bilal") == "deactivated"
    assert (deactivate.disabled, activate.disabled) == (True, False)
    note = _widget(layout, "crm-mail-paused")
    assert note.object == "<i>Not fetched: deactivated</i>"
    assert fetch.disabled
    box.value = "shared"  # not his: no switch offered
    assert not deactivate.visible and not activate.visible and note.object == ""
    box.value = "bilal"
    activate.clicks += 1
    assert m.paused("bilal") == "" and _active(ws)["bilal"] is True


# -- a manager: every mailbox, and why one is not fetched ----------------------------------
def test_a_manager_sees_why_a_mailbox_is_not_fetched_and_cannot_fetch_it(crm):
    ws, server = crm["ws"], crm["server"]
    _users(ws)
    three_boxes(ws)
    server.append(
        message(
            frm=f"Imran Khan <{IMRAN}>",
            to=OWN,
            subject="Cold storage sizes",
            mid="<r7@karachi-traders.example.com>",
            date=when(10, 9),
        )
    )
    ws.users.disable("bilal")
    ayesha = ws.as_user("ayesha")
    page = MailModel(ayesha)
    assert _paused(page) == {
        "bilal": "its owner 'bilal' is disabled",
        "olga": "",
        "sales": "",
        "shared": "",
    }
    with i18n.speaking("ru"):
        page.refresh()
        assert _paused(page)["bilal"] == "его владелец «bilal» отключён"
        assert page.fetch("bilal") is None
        assert page.message == (
            "Почтовый ящик bilal не загружается: его владелец «bilal» отключён."
        )
    with i18n.speaking("ur"):
        page.refresh()
        assert _paused(page)["bilal"] == "اس کا مالک 'bilal' غیر فعال ہے"
    page.refresh()
    assert page.fetch("bilal") is None and page.message_kind == "danger"
    assert page.message == "Mailbox bilal is not fetched: its owner 'bilal' is disabled."
    # a manager switches any mailbox off: "sales" no longer fetched, and said so
    assert page.may_switch("sales") and page.may_switch("bilal")
    assert page.deactivate("sales") is not None
    assert page.paused("sales") == "deactivated"
    assert page.fetch("sales") is None
    assert page.message == "Mailbox sales is not fetched: deactivated."
    assert ws.interactions.timeline(contact_id=crm["imran"]["id"]).empty

    # a page read before the switch: crm_core refuses the fetch, said the same way
    stale = MailModel(ayesha)
    assert stale.activate("sales") is not None and stale.paused("sales") == ""
    page_before = MailModel(ayesha)
    ws.mail.deactivate_mailbox("sales")
    with i18n.speaking("ru"):
        assert page_before.fetch("sales") is None
        assert page_before.message == "Почтовый ящик sales не загружается: отключён."
        assert page_before.message_kind == "danger" and not page_before.running
        assert page_before.paused("sales") == "отключён"  # the page read again
    ws.users.enable("bilal")
    ws.mail.activate_mailbox("sales")
    page.refresh()
    assert _paused(page) == {"bilal": "", "olga": "", "sales": "", "shared": ""}
    report = page.fetch("sales")
    assert report is not None and report.created == 1 and page.message_kind == "success"
    timeline = ws.interactions.timeline(contact_id=crm["imran"]["id"])
    assert timeline["subject"].tolist() == ["Cold storage sizes"]


def test_the_manager_page_offers_no_fetch_for_a_paused_mailbox(crm):
    ws = crm["ws"]
    _users(ws)
    three_boxes(ws)
    ws.users.disable("olga")
    page = MailPage(ws.as_user("ayesha"))
    layout = page.__panel__()
    box = _widget(layout, "crm-mail-box")
    fetch = _widget(layout, "crm-mail-fetch")
    note = _widget(layout, "crm-mail-paused")
    deactivate = _widget(layout, "crm-mail-deactivate")
    box.value = "sales"
    assert not fetch.disabled and note.object == "" and deactivate.visible
    box.value = "olga"
    assert fetch.disabled
    assert note.object == "<i>Not fetched: its owner &#x27;olga&#x27; is disabled</i>"
    # still active (only its owner is disabled): Deactivate is offered, Activate is not
    assert deactivate.visible and not deactivate.disabled
    assert _widget(layout, "crm-mail-activate").disabled
    table = _widget(layout, "crm-mail-mailboxes")
    shown = dict(zip(table.value["name"], table.value["paused"], strict=True))
    assert shown == {"bilal": "", "olga": "its owner 'olga' is disabled", "sales": "", "shared": ""}
    assert "paused" in table.titles and table.titles["paused"] == "Not fetched"


# -- the outbox: a disabled author's messages are held -------------------------------------
@pytest.mark.usefixtures("smtpd")
def test_a_held_message_shows_as_held_with_why_until_its_author_is_enabled(ws, smtpd):
    ws.mail.configure(
        smtp_host=smtpd.host, smtp_port=smtpd.port, smtp_security="none", sender=SENDER
    )
    _users(ws)
    imran = ws.contacts.create(name="Imran Khan", email=IMRAN, owner="bilal")
    bilal_ws = ws.as_user("bilal")
    queued = bilal_ws.mail.send(imran["id"], subject="Sizes for 2027", text="Hi Imran")
    bilal_page = MailModel(bilal_ws)
    assert bilal_page.outbox[["state", "reason"]].values.tolist() == [["queued", ""]]
    ws.users.disable("bilal")

    manager = MailModel(ws.as_user("ayesha"))
    [row] = manager.outbox.to_dict("records")
    assert (row["id"], row["state"], row["subject"]) == (queued["id"], "held", "Sizes for 2027")
    assert row["reason"] == (
        "held: its author 'bilal' is disabled; it stays queued, not sent, until they are "
        "enabled again"
    )
    with i18n.speaking("ru"):
        manager.refresh()
        [row] = manager.outbox.to_dict("records")
        assert row["state"] == "задержано"
        assert row["reason"] == (
            "задержано: его автор «bilal» отключён; письмо остаётся в очереди и не "
            "отправляется, пока автора снова не включат"
        )
    with i18n.speaking("bn"):
        manager.refresh()
        assert manager.outbox["reason"].tolist()[0].startswith("আটকে রাখা: এর লেখক 'bilal'")
    # "Send now" sends nothing of it: still held
    report = manager.drain()
    assert report is not None and report.sent == [] and smtpd.received == []
    assert manager.outbox["state"].tolist() == ["held"]

    ws.users.enable("bilal")
    manager.refresh()
    assert manager.outbox[["state", "reason"]].values.tolist() == [["queued", ""]]
    assert manager.drain() is not None
    assert manager.outbox["state"].tolist() == ["sent"]
    assert [str(r.message["Subject"]) for r in smtpd.received] == ["Sizes for 2027"]


def test_the_outbox_table_shows_held_in_the_pages_language(ws, smtpd):
    ws.mail.configure(
        smtp_host=smtpd.host, smtp_port=smtpd.port, smtp_security="none", sender=SENDER
    )
    _users(ws)
    imran = ws.contacts.create(name="Imran Khan", email=IMRAN, owner="olga")
    ws.as_user("olga").mail.send(imran["id"], subject="Hello", text="Hi")
    ws.users.disable("olga")
    with i18n.speaking("ta"):
        page = MailPage(ws.as_user("ayesha"))
        table = _widget(page.__panel__(), "crm-mail-outbox")
        [row] = table.value.to_dict("records")
        assert row["state"] == "நிறுத்தி வைக்கப்பட்டது"
        assert row["reason"].startswith("நிறுத்தி வைக்கப்பட்டது: இதன் ஆசிரியர் 'olga'")
    assert isinstance(table, pn.widgets.Tabulator)
