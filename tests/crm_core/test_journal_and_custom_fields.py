"""The journal records who changed what and when; custom fields validate like built-ins."""

import datetime as dt
import json
from decimal import Decimal

import pandas as pd
import pytest

from crm_core import NotFoundError, ValidationError


def test_journal_records_create_update_archive_with_user_time_old_and_new(ws, clock):
    ws.users.add("Olga Ivanova", "olga", role="manager")
    olga = ws.as_user("olga")
    contact = olga.contacts.create(name="Иван Петров", city="Москва", tags=["VIP"])
    clock.advance(hours=1)
    olga.contacts.update(contact["id"], city="Казань", tags=["VIP", "Опт"])
    clock.advance(hours=1)
    ws.contacts.archive(contact["id"])  # not acting as anyone

    log = ws.journal.for_record("contacts", contact["id"])
    assert log["action"].tolist() == ["create", "update", "update", "archive"]
    created = log.iloc[0]
    assert created["user"] == "olga"
    assert created["at"] == dt.datetime(2026, 5, 15, 9, 30, tzinfo=dt.UTC)
    assert json.loads(created["new"])["name"] == "Иван Петров"
    changes = {r.field: (json.loads(r.old), json.loads(r.new)) for r in log.iloc[1:3].itertuples()}
    assert changes == {"city": ("Москва", "Казань"), "tags": (["VIP"], ["VIP", "Опт"])}
    assert log.iloc[1]["at"] == dt.datetime(2026, 5, 15, 10, 30, tzinfo=dt.UTC)
    archived = log.iloc[3]
    assert (archived["field"], archived["old"], archived["new"]) == ("active", "true", "false")
    assert pd.isna(archived["user"])


def test_journal_since_returns_later_entries_in_order(ws):
    first = ws.companies.create(name="Colombo Tea Traders")
    mark = int(ws.journal.since(0)["id"].max())
    ws.companies.update(first["id"], city="Colombo")
    later = ws.journal.since(mark)
    assert later["field"].tolist() == ["city"]
    assert later["entity"].tolist() == ["companies"]


def test_custom_field_lifecycle_and_typed_values(ws):
    ws.custom_fields.define("company", "employees", "number", required=True)
    ws.custom_fields.define("company", "founded", "date")
    ws.custom_fields.define("company", "exporter", "bool")
    ws.custom_fields.define("company", "segment", "choice", choices=["SME", "Enterprise"])
    company = ws.companies.create(
        name="Dhaka Jute Mills",
        custom={"employees": "250", "founded": "1998-04-01", "exporter": "yes", "segment": "SME"},
    )
    assert company["custom"] == {
        "employees": Decimal("250"),
        "founded": dt.date(1998, 4, 1),
        "exporter": True,
        "segment": "SME",
    }
    updated = ws.companies.update(company["id"], custom={"founded": None, "employees": 260})
    assert updated["custom"] == {"employees": Decimal("260"), "exporter": True, "segment": "SME"}
    assert ws.companies.search(custom={"exporter": True})["id"].tolist() == [company["id"]]
    assert ws.companies.search(custom={"employees": "260"})["id"].tolist() == [company["id"]]
    assert ws.companies.search(custom={"segment": "Enterprise"}).empty
    log = ws.journal.for_record("companies", company["id"])
    fields = log[log["action"] == "update"]["field"].tolist()
    assert sorted(fields) == ["custom.employees", "custom.founded"]
    listed = ws.custom_fields.list("company")
    assert listed["name"].tolist() == ["employees", "exporter", "founded", "segment"]


def test_required_custom_fields_and_typed_errors(ws):
    ws.custom_fields.define("contact", "cnic", "text", required=True)
    ws.custom_fields.define("contact", "score", "number")
    with pytest.raises(ValidationError) as info:
        ws.contacts.create(name="Sindhi Customer", custom={"score": "high"})
    fields = {e.field: e.reason for e in info.value.errors}
    assert fields == {"custom.score": "is not a number", "custom.cnic": "is required"}
    ok = ws.contacts.create(name="سنڌي گراهڪ", custom={"cnic": "42101-1234567-1"})
    with pytest.raises(ValidationError, match=r"custom\.cnic.*is required"):
        ws.contacts.update(ok["id"], custom={"cnic": None})
    assert ws.contacts.update(ok["id"], city="Hyderabad")["custom"] == {"cnic": "42101-1234567-1"}


def test_custom_field_definitions_are_validated(ws):
    with pytest.raises(ValidationError) as info:
        ws.custom_fields.define("invoice", "Bad Name", "colour")
    assert {e.field for e in info.value.errors} == {"entity", "name", "type"}
    with pytest.raises(ValidationError, match="choices"):
        ws.custom_fields.define("contact", "tier", "choice", choices=[])
    ws.custom_fields.define("contact", "tier", "choice", choices=["a", "b"])
    with pytest.raises(ValidationError, match="already defined"):
        ws.custom_fields.define("contact", "tier", "text")
    ws.custom_fields.remove("contact", "tier")
    with pytest.raises(NotFoundError):
        ws.custom_fields.remove("contact", "tier")
