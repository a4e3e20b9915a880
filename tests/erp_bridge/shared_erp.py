"""The in-memory ERP shared by several processes, for the test of two servers syncing
at once: it lives in a manager process (multiprocessing), and each server process
reaches it through a proxy, as two ``crmbook serve`` processes reach one ERP.

``python -m tests.erp_bridge.shared_erp <workspace> <host:port> <authkey hex>`` is one
such server: it runs the scheduled sync job once, as ``crmbook serve``'s scheduler
does, and prints what the job recorded as JSON (result, error, runs, failures).
"""

from __future__ import annotations

import json
import sys
import threading
from multiprocessing.managers import BaseManager
from typing import Any

from erp_bridge.odoo.catalogue import ODOO
from tests.erp_bridge.fake_odoo import FakeOdoo, seed


class SharedErp(FakeOdoo):
    """A seeded in-memory ERP whose clock can be held: the next run that asks for it
    waits there until :meth:`release` (the test's way to keep one sync running)."""

    def __init__(self) -> None:
        super().__init__()
        seed(self)
        self._hold = False
        self._held = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()

    def hold_next_clock(self) -> None:
        self._hold = True

    def wait_held(self, timeout: float) -> bool:
        return self._held.wait(timeout)

    def release(self) -> None:
        self._release.set()

    def partner_names(self) -> list[str]:
        return sorted(r["name"] for r in self.records["res.partner"].values())

    def server_time(self) -> str:
        with self._lock:
            hold, self._hold = self._hold, False
        if hold:
            self._held.set()
            self._release.wait(120)
        return super().server_time()


_ERP: SharedErp | None = None


def _the_erp() -> SharedErp:
    global _ERP
    if _ERP is None:
        _ERP = SharedErp()
    return _ERP


class ErpManager(BaseManager):
    """Serves the one :class:`SharedErp` (each connection in a thread of its own)."""


ErpManager.register("erp", callable=_the_erp)


class Remote:
    """The adapter a server process uses: the shared ERP through its proxy."""

    catalogue = ODOO
    backend = FakeOdoo.backend

    def __init__(self, proxy: Any) -> None:
        self._proxy = proxy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._proxy, name)


def main(location: str, address: str, authkey: str) -> None:
    import crm_core
    from crm_core.background import Scheduler
    from erp_bridge.scheduled import schedule_sync

    host, port = address.rsplit(":", 1)
    manager = ErpManager(address=(host, int(port)), authkey=bytes.fromhex(authkey))
    manager.connect()
    erp = Remote(manager.erp())  # type: ignore[attr-defined]
    with crm_core.open(location, create=False) as ws:
        sched = Scheduler(ws, [])
        job = schedule_sync(sched, lambda: erp)
        assert job is not None
        assert sched.run_due() == ["sync"]
    said = {k: getattr(job, k) for k in ("last_result", "last_error", "runs", "failures")}
    print(json.dumps(said))


if __name__ == "__main__":
    main(*sys.argv[1:4])
