"""One Odoo database is one backend, whatever the spelling of its URL.

The tester synced with ``--url http://127.0.0.1:8611`` and then with
``http://localhost:8611``: every deal and activity was duplicated on both sides, as
the backend was named from the URL as typed. A new spelling now resolves to the
backend the workspace knows for that database (by Odoo's ``database.uuid``, or, for a
backend whose uuid was never read, by the address), and the run lock goes by it too.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_core.models import ExternalLink, Opportunity, SyncRun
from erp_bridge import RunBusy, runs, sync
from erp_bridge.odoo.adapter import OdooAdapter, parse_backend
from tests.erp_bridge.fake_odoo import FakeOdoo, seed, with_one_lead

IP = "odoo:crm@127.0.0.1:8611"
NAME = "odoo:crm@localhost:8611"


@pytest.fixture
def odoo() -> FakeOdoo:
    erp = with_one_lead(seed(FakeOdoo()))
    return erp


def run_as(ws, erp: FakeOdoo, spelling: str, **kw):
    erp.backend = spelling  # the adapter names its backend from the URL as typed
    return sync(ws, erp, **kw)


def counts(ws, erp: FakeOdoo) -> tuple[int, int, set[str]]:
    with ws.transaction() as s:
        local = s.scalar(select(func.count()).select_from(Opportunity))
        backends = set(s.scalars(select(ExternalLink.backend).distinct()))
    return local, len(erp.records["crm.lead"]), backends


def test_another_spelling_of_the_same_database_duplicates_nothing(ws, odoo):
    run_as(ws, odoo, IP)
    ws.pipeline.create("Jute bags", expected_revenue="1000", currency="PKR")
    run_as(ws, odoo, IP)
    assert counts(ws, odoo) == (2, 2, {IP})
    report = run_as(ws, odoo, NAME)
    assert report.backend == IP and odoo.backend == IP
    assert counts(ws, odoo) == (2, 2, {IP})
    with ws.transaction() as s:
        assert set(s.scalars(select(SyncRun.backend))) == {IP}
    # Remembered: the next run under that spelling does not ask Odoo again.
    odoo.calls.clear()
    run_as(ws, odoo, NAME)
    assert ("ir.config_parameter", "search_read") not in odoo.calls
    assert counts(ws, odoo) == (2, 2, {IP})


def test_without_the_uuid_a_spelling_of_the_same_address_is_the_same_backend(ws, odoo):
    odoo.uuid = None  # a syncing user who may not read system parameters
    odoo.spellings = {IP, NAME}
    run_as(ws, odoo, IP)
    run_as(ws, odoo, NAME)
    assert counts(ws, odoo) == (1, 1, {IP})


def test_a_workspace_from_before_keeps_its_backend(ws, odoo):
    """A backend synced before identities were kept has none recorded: the address
    decides, and the uuid is remembered for it from then on."""
    run_as(ws, odoo, IP)
    with ws.transaction() as s:
        from crm_core.models import SyncState

        s.query(SyncState).filter(SyncState.key == "identity").delete()
    odoo.spellings = {IP, NAME}
    run_as(ws, odoo, NAME)
    assert counts(ws, odoo) == (1, 1, {IP})
    odoo.spellings = set()  # now the uuid alone is enough, for any spelling
    run_as(ws, odoo, "odoo:crm@erp.lan:8611")
    assert counts(ws, odoo) == (1, 1, {IP})


def test_another_database_stays_a_backend_of_its_own(ws, odoo):
    run_as(ws, odoo, IP)
    other = seed(FakeOdoo(), partners=False)
    other.uuid = "another-database"
    run_as(ws, other, "odoo:crm2@127.0.0.1:8611")
    assert other.backend == "odoo:crm2@127.0.0.1:8611"


def test_the_run_lock_holds_across_spellings(ws, odoo):
    run_as(ws, odoo, IP)
    running = runs.start(ws, IP)
    with pytest.raises(RunBusy):
        run_as(ws, odoo, NAME)
    with ws.transaction() as s:
        assert s.get(SyncRun, running).status == "running"


def test_the_odoo_adapter_compares_addresses():
    adapter = OdooAdapter("http://127.0.0.1:8611", "crm", "admin", "secret")
    assert adapter.backend == IP
    assert adapter.same_server(NAME)
    assert not adapter.same_server("odoo:other@localhost:8611")
    assert not adapter.same_server("odoo:crm@localhost:8069")
    assert not adapter.same_server("fake:test@localhost")
    assert parse_backend("odoo:my@db@[::1]:8069") == ("my@db", "::1", 8069)
