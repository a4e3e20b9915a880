"""The journal is closed by default to a sales user (crm_core.access.journal_clauses).

Every journaled table is exercised (through the services where they write it, rows a
merge moves otherwise), and for every record of every table the journal names, bilal
(sales) must read its journal rows exactly when the service of that table shows him
the record: all of them, or none. The set of journaled tables is derived, not listed:
every model the journal listener covers, every table a merge journals rows of, and
every entity that turns up in the journal after the exercise; a table in none of
:data:`SEES` fails the test, so a new table gets a thought before it can leak.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from crm_core import AccessDenied, NotFoundError, Workspace
from crm_core.duplicates.relink import mapped_models, references
from crm_core.models import (
    Company,
    Contact,
    ContactProposal,
    EmailBounce,
    ExternalLink,
    Invoice,
    SalesOrder,
    SyncConflict,
    SyncMatch,
    Versioned,
)

SECRET = "SECRET-OLGA"
WHEN = dt.datetime(2026, 5, 15, tzinfo=dt.UTC)


def _gets(get: Callable[[Workspace], Callable[[int], Any]]) -> Callable[[Workspace, int], bool]:
    """Whether a service's ``get`` by id answers (the record is the user's to read)."""

    def sees(w: Workspace, rid: int) -> bool:
        try:
            get(w)(rid)
        except (AccessDenied, NotFoundError):
            return False
        return True

    return sees


def _listed(frame: Callable[[Workspace], pd.DataFrame]) -> Callable[[Workspace, int], bool]:
    """Whether a service's list shows the record."""
    return lambda w, rid: rid in {int(x) for x in frame(w)["id"]}


def _interaction_ids(w: Workspace) -> set[int]:
    ids: set[int] = set()
    for contact in w.contacts.search(include_archived=True)["id"]:
        ids |= {int(x) for x in w.interactions.timeline(contact_id=int(contact))["id"]}
    return ids


def _refused(call: Callable[[Workspace], Any]) -> Callable[[Workspace, int], bool]:
    """A table whose service refuses a sales user: asserts the refusal, sees nothing."""

    def sees(w: Workspace, _rid: int) -> bool:
        with pytest.raises(AccessDenied):
            call(w)
        return False

    return sees


def _no_service(_w: Workspace, _rid: int) -> bool:
    return False  # no service shows a sales user these rows


#: Per journaled table: does the service of that table show ``w`` the record ``rid``?
SEES: dict[str, Callable[[Workspace, int], bool]] = {
    # everyone's: read whole by every role
    "companies": _gets(lambda w: w.companies.get),
    "contacts": _gets(lambda w: w.contacts.get),
    "users": _listed(lambda w: w.users.list()),
    "tags": lambda _w, _rid: True,  # shown by name on every company, contact and deal
    "pipelines": lambda _w, _rid: True,  # the pipeline and its stages are everyone's board
    "stages": lambda _w, _rid: True,  # ws.pipeline.stages(any pipeline): everyone's
    "lost_reasons": lambda _w, _rid: True,  # ws.pipeline.lost_reasons(): everyone's
    "custom_field_definitions": _listed(lambda w: w.custom_fields.list()),
    "segments": _listed(lambda w: w.segments.list()),
    "campaigns": _listed(lambda w: w.campaigns.list()),
    # record_id of a membership is its campaign's id
    "campaign_members": lambda w, rid: not w.campaigns.members(rid).empty,
    "erp_invoices": _listed(lambda w: w.accounts.invoices(limit=10_000)),
    "erp_sales_orders": _listed(lambda w: w.accounts.sales_orders(limit=10_000)),
    # narrowed: some records only
    "opportunities": _gets(lambda w: w.pipeline.get),
    "activities": _gets(lambda w: w.activities.get),
    "interactions": lambda w, rid: rid in _interaction_ids(w),
    "mailboxes": _listed(lambda w: w.mail.status()),
    "mail_outbox": _listed(lambda w: w.mail.outbox()),
    # managers' (or nobody's through a service)
    "contact_proposals": _refused(lambda w: w.mail.proposals()),
    "email_bounces": _no_service,
    # the sync's bookkeeping: accounts.links shows a link's remote id only, never the
    # last-synced values a journal row holds; conflicts and matches are managers'
    "external_links": _no_service,
    "sync_conflicts": _no_service,
    "sync_matches": _no_service,
}

#: Tables some of whose records bilal must see and some not (the check is not vacuous).
NARROWED = {"opportunities", "activities", "interactions", "mailboxes", "mail_outbox"}


def journaled_tables() -> set[str]:
    """The tables the journal can name, from the code: every model the listener covers
    (versioned) and every table a merge of a company or contact journals rows of."""
    tables = {t for t, m in mapped_models().items() if issubclass(m, Versioned)}
    for model in (Company, Contact):
        tables |= {r.table.name for r in references(model) if r.how == "rows"}
    return tables


def exercise(ws: Workspace) -> dict[str, int]:
    """Olga's, a manager's and bilal's records in every journaled table."""
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    a, b, mgr = ws.as_user("bilal"), ws.as_user("olga"), ws.as_user("ayesha")
    ids: dict[str, int] = {}
    mgr.pipeline.create_pipeline("Projects")
    mgr.custom_fields.define("contact", "region", "text")
    mgr.segments.create("Kazan people", "contact")
    ids["kazan"] = b.companies.create(name="Kazan Textil", owner="olga")["id"]
    ids["irina"] = b.contacts.create(
        name="Irina Petrova", email="irina@kazan.example.com", company=ids["kazan"],
        owner="olga", tags=["vip"],
    )["id"]  # fmt: skip
    ids["imran"] = a.contacts.create(
        name="Imran Khan", email="imran@indus.example.com", owner="bilal"
    )["id"]
    ids["spring"] = mgr.campaigns.create(name="Spring push")["id"]
    mgr.campaigns.add_contacts(ids["spring"], [ids["irina"]])
    ids["b_deal"] = b.pipeline.create(f"{SECRET} deal", contact=ids["irina"])["id"]
    ids["a_deal"] = a.pipeline.create("Mine: deal", contact=ids["imran"])["id"]
    b.activities.schedule("call", f"{SECRET} call", "2026-05-20", opportunity=ids["b_deal"])
    a.activities.schedule("call", "Mine: call", "2026-05-20", opportunity=ids["a_deal"])
    b.interactions.log("email", "in", opportunity=ids["b_deal"], subject=f"{SECRET} price")
    b.interactions.log("note", "out", contact=ids["irina"], subject="Shared: met at the fair")
    # Mailboxes: olga's private one, bilal's, a shared one.
    b.mail.add_mailbox(
        "olga-private", address="olga.secret@example.com", host="imap.olga-home.example",
        login=f"{SECRET}@example.com", owner="olga",
    )  # fmt: skip
    a.mail.add_mailbox(
        "bilal", address="bilal@example.com", host="imap.example.com", login="bilal",
        owner="bilal",
    )  # fmt: skip
    ws.mail.add_mailbox(
        "sales", address="sales@example.com", host="imap.example.com", login="sales"
    )
    # Outbox: olga's message to her contact, bilal's to his.
    ws.mail.configure(sender="Shop <sales@shop.example>")
    b.mail.send(ids["irina"], subject=f"{SECRET} offer", text=f"{SECRET} private offer")
    a.mail.send(ids["imran"], subject="Mine: offer", text="Mine: hello")
    # Rows no service writes by hand (a fetch, a bounce, the ERP's sync) on olga's
    # contact: a merge moves them, journaling whole-row snapshots.
    with ws.transaction() as s:
        s.add_all(
            [
                ContactProposal(
                    email="irina2@kazan.example.com", email_key="irina2@kazan.example.com",
                    name=f"{SECRET} proposal", status="accepted", contact_id=ids["irina"],
                    first_seen_at=WHEN,
                ),
                EmailBounce(
                    email_key="irina@kazan.example.com", contact_id=ids["irina"], at=WHEN,
                    status="5.1.1", reason=f"{SECRET} bounce", report_message_id="<r@x>",
                ),
                Invoice(
                    backend="odoo:test", remote_id=1, number="INV/1", move_type="out_invoice",
                    contact_id=ids["irina"], currency="USD", amount_untaxed=Decimal("10"),
                    amount_total=Decimal("10"), amount_residual=Decimal("10"), state="posted",
                ),
                SalesOrder(
                    backend="odoo:test", remote_id=1, name="SO1", contact_id=ids["irina"],
                    currency="USD", amount_total=Decimal("10"), state="sale",
                ),
                ExternalLink(
                    backend="odoo:test", entity="contact", local_id=ids["irina"],
                    remote_model="res.partner", remote_id=7, synced={"notes": SECRET},
                    synced_at=WHEN,
                ),
                SyncConflict(
                    backend="odoo:test", entity="contact", local_id=ids["irina"],
                    remote_model="res.partner", remote_id=7, field="notes",
                    local_value=SECRET, remote_value=SECRET, winner="remote", rule="policy",
                    status="open", detected_at=WHEN,
                ),
                SyncMatch(
                    backend="odoo:test", entity="contact", direction="pull", record_id=8,
                    label=f"{SECRET} match", candidates=[{"id": ids["irina"]}],
                    status="open", detected_at=WHEN,
                ),
            ]
        )  # fmt: skip
    # A manager merges olga's contact, and bilal's, into new ones: the merge journals
    # the rows pointing at them (the outbox messages among them).
    ids["dup"] = ws.contacts.create(name="Irina P.")["id"]
    mgr.duplicates.merge("contacts", ids["dup"], ids["irina"])
    ids["dup2"] = ws.contacts.create(name="Imran K.")["id"]
    mgr.duplicates.merge("contacts", ids["dup2"], ids["imran"])
    return ids


def test_a_sales_user_reads_the_journal_of_what_the_services_show_them(ws):
    exercise(ws)
    a = ws.as_user("bilal")
    everything = ws.journal.since(0, limit=1_000_000)
    seen_tables = set(everything["entity"])
    tables = journaled_tables() | seen_tables
    missing = sorted(tables - set(SEES))
    assert not missing, f"journaled tables without an expectation in SEES: {missing}"
    unexercised = sorted(journaled_tables() - seen_tables)
    assert not unexercised, f"journaled tables the exercise leaves out: {unexercised}"

    mine = a.journal.since(0, limit=1_000_000)
    outcome: dict[str, set[bool]] = {}
    for (table, rid), rows in everything.groupby(["entity", "record_id"]):
        expected = SEES[table](a, int(rid))
        got = a.journal.for_record(table, int(rid))
        want = rows["id"].tolist() if expected else []
        assert got["id"].tolist() == want, (table, rid, expected)
        listed = mine[(mine["entity"] == table) & (mine["record_id"] == rid)]
        assert listed["id"].tolist() == want, (table, rid, expected)
        outcome.setdefault(table, set()).add(expected)

    for table in NARROWED:
        assert outcome[table] == {True, False}, (table, outcome[table])
    for table in set(outcome) - NARROWED:
        assert len(outcome[table]) == 1, (table, outcome[table])  # all or none
    assert SECRET in everything.to_csv()
    assert SECRET not in mine.to_csv()
    # Nothing is left out that the services show: the whole journal is accounted for.
    shown = {t for t, seen in outcome.items() if True in seen}
    assert set(mine["entity"]) == shown


def test_the_reported_leaks(ws):
    """The tester's two cases: olga's private mailbox, and her e-mail moved by a merge."""
    ids = exercise(ws)
    a = ws.as_user("bilal")
    assert a.mail.status()["name"].tolist() == ["bilal", "sales"]
    private = ws.mail.status().set_index("name").loc["olga-private", "id"]
    assert a.journal.for_record("mailboxes", int(private)).empty
    assert not ws.journal.for_record("mailboxes", int(private)).empty
    olga_mail = ws.mail.outbox().set_index("subject").loc[f"{SECRET} offer", "id"]
    assert "private offer" in ws.journal.for_record("mail_outbox", int(olga_mail)).to_csv()
    assert a.journal.for_record("mail_outbox", int(olga_mail)).empty
    since = a.journal.since(0)
    assert "olga-home" not in since.to_csv() and "private offer" not in since.to_csv()
    # What bilal may see stays: his own message, the merged contact's rows.
    own = a.mail.outbox()["id"].tolist()
    assert len(own) == 1 and not a.journal.for_record("mail_outbox", own[0]).empty
    assert "merge" in a.journal.for_record("contacts", ids["irina"])["action"].tolist()
