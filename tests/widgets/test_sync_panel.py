"""The sync panel's view-model against the in-memory ERP (tests/erp_bridge/fake_odoo.py):
runs with progress, a conflict reviewed and decided on both sides, refusals for sales
users and a missing ERP; and its view: runs table, run button, conflicts side by side."""

import datetime as dt

import panel as pn
import pytest
from sqlalchemy import func, select

from crm_core.models import SyncRun
from erp_bridge import runs
from erp_bridge.adapter import Unavailable
from tests.erp_bridge.fake_odoo import FakeOdoo
from widgets.sync_panel import (
    NO_ERP,
    SyncPanel,
    SyncPanelModel,
    adapter_from_env,
    shown,
)

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def odoo():
    """An ERP with reference data and one customer: Indus Textiles, its buyer and a deal."""
    erp = FakeOdoo()
    erp.add("res.country", code="PK", name="Pakistan")
    erp.add("res.currency", name="PKR")
    erp.user = erp.add(
        "res.users", name="Ayesha Siddiqui", login="ayesha", email="ayesha@example.com"
    )
    stages = {
        name: erp.add("crm.stage", name=name, sequence=seq + 1, is_won=won)
        for seq, (name, won) in enumerate([("New", False), ("Qualified", False), ("Won", True)])
    }
    erp.add("crm.lost.reason", name="Too expensive")
    erp.add("crm.tag", name="Export")
    erp.add("ir.model", model="crm.lead")
    erp.add("ir.model", model="res.partner")
    erp.add("mail.activity.type", name="Call", res_model=False)
    erp.indus = erp.add(
        "res.partner", name="Indus Textiles", is_company=True, country_id=1, category_id=[]
    )
    imran = erp.add(
        "res.partner",
        name="عمران خان",
        is_company=False,
        parent_id=erp.indus,
        email="imran@indus.example.com",
        category_id=[],
    )
    erp.add(
        "crm.lead",
        name="Uniforms 2027",
        type="opportunity",
        partner_id=imran,
        user_id=erp.user,
        stage_id=stages["New"],
        probability=10.0,
        expected_revenue=1500000.0,
        priority="1",
        tag_ids=[],
        description=False,
        date_deadline=False,
        lost_reason_id=False,
    )
    return erp


def run_count(ws):
    with ws.transaction() as s:
        return s.scalar(select(func.count()).select_from(SyncRun))


def conflicting(ws, odoo, model, crm_city="Hyderabad", erp_city="Sukkur"):
    """Both sides change Indus Textiles' city after a first run; a second run (the ERP
    wins shared fields) records the conflict."""
    model.run_now()
    company = int(ws.companies.search("Indus")["id"].iloc[0])
    ws.companies.update(company, city=crm_city)
    odoo.tick(10)
    odoo.set("res.partner", odoo.indus, city=erp_city)
    model.policy = "erp"
    model.run_now()
    return company


def test_run_now_syncs_reports_progress_and_lists_the_run(ws, odoo):
    model = SyncPanelModel(ws, adapter_factory=lambda: odoo)
    assert model.runs.empty and model.conflicts.empty
    seen = []
    model.param.watch(lambda e: seen.append(e.new), "progress")
    report = model.run_now()
    assert report is not None and report.errors == []
    assert seen == sorted(seen) and seen[-1] == 100 and len(seen) > 3
    assert (model.running, model.progress, model.progress_text) == (False, 100, "Done")
    assert model.message_kind == "success"
    # user, 3 stages, lost reason, tag, company, contact, deal
    assert model.message.startswith("Sync done in ")
    assert "9 created, 0 updated, 0 pushed, 0 conflict(s), 0 error(s)" in model.message
    run = model.runs.iloc[0]
    assert (run["run"], run["backend"], run["status"], run["created"]) == (
        report.run_id,
        "fake:test@localhost",
        "done",
        9,
    )
    assert (run["started"], run["finished"], run["lag"], run["errors"]) == (
        "2026-05-15 09:30",
        "2026-05-15 09:30",
        "0s",
        0,
    )
    assert ws.pipeline.search()["name"].tolist() == ["Uniforms 2027"]
    model.run_now()
    assert model.runs["run"].tolist() == [report.run_id + 1, report.run_id]  # newest first
    assert model.runs["created"].tolist() == [0, 9]


def test_a_conflict_appears_and_deciding_it_applies_the_value_on_both_sides(ws, odoo):
    model = SyncPanelModel(ws, adapter_factory=lambda: odoo)
    company = conflicting(ws, odoo, model)
    assert model.conflicts[["entity", "record", "field", "crm", "erp", "kept"]].values.tolist() == [
        ["company", "Indus Textiles", "city", "Hyderabad", "Sukkur", "remote"]
    ]
    assert model.runs["conflicts"].tolist() == [1, 0]
    assert ws.companies.get(company)["city"] == "Sukkur"
    cid = int(model.conflicts["id"].iloc[0])
    assert model.decide(cid, "crm") is True
    assert model.message == f"Conflict {cid}: kept the CRM value on both sides."
    assert model.message_kind == "success"
    assert ws.companies.get(company)["city"] == "Hyderabad"
    assert odoo.get("res.partner", odoo.indus)["city"] == "Hyderabad"
    assert model.conflicts.empty
    report = model.run_now()  # both sides agree now: nothing moves
    assert report.to_frame().set_index("model").loc["company", "pushed_updated"] == 0


def test_keeping_the_erp_value_confirms_it_and_bad_choices_are_refused(ws, odoo):
    model = SyncPanelModel(ws, adapter_factory=lambda: odoo)
    company = conflicting(ws, odoo, model)
    cid = int(model.conflicts["id"].iloc[0])
    assert model.decide(cid, "mine") is False
    assert model.message_kind == "danger" and "'crm' or 'erp'" in model.message
    assert model.decide(9999, "erp") is False
    assert model.message == "conflict 9999 does not exist"
    assert model.decide(cid, "erp") is True
    assert ws.companies.get(company)["city"] == "Sukkur"
    assert odoo.get("res.partner", odoo.indus)["city"] == "Sukkur"
    assert model.conflicts.empty


def test_an_erp_refusal_while_deciding_is_reported_and_the_conflict_stays(ws, odoo):
    model = SyncPanelModel(ws, adapter_factory=lambda: odoo)
    conflicting(ws, odoo, model)
    odoo.refuse["res.partner.city"] = "Access denied on res.partner"
    assert model.decide(int(model.conflicts["id"].iloc[0]), "crm") is False
    assert model.message == "The ERP refused: Access denied on res.partner"
    assert len(model.conflicts) == 1


def test_a_sales_user_may_neither_run_nor_decide(ws, odoo):
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    manager = SyncPanelModel(ws, adapter_factory=lambda: odoo)
    conflicting(ws, odoo, manager)
    built = []

    def factory():
        built.append(1)
        return odoo

    model = SyncPanelModel(ws.as_user("bilal"), adapter_factory=factory)
    assert model.conflicts.empty  # not shown to sales users
    assert len(model.runs) == 2  # the runs are
    assert model.run_now() is None
    assert model.message_kind == "danger"
    assert model.message == (
        "Only managers and admins may run the sync; you are signed in as bilal (sales)."
    )
    cid = int(manager.conflicts["id"].iloc[0])
    assert model.decide(cid, "crm", adapter=odoo) is False
    assert "may decide sync conflicts" in model.message
    assert (built, run_count(ws), model.running, model.progress) == ([], 2, False, 0)
    manager.refresh()
    assert manager.conflicts["id"].tolist() == [cid]  # still open
    assert SyncPanelModel(ws.as_user("bilal")).may_manage is False


def test_without_an_erp_nothing_runs_and_the_panel_says_what_to_set(ws, monkeypatch):
    for name in ("CRMBOOK_ODOO_URL", "CRMBOOK_ODOO_DB", "CRMBOOK_ODOO_USER"):
        monkeypatch.setenv(name, "x")
    monkeypatch.delenv("CRMBOOK_ODOO_PASSWORD", raising=False)
    model = SyncPanelModel(ws)  # the app's default: adapter_from_env
    assert model.run_now() is None
    assert (model.message, model.message_kind) == (NO_ERP, "warning")
    assert run_count(ws) == 0
    assert model.decide(1, "crm") is False and model.message == NO_ERP


def test_adapter_from_env_builds_an_odoo_adapter_only_when_fully_configured():
    env = {
        "CRMBOOK_ODOO_URL": "http://erp.example.com:8069",
        "CRMBOOK_ODOO_DB": "mycompany",
        "CRMBOOK_ODOO_USER": "admin",
        "CRMBOOK_ODOO_PASSWORD": "s3cret-pass",
    }
    adapter = adapter_from_env(env)
    assert adapter.backend == "odoo:mycompany@erp.example.com:8069"
    assert "s3cret-pass" not in repr(adapter)
    assert adapter_from_env({**env, "CRMBOOK_ODOO_PASSWORD": ""}) is None
    assert adapter_from_env({}) is None


def test_a_failed_run_is_reported_and_listed_with_its_reason(ws, odoo):
    def broken(*args, **kwargs):
        raise Unavailable("res.users.search_read: cannot reach http://erp:8069: refused")

    odoo.changed_since = broken
    model = SyncPanelModel(ws, adapter_factory=lambda: odoo)
    assert model.run_now() is None
    assert model.message == (
        "The sync failed: res.users.search_read: cannot reach http://erp:8069: refused. "
        "What was applied is kept; run it again to go on."
    )
    assert (model.running, model.progress_text) == (False, "Failed")
    assert model.runs[["status", "reason"]].values.tolist() == [
        ["failed", "res.users.search_read: cannot reach http://erp:8069: refused"]
    ]


def test_a_killed_run_shows_as_interrupted(ws, odoo, clock):
    dead = runs.start(ws, odoo.backend)
    model = SyncPanelModel(ws, adapter_factory=lambda: odoo)
    assert model.runs["status"].tolist() == ["running"]
    assert model.run_now() is None  # refused while it seems alive
    assert model.message.startswith(f"another sync with {odoo.backend} is running (run #{dead}")
    clock.advance(seconds=runs.STALE + 1)
    model.refresh()
    assert model.runs[["status", "reason"]].values.tolist() == [
        ["interrupted", "its process stopped without finishing"]
    ]
    assert model.run_now().status == "done"
    assert model.runs["status"].tolist() == ["done", "interrupted"]


def test_failed_records_are_listed_retried_and_resynced(ws, odoo):
    model = SyncPanelModel(ws, adapter_factory=lambda: odoo)
    model.run_now()
    refused = ws.companies.create(name="Refused Co")
    odoo.refuse["res.partner.name"] = "ValidationError: name refused"
    report = model.run_now()
    assert report.status == "done_with_errors"
    assert model.failures[["entity", "direction", "record"]].values.tolist() == [
        ["company", "push", f"local #{refused['id']} Refused Co"]
    ]
    assert "The failed records are listed below" in model.message
    odoo.refuse.clear()
    assert model.retry().models["company"].pushed_created == 1
    assert model.failures.empty and model.retry() is None
    assert model.message == "No record is waiting to be retried."
    assert model.resync() is None and model.message == "Choose the date to resync from."
    model.resync_since = dt.date(2000, 1, 1)
    assert model.resync().status == "done"


def test_sales_users_see_no_failed_records(ws, odoo):
    ws.users.add("Bilal", "bilal", role="sales")
    ws.companies.create(name="Refused Co")
    odoo.refuse["res.partner.name"] = "ValidationError: name refused"
    SyncPanelModel(ws, adapter_factory=lambda: odoo).run_now()
    sales = SyncPanelModel(ws.as_user("bilal"), adapter_factory=lambda: odoo)
    assert sales.failures.empty
    assert sales.retry() is None and sales.resync() is None
    assert "Only managers and admins" in sales.message


def test_a_factory_error_is_reported(ws):
    def bad():
        raise ValueError("not a server address: 'erp' (use http://host:8069)")

    model = SyncPanelModel(ws, adapter_factory=bad)
    assert model.run_now() is None
    assert model.message.startswith("Cannot use the ERP connection: not a server address")


def test_a_background_run_runs_in_a_thread(ws, odoo):
    model = SyncPanelModel(ws, adapter_factory=lambda: odoo, background=True)
    assert model.run_now() is None
    model.thread.join(timeout=60)
    assert not model.thread.is_alive()
    assert (model.running, model.progress, model.runs["status"].tolist()) == (False, 100, ["done"])
    assert ws.companies.search("Indus")["name"].tolist() == ["Indus Textiles"]


def test_values_are_shown_as_text():
    assert [shown(v) for v in (None, "", True, ["VIP", "Export"], 12.5, "Karachi")] == [
        "(empty)",
        "(empty)",
        "yes",
        "VIP, Export",
        "12.5",
        "Karachi",
    ]


def test_the_view_runs_decides_and_escapes(ws, odoo):
    panel = SyncPanel(ws, adapter_factory=lambda: odoo)
    layout = panel.__panel__()
    assert "crm-sync" in layout.css_classes
    table = layout.select(pn.widgets.Tabulator)[0]
    assert all(f != "html" for f in table.formatters.values())
    run = next(b for b in layout.select(pn.widgets.Button) if "crm-sync-run" in b.css_classes)
    assert not run.disabled
    run.clicks += 1  # as a click in the page
    assert table.value["status"].tolist() == ["done"]
    bar = layout.select(pn.indicators.Progress)[0]
    assert bar.value == 100
    conflicting(ws, odoo, panel.model, crm_city=XSS, erp_city="Sukkur")
    cards = [c for c in layout.select(pn.Column) if "crm-conflict" in c.css_classes]
    assert len(cards) == 1
    html_shown = [p.object for p in cards[0].select(pn.pane.HTML)]
    assert any("&lt;img src=x" in h for h in html_shown)
    assert not any("<img" in h for h in html_shown)
    assert any("Sukkur" in h for h in html_shown)  # both values side by side
    layout.get_root()  # the Bokeh model tree builds, as in a notebook
    keep_crm = next(
        b for b in cards[0].select(pn.widgets.Button) if "crm-keep-crm" in b.css_classes
    )
    assert any("crm-keep-erp" in b.css_classes for b in cards[0].select(pn.widgets.Button))
    keep_crm.clicks += 1
    assert odoo.get("res.partner", odoo.indus)["city"] == XSS
    assert not [c for c in layout.select(pn.Column) if "crm-conflict" in c.css_classes]
    alert = next(p for p in layout.select(pn.pane.Alert) if "crm-alert" in p.css_classes)
    assert alert.visible and "kept the CRM value" in str(alert.object)
    assert type(pn.ipywidget(SyncPanel(ws, adapter_factory=lambda: odoo))).__name__ == (
        "BokehModel"
    )


def test_a_sales_users_view_has_the_run_button_disabled(ws, odoo):
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    layout = SyncPanel(ws.as_user("bilal"), adapter_factory=lambda: odoo).__panel__()
    run = next(b for b in layout.select(pn.widgets.Button) if "crm-sync-run" in b.css_classes)
    note = next(p for p in layout.select(pn.pane.HTML) if "crm-sync-note" in p.css_classes)
    assert run.disabled and note.visible
