"""A pull stopped inside a crowded second loses nothing.

Odoo gives every record of a bulk edit the same ``write_date`` second. A run that stops
(killed, or the ERP gone) after a page that ended inside such a second must not leave
the saved read position at that second: the next runs read from after it and the rest
of the second would never be pulled (only ``--full`` brought them back).
"""

from __future__ import annotations

import pytest

from erp_bridge import Unavailable, sync
from tests.erp_bridge.fake_odoo import FakeOdoo, seed
from tests.erp_bridge.test_sync_faults import after, partners_here


@pytest.fixture
def odoo() -> FakeOdoo:
    return seed(FakeOdoo(), partners=False)


def run(ws, erp, **kw):
    return sync(ws, erp, xmlid_prefix="crmbook_test", **kw)


@pytest.mark.parametrize("before", [0, 5])
def test_a_run_stopped_inside_a_crowded_second_loses_none_of_it(ws, odoo, before):
    """``before`` records in earlier seconds, then 250 sharing one second (crowded:
    read by id after the first page): the run dies after the first page."""
    for i in range(before):
        odoo.add("res.partner", name=f"Early {i}", is_company=True)
        odoo.tick(1)
    bulk = [odoo.add("res.partner", name=f"Bulk {i:03d}", is_company=True) for i in range(250)]
    odoo.tick(3600)  # the bulk edit was long before the first run
    odoo.fault = after(1)  # the first page, then the ERP goes away
    with pytest.raises(Unavailable):
        run(ws, odoo, models=["company"], page_size=100)
    assert len(partners_here(ws)) == 100
    odoo.fault = None
    odoo.tick(3600)  # long past the rewind window
    run(ws, odoo, models=["company"], page_size=100)
    run(ws, odoo, models=["company"], page_size=100)
    here = partners_here(ws)
    assert sorted(set(bulk) - set(here)) == []
    assert len(here) == before + 250


def test_a_run_stopped_after_a_page_ending_mid_second_loses_none_of_it(ws, odoo):
    """Not crowded: a page of 10 ends in the middle of a second of 6 records."""
    ids = []
    for second in range(5):
        ids += [odoo.add("res.partner", name=f"Co {second}.{i}", is_company=True) for i in range(6)]
        odoo.tick(1)
    odoo.tick(3600)
    odoo.fault = after(1)
    with pytest.raises(Unavailable):
        run(ws, odoo, models=["company"], page_size=10)
    assert len(partners_here(ws)) == 10
    odoo.fault = None
    odoo.tick(3600)
    run(ws, odoo, models=["company"], page_size=10)
    assert sorted(partners_here(ws)) == sorted(ids)
