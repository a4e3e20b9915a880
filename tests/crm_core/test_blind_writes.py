"""A change given no ``expected_version`` (a blind write: "set this field") that meets
another process's write of the same record between its read and its UPDATE is tried
again on a fresh read, instead of failing with a conflict about a version the caller
never gave."""

from __future__ import annotations

import crm_core
from crm_core.services import parties


def _other_process(ws):
    return crm_core.open(ws.engine.url.render_as_string(hide_password=False), clock=ws.clock)


def test_two_processes_updating_different_fields_of_one_contact_both_land(ws, monkeypatch):
    olga = ws.contacts.create(name="Olga Petrova", city="Kazan")
    other = _other_process(ws)
    real = parties.get_or_404
    raced = []

    def read_then_race(*args, **kwargs):
        found = real(*args, **kwargs)
        if not raced:  # the other process writes between this read and its UPDATE
            raced.append(True)
            other.contacts.update(olga["id"], phone="+7 843 123 45 67")
        return found

    monkeypatch.setattr(parties, "get_or_404", read_then_race)
    updated = ws.contacts.update(olga["id"], city="Moscow")
    assert (updated["city"], updated["phone"]) == ("Moscow", "+78431234567")
    assert updated["version"] == olga["version"] + 2
    other.close()
