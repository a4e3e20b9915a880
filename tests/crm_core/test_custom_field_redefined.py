"""A custom field removed and defined again with another type: the old values go with
the removal (journaled), the records stay readable and writable, and a value that does
not fit its definition (left by a workspace from before the rule) is read as written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from crm_core.export import tables
from crm_core.models import Contact
from crm_core.services import custom_fields


@pytest.fixture
def gold(ws):
    ws.custom_fields.define("contact", "tier", "choice", choices=["gold", "silver"])
    return ws.contacts.create(name="Olga Petrova", custom={"tier": "gold"})


@pytest.mark.parametrize("kind", ["date", "number"])
def test_removing_a_field_drops_its_values_so_a_new_type_starts_empty(ws, gold, kind):
    assert ws.custom_fields.remove("contact", "tier") == 1
    assert ws.contacts.get(gold["id"])["custom"] == {}
    changes = ws.journal.for_record("contacts", gold["id"])
    last = changes[changes["field"] == "custom.tier"].iloc[-1]
    assert (last["action"], last["old"]) == ("update", '"gold"') and pd.isna(last["new"])

    ws.custom_fields.define("contact", "tier", kind)
    assert ws.contacts.get(gold["id"])["custom"] == {}
    value = "2026-06-01" if kind == "date" else "12.5"
    updated = ws.contacts.update(gold["id"], custom={"tier": value})
    expected = dt.date(2026, 6, 1) if kind == "date" else Decimal("12.5")
    assert updated["custom"] == {"tier": expected}
    assert ws.contacts.archive(gold["id"])["active"] is False


def test_values_are_dropped_in_batches_across_every_record(ws, monkeypatch):
    monkeypatch.setattr(custom_fields, "BATCH", 2)
    ws.custom_fields.define("contact", "tier", "text")
    made = [ws.contacts.create(name=f"C{i}", custom={"tier": f"t{i}"}) for i in range(5)]
    plain = ws.contacts.create(name="No tier")
    assert ws.custom_fields.remove("contact", "tier") == 5
    for c in made:
        assert ws.contacts.get(c["id"])["custom"] == {}
    assert ws.contacts.get(plain["id"])["version"] == plain["version"]  # untouched


@pytest.mark.parametrize("kind", ["date", "number"])
def test_a_stored_value_that_does_not_fit_is_read_as_written(ws, gold, kind):
    # A workspace from before the rule: the value outlived its definition.
    ws.custom_fields.remove("contact", "tier")
    with ws.transaction() as s:
        s.get(Contact, gold["id"]).custom = {"tier": "gold", "kept": "x"}
    with ws.transaction() as s:  # the definition again, values kept (old rule)
        s.add(
            custom_fields.CustomFieldDefinition(
                entity="contact", name="tier", type=kind, label="Tier", required=False
            )
        )
    assert ws.contacts.get(gold["id"])["custom"]["tier"] == "gold"
    assert ws.contacts.update(gold["id"], city="Kazan")["custom"]["tier"] == "gold"
    assert ws.contacts.archive(gold["id"])["custom"]["tier"] == "gold"
    # ... and the contacts export writes it as written, not a crash
    ws.contacts.restore(gold["id"])
    table = tables.contacts(ws)
    assert [row[-1] for row in table.rows] == ["gold"]
