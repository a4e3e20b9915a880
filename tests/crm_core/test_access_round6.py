"""Round 6 of the access findings: the ERP's books follow their customer's owner, only
the workspace (or an admin) tests passwords, a disabled user is acted as by no one, and
a sales user runs their own mailbox."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm_core import AccessDenied, access
from crm_core.access import DisabledUser, NotAnAdmin, owned_customers_invoices
from crm_core.models import Invoice
from tests.crm_core.mail import conftest as mail_conftest
from tests.crm_core.mail.conftest import message
from tests.crm_core.reports.books import posted


@pytest.fixture
def team(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales", password="bilal-pass-1")
    ws.users.add("Olga Smirnova", "olga", role="sales", password="olga-pass-12")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager", password="ayesha-pass")
    ws.users.add("Sam Admin", "sam", role="admin", password="sam-pass-123")
    ids = {
        "indus": ws.companies.create(name="Indus Textiles", owner="bilal")["id"],
        "kazan": ws.companies.create(name="Kazan Textil", owner="olga")["id"],
    }
    ids["imran"] = ws.contacts.create(name="Imran Khan", owner="bilal")["id"]
    ids["irina"] = ws.contacts.create(name="Irina Petrova", owner="olga")["id"]
    rows = [  # company, contact, residual
        ("indus", None, "100.00"),
        (None, "imran", "5.00"),
        ("kazan", "imran", "900.00"),  # the company's owner wins: olga's
        (None, "irina", "40.00"),
    ]
    with ws.transaction() as s:
        for n, (company, contact, residual) in enumerate(rows, 1):
            s.add(
                posted(
                    n,
                    f"2026-05-{n:02d}",
                    residual,
                    company=ids[company] if company else None,
                    contact=ids[contact] if contact else None,
                    amount_residual=Decimal(residual),
                    payment_state="not_paid",
                )
            )
    return ids


# -- 1. invoices and the open balance follow the customer's owner -----------------------
def test_a_sales_users_invoices_are_those_the_reports_count(ws, team):
    bilal, olga = ws.as_user("bilal"), ws.as_user("olga")
    mine = bilal.accounts.invoices(limit=10_000)
    assert mine["number"].tolist() == ["INV/2", "INV/1"]
    with ws.transaction() as s:  # the one rule the reports and the dashboard use
        counted = set(s.scalars(select(Invoice.id).where(owned_customers_invoices(bilal.user_id))))
    assert set(mine["id"]) == counted
    assert olga.accounts.invoices()["number"].tolist() == ["INV/4", "INV/3"]
    assert bilal.accounts.open_balance() == {"PKR": Decimal("105.00")}
    assert olga.accounts.open_balance() == {"PKR": Decimal("940.00")}
    assert bilal.accounts.open_balance(company_id=team["kazan"]) == {}
    assert bilal.accounts.invoices(contact_id=team["irina"]).empty
    # managers, admins and the workspace itself: every invoice, as before
    for whole in (ws, ws.as_user("ayesha"), ws.as_user("sam")):
        assert len(whole.accounts.invoices()) == 4
        assert whole.accounts.open_balance() == {"PKR": Decimal("1045.00")}


def test_the_journal_of_the_books_follows_the_customer(ws, team):
    """The books are not journaled today; the day they are, a sales user reads the rows
    about their customers' books only (closed by default, like every narrowed table)."""
    bilal = ws.as_user("bilal")
    with ws.transaction() as s:
        numbers = dict(s.execute(select(Invoice.id, Invoice.number)).all())
        ids = access.journal_ids(bilal, "erp_invoices")
        assert ids is not None
        assert sorted(numbers[i] for i in s.scalars(ids)) == ["INV/1", "INV/2"]
        orders = access.journal_ids(bilal, "erp_sales_orders")
        assert orders is not None and list(s.scalars(orders)) == []
    assert access.journal_ids(ws.as_user("ayesha"), "erp_invoices") is None
    assert "erp_invoices" not in access.SHARED_TABLES


# -- 2. only the workspace or an admin tests passwords ----------------------------------
def test_a_user_workspace_may_not_test_passwords(ws, team):
    for login in ("bilal", "ayesha"):
        acting = ws.as_user(login)
        for target, password in (("ayesha", "ayesha-pass"), (login, "guess"), ("nobody", "x")):
            with pytest.raises(NotAnAdmin) as refused:
                acting.users.authenticate(target, password)
            assert f"user {login!r}" in str(refused.value)
            assert "only an admin may" in str(refused.value)
    # the login form (the workspace itself) and an admin still ask
    assert ws.users.authenticate("ayesha", "ayesha-pass")["login"] == "ayesha"
    assert ws.users.authenticate("ayesha", "guess") is None
    assert ws.as_user("sam").users.authenticate("bilal", "bilal-pass-1")["login"] == "bilal"
    assert ws.sessions.log_in("bilal", "bilal-pass-1").token


# -- 3. a disabled user is acted as by no one ---------------------------------------------
def test_as_user_refuses_a_disabled_user(ws, team):
    olga_id = ws.as_user("olga").user_id
    ws.users.disable("olga")
    for attempt in (
        lambda: ws.as_user("olga"),
        lambda: ws.as_user(olga_id),
        lambda: ws.as_user("sam").as_user("olga"),
    ):
        with pytest.raises(DisabledUser) as refused:
            attempt()
        assert isinstance(refused.value, AccessDenied)
        assert str(refused.value) == (
            "user 'olga' is disabled: no workspace may act as a disabled login"
        )
    ws.users.enable("olga")
    assert ws.as_user("olga").pipeline.count() == 0


# -- 4. a sales user adds and fetches their own mailbox ---------------------------------
dovecot = mail_conftest.dovecot  # the mail tests' IMAP server fixture
PLACE = {"address": "olga@kazan.example.com", "host": "imap.kazan.example.com", "login": "olga"}


def test_a_sales_users_mailbox_is_their_own_by_default(ws, team):
    olga = ws.as_user("olga")
    own = olga.mail.add_mailbox("olga-box", **PLACE)
    assert (own["owner_id"], own["password_source"]) == (olga.user_id, "none")
    # a manager's too; the workspace's and an admin's stay shared unless they say
    assert ws.as_user("ayesha").mail.add_mailbox("a-box", **PLACE)["owner_id"] == (
        ws.as_user("ayesha").user_id
    )
    assert ws.mail.add_mailbox("shared", **PLACE)["owner_id"] is None
    assert ws.as_user("sam").mail.add_mailbox("shared2", **PLACE)["owner_id"] is None
    # still refused: another user's mailbox, and naming the server's variable
    with pytest.raises(NotAnAdmin, match="only an admin may"):
        olga.mail.add_mailbox("for-bilal", owner="bilal", **PLACE)
    with pytest.raises(NotAnAdmin, match="name an environment variable for"):
        olga.mail.add_mailbox("env-box", password_env="OLGA_IMAP", **PLACE)


def test_a_sales_user_fetches_only_their_own_mailbox(ws, team):
    olga, bilal = ws.as_user("olga"), ws.as_user("bilal")
    olga.mail.add_mailbox("olga-box", **PLACE)
    bilal.mail.add_mailbox("bilal-box", **{**PLACE, "login": "bilal"})
    ws.mail.add_mailbox("shared", **PLACE)
    refusal = (
        "user 'olga' (sales) may not fetch mailboxes other than their own:"
        " only a manager or an admin may (it is the whole team's)"
    )
    before = ws.mail.status()[["name", "last_run_at"]].to_dict("records")
    for attempt in (
        lambda: olga.mail.fetch(),
        lambda: olga.mail.fetch("bilal-box", password="x"),
        lambda: olga.mail.fetch("shared", password="x"),
        lambda: olga.mail.fetch("no such box", password="x"),  # as refused: not told
    ):
        with pytest.raises(AccessDenied) as refused:
            attempt()
        assert str(refused.value) == refusal
    assert ws.mail.status()[["name", "last_run_at"]].to_dict("records") == before
    # her own: fetched (this host does not answer, so the run records its error)
    [report] = olga.mail.fetch("olga-box", password="x")
    assert report.mailbox == "olga-box" and report.error


def test_a_sales_users_own_fetch_stores_their_mail(ws, team, dovecot):
    olga = ws.as_user("olga")
    ws.contacts.update(team["irina"], email="irina@kazan.example.com")
    ws.mail.configure(allowed_mail_hosts=[dovecot.host])  # the test server: on loopback
    olga.mail.add_mailbox(
        "olga-box",
        address="olga@kazan.example.com",
        host=dovecot.host,
        port=dovecot.port,
        security="none",
        login=dovecot.user,
    )
    dovecot.append(
        message(
            frm="irina@kazan.example.com",
            to="olga@kazan.example.com",
            subject="Towels",
            mid="<t1@kazan.example.com>",
            date=dt.datetime(2026, 5, 14, 10, tzinfo=dt.UTC),
        )
    )
    [report] = olga.mail.fetch("olga-box", password=dovecot.password)
    assert (report.error, report.fetched, report.created) == (None, 1, 1)
    [row] = olga.interactions.timeline(contact_id=team["irina"]).to_dict("records")
    assert row["subject"] == "Towels"
