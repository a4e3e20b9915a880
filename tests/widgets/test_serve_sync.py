"""A real ``crmbook serve`` syncs with the ERP of its environment (``CRMBOOK_ODOO_*``) on
its own schedule: an ERP that cannot be reached is an error on the job at ``/health``,
tried again at the next run, and the server serves on; without an ERP the job is not
there and ``/health`` says so."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

import crm_core
from crm_core.models import SyncRun
from tests.widgets.app_server import add_staff, log_in
from tests.widgets.browser import free_port
from tests.widgets.serving import crmbook_serve

pytestmark = pytest.mark.slow

ODOO_ENV = ("CRMBOOK_ODOO_URL", "CRMBOOK_ODOO_DB", "CRMBOOK_ODOO_USER", "CRMBOOK_ODOO_PASSWORD")
SECRET = "erp-s3cret-never-shown"


def _health(admin) -> dict:
    answer = admin.get("/health")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _runs(location: str) -> list[tuple[str, str | None]]:
    with crm_core.open(location) as ws, ws.transaction() as s:
        return [tuple(r) for r in s.execute(select(SyncRun.status, SyncRun.reason))]


def test_serve_with_an_unreachable_erp_keeps_serving_and_shows_the_error(
    backend, monkeypatch, tmp_path
):
    closed = free_port()  # nothing listens there
    for name, value in zip(
        ODOO_ENV, (f"http://127.0.0.1:{closed}", "crm", "admin", SECRET), strict=True
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CRMBOOK_ODOO_PROTOCOL", raising=False)
    add_staff(backend)
    with crm_core.open(backend) as ws:
        ws.set_setting("sync_minutes", "0.05")  # every 3 seconds
    log = tmp_path / "serve.log"
    with crmbook_serve(backend, log) as (url, process):
        admin, _ = log_in(url, "demo")
        deadline = time.monotonic() + 90
        while True:
            sync = _health(admin)["background"]["jobs"]["sync"]
            if (sync["runs"] >= 2 and not sync["running"]) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        reason = (
            # a run's first call: which database this is (erp_bridge.backends)
            f"ir.config_parameter.search_read: cannot reach http://127.0.0.1:{closed}: "
            "ConnectionRefusedError: [Errno 111] Connection refused"
        )
        assert sync["runs"] >= 2 and sync["failures"] == sync["runs"], sync
        assert sync["last_error"] == reason
        assert sync["last_result"].startswith("run #") and sync["last_result"].endswith(" failed")
        assert sync["every_s"] == 3.0
        assert sync["last_started_at"] is not None and sync["last_error_at"] is not None
        # the server serves on: pages, logins, the mail jobs
        assert process.poll() is None
        assert admin.get("/login").status_code == 200
        figures = _health(admin)
        assert figures["background"]["running"] is True
        assert figures["background"]["jobs"]["mail_drain"]["last_result"] == "nothing queued"
        # every try is a run stored as failed with the same reason
        stored = _runs(backend)
        assert len(stored) >= 2 and set(stored) == {("failed", reason)}
    said = log.read_text(errors="replace")
    assert SECRET not in said and SECRET not in str(figures)
    assert "Traceback" not in said, said[-3000:]


def test_serve_without_an_erp_says_sync_not_configured(monkeypatch, tmp_path):
    location = str(tmp_path / "crm.sqlite")
    for name in ODOO_ENV:
        monkeypatch.delenv(name, raising=False)
    add_staff(location)
    with crmbook_serve(location, tmp_path / "serve.log") as (url, _):
        admin, _ = log_in(url, "demo")
        jobs = _health(admin)["background"]["jobs"]
        assert jobs["sync"] == {"off": "not configured"}
        assert set(jobs) == {"mail_fetch", "mail_drain", "sync"}
    assert _runs(location) == []
