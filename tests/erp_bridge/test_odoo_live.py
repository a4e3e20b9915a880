"""The sync against a real Odoo, live or replayed.

Live: set ODOO_URL, ODOO_DB, ODOO_USER, ODOO_PASSWORD (an Odoo 16-18 with crm,
contacts, sale_management and account and their demo data). Each test records its
HTTP traffic into ``cassettes/`` (credentials scrubbed). Without those variables the
tests replay the cassettes, matching requests on their body, so CI exercises the same
scenarios without a server. With the variables set the tests run live and re-record
every cassette; that is the one command to re-record:

    ODOO_URL=http://127.0.0.1:8069 ODOO_DB=odoo18 ODOO_USER=admin ODOO_PASSWORD=admin \\
        python -m pytest tests/erp_bridge/test_odoo_live.py

The tests create their own records (names starting "crmbook live") and delete them
at the end, so they can be re-recorded on the same server.
"""

from __future__ import annotations

import json
import os
import threading
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import vcr
from sqlalchemy import select

from crm_core.models import ExternalLink, Invoice, SyncConflict
from erp_bridge import sync
from erp_bridge.odoo.adapter import OdooAdapter

CASSETTES = Path(__file__).with_name("cassettes")
SETTINGS = CASSETTES / "server.json"
SCRUBBED = "CASSETTE-PASSWORD"
LIVE = all(os.environ.get(k) for k in ("ODOO_URL", "ODOO_DB", "ODOO_USER", "ODOO_PASSWORD"))
PREFIX = "crmbook_live"


def _server() -> dict[str, str]:
    if LIVE:
        return {
            "url": os.environ["ODOO_URL"],
            "db": os.environ["ODOO_DB"],
            "user": os.environ["ODOO_USER"],
            "password": os.environ["ODOO_PASSWORD"],
        }
    if not SETTINGS.exists():
        pytest.skip("no Odoo: set ODOO_URL/ODOO_DB/ODOO_USER/ODOO_PASSWORD (no cassettes yet)")
    return {**json.loads(SETTINGS.read_text()), "password": SCRUBBED}


def _scrubbed(body: bytes | str | None) -> str:
    """An XML-RPC request body with the password parameter replaced.

    Odoo's RPC methods take (db, uid or login, password, ...): the third parameter is
    the secret, whatever its value, so the login (which may equal it) is kept.
    """
    text = body.decode() if isinstance(body, bytes) else (body or "")
    if not text:
        return text
    params, method = xmlrpc.client.loads(text)
    if method in ("login", "authenticate", "execute_kw", "execute") and len(params) > 2:
        params = (*params[:2], SCRUBBED, *params[3:])
    return xmlrpc.client.dumps(params, method, allow_none=False)


def _scrub_request(request):
    request.body = _scrubbed(request.body).encode()
    return request


def _same_body(r1, r2) -> bool:
    return _scrubbed(r1.body) == _scrubbed(r2.body)


@pytest.fixture
def odoo(request, monkeypatch) -> Iterator[OdooAdapter]:
    """An adapter whose traffic is recorded (live) or replayed (CI)."""
    server = _server()
    # The sync reads several models at once from threads. vcrpy is not thread-safe:
    # while one thread builds or sends a real connection it briefly puts the real
    # http.client classes back for every thread, so another thread's request could
    # slip past the cassette. One request at a time through the cassette.
    lock = threading.Lock()
    send = xmlrpc.client.Transport.request

    def one_at_a_time(self, *args, **kwargs):
        with lock:
            return send(self, *args, **kwargs)

    monkeypatch.setattr(xmlrpc.client.Transport, "request", one_at_a_time)
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode="all" if LIVE else "none",
        match_on=["method", "uri", "body"],
        before_record_request=_scrub_request,
        decode_compressed_response=True,
    )
    recorder.register_matcher("body", _same_body)
    name = request.node.name.split("[")[0] + ".yaml"
    with recorder.use_cassette(name, allow_playback_repeats=False):
        yield OdooAdapter(
            server["url"], server["db"], server["user"], server["password"], timeout=30, retries=0
        )
    if LIVE:
        SETTINGS.write_text(json.dumps({k: server[k] for k in ("url", "db", "user")}) + "\n")


def _cleanup(adapter: OdooAdapter) -> None:
    """Delete what the tests created, so they can run again on the same server."""
    leads = adapter.all_ids("crm.lead", [["name", "=like", "crmbook live%"]])
    if leads:
        adapter.call("crm.lead", "unlink", sorted(leads))
    partners = adapter.all_ids("res.partner", [["name", "=like", "crmbook live%"]])
    if partners:
        adapter.call("res.partner", "unlink", sorted(partners))
    xmlids = adapter.search_read("ir.model.data", [["module", "=", PREFIX]], ["id"])
    if xmlids:
        adapter.call("ir.model.data", "unlink", sorted(r["id"] for r in xmlids))


def _sync(ws, adapter, **kw):
    return sync(ws, adapter, xmlid_prefix=PREFIX, **kw)


def _link(ws, entity: str, *, local_id: int | None = None, remote_id: int | None = None):
    with ws.transaction() as s:
        q = select(ExternalLink).where(ExternalLink.entity == entity)
        q = (
            q.where(ExternalLink.local_id == local_id)
            if local_id
            else q.where(ExternalLink.remote_id == remote_id)
        )
        return s.scalars(q).one()


def _a_paid_invoice(adapter: OdooAdapter) -> int:
    """A fully paid customer invoice: an existing one, or the first open one paid now
    through Odoo's own payment wizard."""
    paid = adapter.all_ids(
        "account.move", [["move_type", "=", "out_invoice"], ["payment_state", "=", "paid"]]
    )
    if paid:
        return min(paid)
    open_ids = adapter.all_ids(
        "account.move",
        [
            ["move_type", "=", "out_invoice"],
            ["state", "=", "posted"],
            ["payment_state", "=", "not_paid"],
        ],
    )
    invoice = min(open_ids)
    context = {"active_model": "account.move", "active_ids": [invoice]}
    wizard = adapter.call("account.payment.register", "create", args=[{}], context=context)
    adapter.call("account.payment.register", "action_create_payments", [wizard], context=context)
    return invoice


def test_full_pull_of_the_demo_data(sqlite_ws, odoo):
    _cleanup(odoo)
    paid = _a_paid_invoice(odoo)
    widget = odoo.read("account.move", [paid], ["invoice_payments_widget"])[0]
    paid_on = max(p["date"] for p in widget["invoice_payments_widget"]["content"])
    report = _sync(sqlite_ws, odoo)
    frame = report.to_frame().set_index("model")
    companies = odoo.call(
        "res.partner",
        "search_count",
        domain=[["is_company", "=", True]],
        context={"active_test": False},
    )
    people = odoo.call(
        "res.partner",
        "search_count",
        domain=[["is_company", "=", False]],
        context={"active_test": False},
    )
    leads = odoo.call("crm.lead", "search_count", domain=[], context={"active_test": False})
    invoices = odoo.call(
        "account.move", "search_count", domain=[["move_type", "in", ["out_invoice", "out_refund"]]]
    )
    assert frame.loc["company", "created"] == companies
    # every person is created unless crm_core refuses the record outright (none here):
    # refused fields (Odoo's demo phones are fictional numbers) are reported, not fatal
    assert frame.loc["contact", "created"] == people
    assert frame.loc["opportunity", "created"] == leads
    assert frame.loc["invoice", "created"] == invoices
    with sqlite_ws.transaction() as s:
        copy = s.scalars(select(Invoice).where(Invoice.remote_id == paid)).one()
        assert (copy.payment_state, copy.paid_on.isoformat()) == ("paid", paid_on)
    assert frame.loc["stage", "created"] >= 4
    assert frame.loc["activity", "created"] > 0
    # Pulling must not write anything back (normalised values are not edits).
    assert frame[["pushed_created", "pushed_updated"]].to_numpy().sum() == 0
    assert all("phone" in e or "mobile" in e for e in report.models["contact"].errors)
    info = sqlite_ws.info()
    assert info["opportunities"] == leads
    deco = sqlite_ws.companies.search("deco addict")
    assert deco["name"].tolist() == ["Deco Addict"]
    again = _sync(sqlite_ws, odoo)
    moved = again.to_frame()[["created", "pushed_created", "pushed_updated"]].to_numpy().sum()
    assert moved == 0


def test_edits_both_ways_conflicts_and_archives(sqlite_ws, odoo):
    _cleanup(odoo)
    ws = sqlite_ws
    rid = odoo.create(
        "res.partner",
        {
            "name": "crmbook live Lahore Looms",
            "is_company": True,
            "city": "Lahore",
            "vat": "PK-LL-1",
        },
        "crmbook_live.seed_1",
    )
    _sync(ws, odoo, models=["company"])
    local_id = _link(ws, "company", remote_id=rid).local_id
    # one side each
    ws.companies.update(local_id, street="12 Mall Road")
    odoo.write("res.partner", [rid], {"website": "https://lahore-looms.example.com"})
    _sync(ws, odoo, models=["company"])
    assert odoo.read("res.partner", [rid], ["street"])[0]["street"] == "12 Mall Road"
    assert ws.companies.get(local_id)["website"] == "https://lahore-looms.example.com"
    # both sides: VAT belongs to the ERP
    ws.companies.update(local_id, vat="CRM-SIDE")
    odoo.write("res.partner", [rid], {"vat": "PK-LL-2"})
    report = _sync(ws, odoo, models=["company"])
    assert ws.companies.get(local_id)["vat"] == "PK-LL-2"
    assert report.models["company"].conflicts == 1
    with ws.transaction() as s:
        conflict = s.scalars(select(SyncConflict).where(SyncConflict.field == "vat")).one()
        assert (json.loads(conflict.local_value), json.loads(conflict.remote_value)) == (
            "CRM-SIDE",
            "PK-LL-2",
        )
    # archive here, archived there; restore there, restored here
    ws.companies.archive(local_id)
    _sync(ws, odoo, models=["company"])
    assert odoo.read("res.partner", [rid], ["active"])[0]["active"] is False
    odoo.archive("res.partner", [rid], active=True)
    _sync(ws, odoo, models=["company"])
    assert ws.companies.get(local_id)["active"] is True
    _cleanup(odoo)


def test_creates_and_a_crash_between_remote_create_and_local_commit(sqlite_ws, odoo, monkeypatch):
    _cleanup(odoo)
    ws = sqlite_ws
    _sync(ws, odoo, models=["company", "contact"])
    company = ws.companies.create(name="crmbook live Sindh Salt", country="PK")
    ws.contacts.create(
        name="crmbook live ڪريم ڀٽو", company=company["id"], email="kareem@example.com"
    )
    real_create = OdooAdapter.create

    def create_then_die(self, model, values, external_id):
        rid = real_create(self, model, values, external_id)
        raise KeyboardInterrupt(f"killed after creating {model} #{rid}")

    monkeypatch.setattr(OdooAdapter, "create", create_then_die)
    with pytest.raises(KeyboardInterrupt):
        _sync(ws, odoo, models=["company", "contact"])
    monkeypatch.setattr(OdooAdapter, "create", real_create)
    report = _sync(ws, odoo, models=["company", "contact"])
    assert report.errors == []
    found = odoo.search_read(
        "res.partner", [["name", "=", "crmbook live Sindh Salt"]], ["id", "country_id"]
    )
    assert len(found) == 1, "the re-run must reuse the record created before the crash"
    people = odoo.search_read(
        "res.partner", [["name", "=like", "crmbook live ڪريم%"]], ["parent_id", "email"]
    )
    assert len(people) == 1
    assert people[0]["parent_id"][0] == found[0]["id"]
    assert people[0]["email"] == "kareem@example.com"
    _cleanup(odoo)


def test_activities_both_ways(sqlite_ws, odoo):
    _cleanup(odoo)
    ws = sqlite_ws
    models = ["user", "stage", "company", "opportunity", "activity"]
    partner = odoo.create(
        "res.partner", {"name": "crmbook live Karachi Cotton", "is_company": True}, f"{PREFIX}.a1"
    )
    lead = odoo.create(
        "crm.lead",
        {"name": "crmbook live Yarn 2027", "type": "opportunity", "partner_id": partner},
        f"{PREFIX}.a2",
    )
    lead_model = odoo.search_read("ir.model", [["model", "=", "crm.lead"]], ["id"])[0]["id"]
    # Model-level create takes its records as the first positional argument.
    in_odoo = odoo.call(
        "mail.activity",
        "create",
        [  # type: ignore[list-item]
            {
                "res_model_id": lead_model,
                "res_id": lead,
                "summary": "crmbook live: confirm the count",
                "date_deadline": "2026-12-01",
            }
        ],
        idempotent=False,
    )[0]
    _sync(ws, odoo, models=models)
    deal = _link(ws, "opportunity", remote_id=lead).local_id
    pulled = ws.activities.for_record(opportunity_id=deal)
    assert pulled["subject"].tolist() == ["crmbook live: confirm the count"]

    # created here -> created in Odoo on the same lead, with its type and deadline
    local = ws.activities.schedule(
        "call", "crmbook live: call about yarn", "2026-12-03", opportunity=deal
    )
    report = _sync(ws, odoo, models=models)
    assert report.models["activity"].pushed_created == 1
    remote_id = _link(ws, "activity", local_id=local["id"]).remote_id
    row = odoo.read(
        "mail.activity", [remote_id], ["res_model", "res_id", "activity_type_id", "date_deadline"]
    )[0]
    assert (row["res_model"], row["res_id"], row["date_deadline"]) == (
        "crm.lead",
        lead,
        "2026-12-03",
    )
    assert row["activity_type_id"][1] == "Call"

    # snoozed here -> moved in Odoo; done in Odoo -> done here
    ws.activities.snooze(local["id"], until="2026-12-10")
    odoo.call("mail.activity", "action_feedback", [in_odoo], idempotent=False)
    report = _sync(ws, odoo, models=models)
    assert report.errors == []
    assert odoo.read("mail.activity", [remote_id], ["date_deadline"])[0]["date_deadline"] == (
        "2026-12-10"
    )
    done = ws.activities.for_record(opportunity_id=deal, include_done=True).set_index("subject")
    assert not pd.isna(done.loc["crmbook live: confirm the count", "done_at"])

    # done here -> marked done in Odoo (logged on the lead, the activity removed)
    ws.activities.complete(local["id"])
    report = _sync(ws, odoo, models=models)
    assert report.errors == []
    assert odoo.read("mail.activity", [remote_id], ["id"]) == []
    logged = odoo.search_read(
        "mail.message", [["model", "=", "crm.lead"], ["res_id", "=", lead]], ["body"]
    )
    assert any("call about yarn" in (m["body"] or "") for m in logged)
    _cleanup(odoo)
