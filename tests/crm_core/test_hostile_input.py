"""Hostile input: every public service call gives a result or a CrmError, never another
exception, and a refused call leaves the database exactly as it was. On SQLite and
PostgreSQL.

The property tests draw calls to the services with values an unlucky or malicious
caller could pass (lone surrogates, NUL and control characters, huge and exotic
numbers, wrong types, dates at the end of time, tags differing only in case, text in
Urdu, Bengali, Tamil and Russian). The table-driven tests below them pin each failure
the issue reported, by its reproduction.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from crm_core import ConflictError, CrmError, NotFoundError, ValidationError, bulk
from crm_core.errors import WorkspaceBusy
from crm_core.models import (
    Base,
    Campaign,
    Contact,
    CustomFieldDefinition,
    LostReason,
    Setting,
    Stage,
    Tag,
)
from crm_core.party_writer import PartyWriter
from crm_core.services.base import tags_for
from crm_core.services.unique import insert_unique

# -- what hostile callers pass ------------------------------------------------------------

SCRIPTS = ["عمران خان", "আব্দুল করিম", "முருகன் செல்வம்", "Иван Петров", "Jürgen Straße", "سنڌي"]
NASTY_CHARACTERS = ["\x00", "\ud800", "\udfff", "\ud83d\ude00", "\x07", "\x1b[31m", "\x85"]
NASTY_CHARACTERS += ["\u202e", "\ufeff", "\t", "\n", "\r\n", "\uffff", "\U0010ffff"]
EXOTIC_NUMBERS = ["1e30", "NaN", "nan", "Infinity", "-Infinity", "1_000", "٣٤", "৩৪", "3٤"]
EXOTIC_NUMBERS += ["1,5", "0x10", " 12 ", "+", "-0", "9" * 40, "1234567890123456.78", "²"]
EXOTIC_NUMBERS += ["-1", "100.001", "1e-7", "", "   ", "10000000000000000"]
DATES: list[Any] = ["9999-12-31", "0001-01-01", "9999-12-31T23:59-05:00", "2026-02-30"]
DATES += ["0001-01-01T00:00+05:00", "2026-05-01T10:00", "20260501", "2026-05-01 10:00:00+14:00"]
DATES += [dt.date.max, dt.date.min, dt.datetime.max.replace(tzinfo=dt.UTC), dt.datetime(2026, 1, 1)]
DATES += [dt.datetime.min.replace(tzinfo=dt.timezone(dt.timedelta(hours=5))), dt.date(2026, 6, 1)]
WRONG_TYPES: list[Any] = [None, True, False, [], ["a"], {}, {"a": 1}, b"bytes", 3.5, {1, 2}]
WRONG_TYPES += [("t",), float("nan"), float("inf"), Decimal("NaN"), Decimal("sNaN"), object()]
WRONG_TYPES += [Decimal("1E+30"), Decimal("-0.001")]
BIG_INTS = [0, -1, 2**31 - 1, 2**31, 10**12, 2**63, -(2**63) - 1, 10**30]

nasty_text = st.lists(
    st.one_of(
        st.sampled_from(NASTY_CHARACTERS),
        st.sampled_from(SCRIPTS),
        st.text(st.characters(exclude_categories=[]), max_size=8),
    ),
    max_size=6,
).map("".join)
long_text = st.sampled_from(["x" * 301, "ش" * 2001, "৩" * 101, "a" * 100_001])
case_tags = st.lists(st.sampled_from(["vipx", "VIPX", "Vipx", "ＶＩＰＸ", "straße", "STRASSE"]))
hostile = st.one_of(
    nasty_text,
    long_text,
    st.sampled_from(EXOTIC_NUMBERS),
    st.sampled_from(DATES),
    st.sampled_from(WRONG_TYPES),
    st.sampled_from(BIG_INTS),
    st.integers(),
    st.floats(),
    st.decimals(),
    case_tags,
)


class Ref:
    """An id of a record made by the test's seed (resolved when the call runs)."""

    def __init__(self, key: str):
        self.key = key


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()  # a parameter left out of the call


class Param:
    """A parameter of a call: its valid values, and what a hostile caller passes."""

    def __init__(self, valid: tuple[Any, ...], bad: st.SearchStrategy[Any], required: bool):
        self.valid = valid
        self.bad = bad
        self.required = required

    def draw(self, data: st.DataObject, name: str, hostile_now: bool) -> Any:
        if hostile_now:
            return data.draw(self.bad, label=name)
        choices = self.valid if self.required else (*self.valid, MISSING)
        return data.draw(st.sampled_from(choices), label=name)


def arg(*valid: Any, bad: st.SearchStrategy[Any] | None = None, required: bool = False) -> Param:
    """A parameter taking ``valid`` values (or left out unless ``required``); when the
    draw picks it to be hostile, anything from ``bad`` (default: :data:`hostile`)."""
    return Param(valid, hostile if bad is None else bad, required)


def ref(key: str) -> Param:
    """The id of a seeded record (hostile: anything)."""
    return arg(Ref(key), required=True)


def seed(ws: Any) -> dict[str, Any]:
    """A few records of every kind for the calls to work on."""
    ws.set_setting("phone_region", "PK")
    ws.users.add("Ayesha", "ayesha", role="manager")
    ws.custom_fields.define("contact", "tier", "choice", choices=["gold", "silver"])
    ws.custom_fields.define("contact", "score", "number")
    ws.custom_fields.define("opportunity", "due", "date")
    company = ws.companies.create(name="Indus Textiles", tags=["VIP"])
    contact = ws.contacts.create(name="عمران خان", company=company["id"], phone="0300 1234567")
    deal = ws.pipeline.create("Uniforms", company=company["id"], expected_revenue="1500.00")
    act = ws.activities.schedule("call", "Call back", "2026-06-01", contact=contact["id"])
    camp = ws.campaigns.create("Eid", cost="100.00")
    ws.segments.create("Karachi", "contact", city="Karachi")
    return {
        "company": company["id"],
        "contact": contact["id"],
        "opportunity": deal["id"],
        "activity": act["id"],
        "campaign": camp["id"],
    }


def snapshot(ws: Any) -> tuple[Any, ...]:
    """Rows and versions of every table, the settings and the campaign responses: any
    write shows here."""
    out: list[Any] = []
    with ws.transaction() as s:
        for table in Base.metadata.sorted_tables:
            out.append((table.name, s.scalar(select(func.count()).select_from(table))))
            if "version" in table.c:
                out.append(s.scalar(select(func.coalesce(func.sum(table.c.version), 0))))
        out.append(sorted(s.execute(select(Setting.key, Setting.value)).all()))
    return tuple(out)


def run(ws: Any, ids: dict[str, Any], call: Any, args: dict[str, Any]) -> None:
    """Make ``call`` with ``args`` (left-out ones dropped, refs resolved): it must give a
    result or a CrmError, and after a CrmError the database must be as it was."""
    given = {
        k: (ids[v.key] if isinstance(v, Ref) else v) for k, v in args.items() if v is not MISSING
    }
    before = snapshot(ws)
    try:
        call(ws, given)
    except CrmError:
        assert snapshot(ws) == before, f"a refused call wrote something: {given!r}"


PROPERTY = settings(
    # HOSTILE_EXAMPLES=1000 for a longer hunt; the default keeps the module < 60 s.
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

PARTY_FIELDS = {
    "name": arg("Imran Khan", "করিম"),
    "email": arg("imran@indus.pk"),
    "phone": arg("0300 1234567", "+92 21 35123456"),
    "street": arg("Shahrah-e-Faisal"),
    "city": arg("Karachi"),
    "country": arg("PK", "Bangladesh"),
    "notes": arg("line one\nline two"),
    "tags": arg(["VIP"], bad=st.one_of(case_tags, hostile)),
    "owner": arg("ayesha"),
}
CONTACT_FIELDS = {
    **PARTY_FIELDS,
    "custom": arg(
        {"tier": "gold"},
        {"score": "12.5"},
        bad=st.one_of(
            st.fixed_dictionaries({"tier": hostile}),
            st.fixed_dictionaries({"score": hostile}),
            st.dictionaries(hostile.filter(lambda k: _hashable(k)), hostile, max_size=2),
            hostile,
        ),
    ),
    "company": arg(Ref("company")),
    "mobile": arg("+880 1711-234567"),
    "language": arg("ur", "bn_BD"),
    "birthday": arg("1990-01-31"),
    "job_title": arg("Director"),
}
SEARCH = {
    "q": arg("imran", "করিম"),
    "email": arg("imran@indus.pk"),
    "phone": arg("0300-123 4567"),
    "tag": arg("vip"),
    "city": arg("karachi"),
    "country": arg("PK"),
    "owner": arg("ayesha"),
    "custom": arg({"tier": "gold"}),
    "order_by": arg("name", "city"),
    "limit": arg(10),
    "offset": arg(0),
    "id": ref("contact"),
}

PARTY_CALLS = {
    "contacts.create": (lambda ws, a: ws.contacts.create(**a), CONTACT_FIELDS),
    "companies.create": (lambda ws, a: ws.companies.create(**a), PARTY_FIELDS),
    "contacts.update": (
        lambda ws, a: ws.contacts.update(a.pop("record_id", None), **a),
        {**CONTACT_FIELDS, "record_id": ref("contact"), "expected_version": arg(1, None)},
    ),
    "companies.update": (
        lambda ws, a: ws.companies.update(a.pop("record_id", None), a.pop("changes", None), **a),
        {**PARTY_FIELDS, "record_id": ref("company"), "changes": arg({"city": "Lahore"})},
    ),
    "contacts.search": (lambda ws, a: ws.contacts.search(**a), SEARCH),
    "contacts.count": (
        lambda ws, a: ws.contacts.count(**{k: v for k, v in a.items() if k not in ("limit",)}),
        {k: SEARCH[k] for k in ("q", "email", "phone", "tag", "city", "country", "id")},
    ),
    "companies.search": (
        lambda ws, a: ws.companies.search(**a),
        {k: v for k, v in SEARCH.items() if k != "id"},
    ),
    "contacts.get": (lambda ws, a: ws.contacts.get(a.get("id")), {"id": ref("contact")}),
    "contacts.archive": (
        lambda ws, a: ws.contacts.archive(a.get("id"), expected_version=a.get("v")),
        {"id": ref("contact"), "v": arg(None)},
    ),
    "contacts.ids_named": (
        lambda ws, a: ws.contacts.ids_named(a.get("n")),
        {"n": arg("x", required=True)},
    ),
}

DEAL_FIELDS = {
    "company": arg(Ref("company")),
    "contact": arg(Ref("contact")),
    "owner": arg("ayesha"),
    "expected_revenue": arg("1500.00", "9999999999999.99"),
    "currency": arg("PKR"),
    "probability": arg("55.5"),
    "expected_close": arg("2026-12-31"),
    "priority": arg(2),
    "source": arg("web"),
    "campaign_id": arg(Ref("campaign")),
    "description": arg("text"),
    "type": arg("lead"),
    "tags": arg(["Hot"], bad=st.one_of(case_tags, hostile)),
    "custom": arg({"due": "2026-01-01"}),
}
DEAL_CALLS = {
    "pipeline.create": (
        lambda ws, a: ws.pipeline.create(a.pop("name", "Deal"), **a),
        {
            **DEAL_FIELDS,
            "name": arg("Deal", "তাঁত", required=True),
            "stage": arg("Qualified"),
            "pipeline": arg("Sales"),
        },
    ),
    "pipeline.update": (
        lambda ws, a: ws.pipeline.update(a.pop("id", None), **a),
        {**DEAL_FIELDS, "id": ref("opportunity"), "expected_version": arg(None)},
    ),
    "pipeline.move": (
        lambda ws, a: ws.pipeline.move(a.get("id"), a.get("stage")),
        {"id": ref("opportunity"), "stage": arg("Proposition", "won")},
    ),
    "pipeline.win": (lambda ws, a: ws.pipeline.win(a.get("id")), {"id": ref("opportunity")}),
    "pipeline.lose": (
        lambda ws, a: ws.pipeline.lose(a.get("id"), a.get("reason"), note=a.get("note")),
        {
            "id": ref("opportunity"),
            "reason": arg("No budget", "New", required=True),
            "note": arg("n"),
        },
    ),
    "pipeline.reopen": (
        lambda ws, a: ws.pipeline.reopen(a.get("id"), a.get("stage")),
        {"id": ref("opportunity"), "stage": arg("New")},
    ),
    "pipeline.search": (
        lambda ws, a: ws.pipeline.search(**a),
        {
            "q": arg("uni"),
            "stage": arg("New"),
            "status": arg("open"),
            "owner": arg("ayesha"),
            "tag": arg("vipx"),
            "type": arg("lead"),
            "company_id": arg(Ref("company")),
            "close_from": arg("2026-01-01"),
            "close_to": arg("2026-12-31"),
            "order_by": arg("name"),
            "limit": arg(5),
            "offset": arg(0),
            "pipeline": arg("Sales"),
        },
    ),
    "pipeline.by_stage": (
        lambda ws, a: ws.pipeline.by_stage(a.get("p"), owner=a.get("owner")),
        {"p": arg("Sales"), "owner": arg("ayesha")},
    ),
    "pipeline.create_pipeline": (
        lambda ws, a: ws.pipeline.create_pipeline(a.get("name"), *([a["st"]] if "st" in a else [])),
        {
            "name": arg("Other"),
            "st": arg(
                [("A", 10, False, False), ("W", 100, True, False)],
                bad=st.one_of(
                    hostile,
                    st.lists(st.tuples(hostile, hostile, hostile, hostile), max_size=3),
                    st.lists(
                        st.tuples(
                            hostile, st.sampled_from([0, 100, 50]), st.booleans(), st.booleans()
                        ),
                        max_size=3,
                    ),
                ),
            ),
        },
    ),
    "pipeline.history": (
        lambda ws, a: ws.pipeline.history(a.get("id")),
        {"id": ref("opportunity")},
    ),
}

WORK_CALLS = {
    "activities.schedule": (
        lambda ws, a: ws.activities.schedule(
            a.pop("kind", "call"), a.pop("subject", "S"), a.pop("due", "2026-06-01"), **a
        ),
        {
            "kind": arg("todo"),
            "subject": arg("Call"),
            "due": arg("2026-07-01"),
            "contact": arg(Ref("contact"), required=True),
            "opportunity": arg(Ref("opportunity")),
            "assignee": arg("ayesha"),
            "note": arg("a\tb"),
        },
    ),
    "activities.update": (
        lambda ws, a: ws.activities.update(a.pop("id", None), **a),
        {
            "id": ref("activity"),
            "subject": arg("New subject"),
            "due_date": arg("2026-08-01"),
            "note": arg("note"),
            "company": arg(Ref("company")),
        },
    ),
    "activities.complete": (
        lambda ws, a: ws.activities.complete(a.get("id"), note=a.get("note"), at=a.get("at")),
        {"id": ref("activity"), "note": arg("done"), "at": arg("2026-05-15T10:00+05:00")},
    ),
    "activities.snooze": (
        lambda ws, a: ws.activities.snooze(a.get("id"), days=a.get("days"), until=a.get("until")),
        {"id": ref("activity"), "days": arg(3), "until": arg("2026-09-01")},
    ),
    "activities.lists": (
        lambda ws, a: (
            ws.activities.overdue(a.get("user")),
            ws.activities.upcoming(a.get("user"), days=a.get("days", 7)),
            ws.activities.for_record(contact_id=a.get("contact")),
        ),
        {"user": arg("ayesha"), "days": arg(30), "contact": arg(Ref("contact"))},
    ),
    "interactions.log": (
        lambda ws, a: ws.interactions.log(a.pop("channel", "call"), a.pop("dir", "in"), **a),
        {
            "channel": arg("email"),
            "dir": arg("out"),
            "at": arg("2026-05-01T10:00+05:00"),
            "contact": arg(Ref("contact"), required=True),
            "subject": arg("Price"),
            "summary": arg("multi\nline"),
            "user": arg("ayesha"),
        },
    ),
    "interactions.timeline": (
        lambda ws, a: ws.interactions.timeline(**a),
        {"contact_id": arg(Ref("contact")), "company_id": arg(Ref("company")), "limit": arg(5)},
    ),
}

OTHER_CALLS = {
    "segments.create": (
        lambda ws, a: ws.segments.create(a.pop("name", "S"), a.pop("entity", "contact"), **a),
        {
            "name": arg("VIPs"),
            "entity": arg("contact", "opportunity"),
            "city": arg("Karachi"),
            "tag": arg("vip"),
            "custom": arg({"tier": "gold"}),
        },
    ),
    "segments.evaluate": (
        lambda ws, a: (
            ws.segments.evaluate(a.get("s"), limit=a.get("limit", 10)),
            ws.segments.count(a.get("s")),
        ),
        {"s": arg("Karachi", 1, required=True), "limit": arg(10)},
    ),
    "campaigns.create": (
        lambda ws, a: ws.campaigns.create(a.pop("name", "C"), **a),
        {
            "name": arg("Ramadan"),
            "channel": arg("sms"),
            "starts_on": arg("2026-03-01"),
            "ends_on": arg("2026-03-30"),
            "cost": arg("1000.00"),
            "currency": arg("PKR"),
        },
    ),
    "campaigns.add_contacts": (
        lambda ws, a: ws.campaigns.add_contacts(a.get("c"), a.get("ids"), segment=a.get("seg")),
        {"c": ref("campaign"), "ids": arg([1], []), "seg": arg("Karachi")},
    ),
    "campaigns.responded": (
        lambda ws, a: ws.campaigns.responded(a.get("c"), a.get("p"), at=a.get("at")),
        {"c": ref("campaign"), "p": ref("contact"), "at": arg(None)},
    ),
    "custom_fields.define": (
        lambda ws, a: ws.custom_fields.define(
            a.pop("entity", "contact"), a.pop("name", "x"), a.pop("type", "text"), **a
        ),
        {
            "entity": arg("company"),
            "name": arg("size", "tier"),
            "type": arg("choice", "number"),
            "choices": arg(["s", "m"]),
            "label": arg("Size"),
            "required": arg(False),
        },
    ),
    "users.add": (
        lambda ws, a: ws.users.add(a.pop("name", "N"), a.pop("login", "n"), **a),
        {
            "name": arg("Bilal"),
            "login": arg("bilal"),
            "email": arg("bilal@example.pk"),
            "role": arg("sales"),
            "team": arg("Karachi"),
            "password": arg("crmbook-demo"),
        },
    ),
    "users.lookups": (
        lambda ws, a: (
            ws.users.authenticate(a.get("login"), a.get("pw")),
            ws.users.get(a.get("login")),
        ),
        {"login": arg("ayesha", required=True), "pw": arg("wrong-password", required=True)},
    ),
    "settings": (
        lambda ws, a: (ws.set_setting(a.get("key"), a.get("value")), ws.setting(a.get("key"))),
        {
            "key": arg("phone_region", "currency", "timezone", required=True),
            "value": arg("BD", "USD", "Asia/Dhaka", required=True),
        },
    ),
    "as_user": (
        lambda ws, a: ws.as_user(a.get("u")).contacts.count(),
        {"u": arg("ayesha", required=True)},
    ),
    "accounts": (
        lambda ws, a: (
            ws.accounts.invoices(company_id=a.get("co"), limit=a.get("limit", 10)),
            ws.accounts.open_balance(contact_id=a.get("p")),
            ws.accounts.products(a.get("q")),
            ws.accounts.links(a.get("e", "company"), a.get("co")),
        ),
        {"co": arg(Ref("company")), "p": arg(Ref("contact")), "q": arg("x"), "e": arg("contact")},
    ),
    "journal": (
        lambda ws, a: (
            ws.journal.for_record(a.get("e", "contacts"), a.get("p")),
            ws.journal.since(a.get("n", 0)),
        ),
        {"e": arg("companies"), "p": arg(Ref("contact")), "n": arg(5)},
    ),
    "metrics": (
        lambda ws, a: (
            ws.metrics.headline(a.get("f"), a.get("t")),
            ws.metrics.revenue_by_month(a.get("m", 12)),
            ws.metrics.funnel(a.get("pl")),
        ),
        {"f": arg("2026-01-01"), "t": arg("2026-12-31"), "m": arg(6), "pl": arg("Sales")},
    ),
    "quality": (
        lambda ws, a: (ws.quality.issues(a.get("e")), ws.quality.count(a.get("e"))),
        {"e": arg("contact")},
    ),
}


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _property(calls: dict[str, Any]) -> Any:
    @PROPERTY
    @given(data=st.data())
    def check(ws: Any, data: st.DataObject) -> None:
        if not hasattr(ws, "_hostile_ids"):
            ws._hostile_ids = seed(ws)
        name = data.draw(st.sampled_from(sorted(calls)), label="call")
        call, params = calls[name]
        # One or two hostile values among valid ones: a call gets far enough to write
        # something before it meets them, which is where a partial write would show.
        bad = data.draw(st.sets(st.sampled_from(sorted(params)), max_size=2), label="hostile")
        args = {k: p.draw(data, k, k in bad) for k, p in params.items()}
        run(ws, ws._hostile_ids, call, args)

    return check


IMPORT_FIELDS = {
    k: CONTACT_FIELDS[k] for k in ("name", "email", "phone", "city", "country", "tags", "company")
}


@PROPERTY
@given(data=st.data())
def test_imports_and_batch_writes_take_anything(
    ws: Any, data: st.DataObject, tmp_path: Any
) -> None:
    """A bulk import reports every row as inserted or rejected, and the sync's batch
    writer gives every row an id or a reason; the database holds exactly those rows."""
    if not hasattr(ws, "_hostile_ids"):
        ws._hostile_ids = seed(ws)
    rows = []
    for _ in range(data.draw(st.integers(1, 4), label="rows")):
        bad = data.draw(st.sets(st.sampled_from(sorted(IMPORT_FIELDS)), max_size=2))
        drawn = {k: p.draw(data, k, k in bad) for k, p in IMPORT_FIELDS.items()}
        rows.append(
            {
                k: (ws._hostile_ids[v.key] if isinstance(v, Ref) else v)
                for k, v in drawn.items()
                if v is not MISSING
            }
        )
    how = data.draw(st.sampled_from(["import", "import keeping", "writer"]), label="how")
    before = ws.contacts.count(include_archived=True)
    if how == "writer":
        with ws.transaction() as s:
            results = PartyWriter(ws, "contact").create(s, rows)
        made = sum(isinstance(r, int) for r in results)
        assert all(isinstance(r, int | str) for r in results)
    else:
        report = bulk.import_contacts(
            ws, rows, rejects=tmp_path / "r.csv", keep_invalid=how == "import keeping"
        )
        assert report.inserted + report.rejected == len(rows) and report.failed == 0
        made = report.inserted
    assert ws.contacts.count(include_archived=True) == before + made


test_parties_take_anything = _property(PARTY_CALLS)
test_deals_take_anything = _property(DEAL_CALLS)
test_activities_and_interactions_take_anything = _property(WORK_CALLS)
test_segments_campaigns_fields_users_settings_take_anything = _property(OTHER_CALLS)


# -- the reproductions of the issue, one by one ---------------------------------------------


def refused(ws: Any, call: Any, *match: str) -> ValidationError:
    """``call`` raises ValidationError naming each of ``match``, and writes nothing."""
    before = snapshot(ws)
    with pytest.raises(ValidationError) as info:
        call()
    for text in match:
        assert text in str(info.value)
    assert snapshot(ws) == before
    return info.value


@pytest.fixture
def base(ws):
    ws.set_setting("phone_region", "PK")
    ws.custom_fields.define("contact", "score", "number")
    company = ws.companies.create(name="Acme")
    contact = ws.contacts.create(name="Imran Khan", company=company["id"])
    deal = ws.pipeline.create("Uniforms", company=company["id"])
    return ws, company["id"], contact["id"], deal["id"]


REFUSALS = [
    (
        "lone surrogate in a name",
        lambda ws, c, p, d: ws.contacts.create(name="Imran \ud800"),
        ["field 'name'", "lone surrogate (U+D800)"],
    ),
    (
        "NUL in a name",
        lambda ws, c, p, d: ws.companies.update(c, name="Ac\x00me"),
        ["company #1 'Acme': field 'name'", "NUL character"],
    ),
    (
        "a terminal escape in a city",
        lambda ws, c, p, d: ws.contacts.update(p, city="\x1b[31mKarachi"),
        ["field 'city'", "control character U+001B"],
    ),
    (
        "a C1 control in a deal name",
        lambda ws, c, p, d: ws.pipeline.update(d, name="Uni\x85forms"),
        ["field 'name'", "control character U+0085"],
    ),
    (
        "1e30 as revenue",
        lambda ws, c, p, d: ws.pipeline.create("X", expected_revenue="1e30"),
        ["field 'expected_revenue' value '1e30': is not a number"],
    ),
    (
        "NaN as revenue",
        lambda ws, c, p, d: ws.pipeline.update(d, expected_revenue="NaN"),
        ["'NaN': is not a number"],
    ),
    (
        "Infinity as a Decimal",
        lambda ws, c, p, d: ws.pipeline.update(d, expected_revenue=Decimal("Infinity")),
        ["is not a finite number"],
    ),
    (
        "Python's 1_000",
        lambda ws, c, p, d: ws.campaigns.create("C", cost="1_000"),
        ["field 'cost' value '1_000': is not a number"],
    ),
    (
        "digits of two scripts",
        lambda ws, c, p, d: ws.pipeline.update(d, priority="1٢"),
        ["field 'priority'"],
    ),
    (
        "a comma as decimal separator",
        lambda ws, c, p, d: ws.pipeline.update(d, expected_revenue="1500,50"),
        ["is not a number"],
    ),
    (
        "an empty probability on create",
        lambda ws, c, p, d: ws.pipeline.create("X", probability=""),
        ["field 'probability' value '': is required"],
    ),
    (
        "an empty probability on update",
        lambda ws, c, p, d: ws.pipeline.update(d, probability=None),
        ["field 'probability' value None: is required"],
    ),
    (
        "tags=123",
        lambda ws, c, p, d: ws.contacts.create(name="T", tags=123),
        ["field 'tags' value 123: must be a list of tag names"],
    ),
    (
        "a tag that is not text",
        lambda ws, c, p, d: ws.contacts.update(p, tags=["VIP", 5]),
        ["contains 5, which is not a tag name"],
    ),
    (
        "search(city=5)",
        lambda ws, c, p, d: ws.contacts.search(city=5),
        ["contact search: field 'city' value 5: must be text, not int"],
    ),
    (
        "search(q=...) with a surrogate",
        lambda ws, c, p, d: ws.companies.search("\udfff"),
        ["field 'q'"],
    ),
    (
        "an interaction at the end of time",
        lambda ws, c, p, d: ws.interactions.log(
            "call", "in", contact=p, at="9999-12-31T23:59-05:00"
        ),
        ["field 'at'", "is out of range: dates run from 1800-01-01 to 2999-12-31"],
    ),
    (
        "a birthday in year 1",
        lambda ws, c, p, d: ws.contacts.update(p, birthday=dt.date(1, 1, 1)),
        ["field 'birthday'", "out of range"],
    ),
    (
        "an expected close in 9999",
        lambda ws, c, p, d: ws.pipeline.update(d, expected_close="9999-12-31"),
        ["field 'expected_close'", "out of range"],
    ),
    (
        "company=10**12",
        lambda ws, c, p, d: ws.contacts.create(name="T", company=10**12),
        ["field 'company_id' value 1000000000000: is not the id of an existing company"],
    ),
    (
        "company=2**31",
        lambda ws, c, p, d: ws.pipeline.update(d, company=2**31),
        ["is not the id of an existing company"],
    ),
    (
        "an owner id beyond the column",
        lambda ws, c, p, d: ws.companies.update(c, owner=-(2**40)),
        ["field 'owner_id'", "is not a known user"],
    ),
    (
        "revenue 1e16",
        lambda ws, c, p, d: ws.pipeline.create("X", expected_revenue="10000000000000000"),
        ["is too large: amounts are kept exactly only below 10,000,000,000,000"],
    ),
    (
        "revenue SQLite would round",
        lambda ws, c, p, d: ws.pipeline.update(d, expected_revenue="1234567890123456.78"),
        ["15 significant digits"],
    ),
    (
        "a campaign cost of 10**13",
        lambda ws, c, p, d: ws.campaigns.create("C", cost=10**13),
        ["field 'cost'", "is too large"],
    ),
    (
        "a search page beyond any offset",
        lambda ws, c, p, d: ws.contacts.search(offset=10**30),
        ["field 'offset'"],
    ),
    (
        "an unhashable sort key",
        lambda ws, c, p, d: ws.pipeline.search(order_by=["name"]),
        ["field 'order_by'"],
    ),
    (
        "upcoming activities for 10**9 days",
        lambda ws, c, p, d: ws.activities.upcoming(days=10**9),
        ["field 'days'"],
    ),
    (
        "a custom number of 28 digits and more",
        lambda ws, c, p, d: ws.contacts.update(p, custom={"score": Decimal("1E+30")}),
        ["field 'custom.score'", "is too large"],
    ),
    (
        "a custom field label with a NUL",
        lambda ws, c, p, d: ws.custom_fields.define("contact", "x", "text", label="a\x00"),
        ["field 'label'", "NUL"],
    ),
    (
        "a stage list that is not one",
        lambda ws, c, p, d: ws.pipeline.create_pipeline("P", stages=5),
        ["field 'stages'"],
    ),
    (
        "a setting key that is a list",
        lambda ws, c, p, d: ws.set_setting(["phone_region"], "PK"),
        ["is not a setting"],
    ),
    (
        "a segment filter that cannot be stored",
        lambda ws, c, p, d: ws.segments.create("S", "contact", city={"Karachi"}),
        ["segment 'S': field 'filters'"],
    ),
]


@pytest.mark.parametrize(("case", "call", "match"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_each_reproduction_is_refused_by_name_and_writes_nothing(base, case, call, match):
    ws, company, contact, deal = base
    error = refused(ws, lambda: call(ws, company, contact, deal), *match)
    assert all(e.record and e.field for e in error.errors)


NUMBERS = [
    # written, stored
    ("٣٤", Decimal("34.00")),  # Arabic-Indic digits
    ("৩৪.৫", Decimal("34.50")),  # Bengali digits
    ("۱٬۵۰۰٫۲۵", Decimal("1500.25")),  # Persian digits, Arabic separators
    ("1,500,000.50", Decimal("1500000.50")),
    (" 12 ", Decimal("12.00")),
    ("9999999999999.99", Decimal("9999999999999.99")),  # the largest amount kept
    (12, Decimal("12.00")),
    (Decimal("0.10"), Decimal("0.10")),
]


@pytest.mark.parametrize(("written", "stored"), NUMBERS)
def test_numbers_in_any_script_are_read_and_kept_exactly(base, written, stored):
    ws, _company, _contact, deal = base
    assert ws.pipeline.update(deal, expected_revenue=written)["expected_revenue"] == stored
    assert ws.pipeline.get(deal)["expected_revenue"] == stored  # as read back: exact


def test_tags_differing_only_in_case_are_one_tag(base):
    ws, _company, contact, _deal = base
    created = ws.contacts.create(name="T", tags=["vipx", "VIPX", "ＶＩＰＸ"])
    assert created["tags"] == ["vipx"]
    updated = ws.contacts.update(contact, tags="Vipx, vipx")
    assert updated["tags"] == ["vipx"]
    with ws.transaction() as s:
        assert s.scalars(select(Tag.name)).all() == ["vipx"]


def test_tags_written_in_one_text_split_on_latin_and_arabic_commas_and_semicolons(base):
    ws, _company, contact, _deal = base
    written = "vip; wholesale،تھوک؛ karachi,"  # an Urdu keyboard's comma and semicolon
    assert set(ws.contacts.update(contact, tags=written)["tags"]) == {
        "vip",
        "wholesale",
        "تھوک",
        "karachi",
    }
    refused(ws, lambda: ws.contacts.update(contact, tags=["vip", ""]), "empty tag name")


def test_multi_line_fields_take_tabs_and_newlines_single_line_fields_do_not(base):
    ws, _company, contact, deal = base
    assert ws.contacts.update(contact, notes="line 1\n\tline 2\r\n")["notes"] == "line 1\n\tline 2"
    assert ws.pipeline.update(deal, description="a\nb")["description"] == "a\nb"
    refused(ws, lambda: ws.contacts.update(contact, city="Kar\nachi"), "U+000A")


def test_ids_beyond_the_column_are_not_found(base):
    ws, *_ = base
    for call in (
        lambda: ws.contacts.get(10**12),
        lambda: ws.pipeline.move(2**31, "Qualified"),
        lambda: ws.activities.complete(-(2**63)),
        lambda: ws.segments.evaluate(10**20),
        lambda: ws.as_user(2**40),
        lambda: ws.campaigns.responded(10**12, 10**12),
    ):
        with pytest.raises(NotFoundError):
            call()
    refused(ws, lambda: ws.contacts.search(company_id=10**12), "field 'company_id'")


def test_a_bad_row_in_a_bulk_import_names_the_row_and_keeps_its_batch(ws, tmp_path):
    rows = [{"name": f"Person {i}", "email": f"p{i}@example.com"} for i in range(10)]
    rows[3]["name"] = "Nul\x00Person"  # PostgreSQL refused the whole batch for this
    rows[6]["city"] = "\ud800"
    rows[8]["tags"] = "ok, bad\x00tag"
    report = bulk.import_contacts(ws, rows, rejects=tmp_path / "r.csv")
    assert (report.inserted, report.rejected, report.failed) == (7, 3, 0)
    errors = "\n".join(report.messages)
    assert "contact row 4 'Nul\\x00Person': field 'name'" in errors
    assert "contact row 7 'Person 6': field 'city'" in errors
    assert "contact row 9 'Person 8': field 'tags'" in errors
    assert "database refused" not in errors
    assert ws.contacts.count() == 7
    assert (tmp_path / "r.csv").read_text("utf-8-sig").count("\n") == 4  # header and 3 rows


def test_money_that_cannot_be_stored_exactly_is_refused_on_both_backends(base):
    ws, *_ = base
    for amount in ("1234567890123456.78", "10000000000000.00", Decimal("1E+16")):
        refused(ws, lambda a=amount: ws.pipeline.create("X", expected_revenue=a), "too large")
    kept = ws.pipeline.create("Largest", expected_revenue="9999999999999.99")
    assert ws.pipeline.get(kept["id"])["expected_revenue"] == Decimal("9999999999999.99")


def _hold_and_race(ws: Any, first: Any, second: Any) -> tuple[Any, Any]:
    """Run ``first`` in a transaction kept open while ``second`` runs in another thread
    (so both find nothing and both insert), then commit: the race of two users."""
    out: dict[str, Any] = {}

    def other() -> None:
        try:
            with ws.transaction() as s2:
                out["second"] = second(s2)
        except Exception as exc:  # reported by the assertion below
            out["second"] = exc

    with ws.transaction() as s1:
        out["first"] = first(s1)
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.4)  # the other session now waits on the row (or the file's lock)
    thread.join(30)
    return out["first"], out["second"]


def test_two_users_adding_the_same_new_tag_at_once_get_one_tag(ws):
    first, second = _hold_and_race(
        ws,
        lambda s: [t.id for t in tags_for(s, ["NewTag"])],
        lambda s: [t.id for t in tags_for(s, ["newtag"])],
    )
    assert first == second == [1]
    with ws.transaction() as s:
        assert s.scalars(select(Tag.name)).all() == ["NewTag"]


def test_two_users_losing_deals_for_the_same_new_reason_get_one_reason(ws):
    def add(s: Any) -> tuple[int, bool]:
        reason, created = insert_unique(s, LostReason, "name", {"name": "Budget cut"})
        return reason.id, created

    (first_id, first_made), (second_id, second_made) = _hold_and_race(ws, add, add)
    assert first_id == second_id and (first_made, second_made) == (True, False)
    with ws.transaction() as s:
        assert s.scalar(select(func.count()).where(LostReason.name == "Budget cut")) == 1


def test_two_syncs_adding_the_same_new_stage_at_once_get_one_stage(ws):
    values = {
        "pipeline_id": 1,
        "name": "Demo",
        "sequence": 25,
        "probability": Decimal(20),
        "is_won": False,
        "is_lost": False,
    }

    def add(s: Any) -> tuple[int, bool]:
        stage, created = insert_unique(s, Stage, ("pipeline_id", "name"), values)
        return stage.id, created

    (first_id, first_made), (second_id, second_made) = _hold_and_race(ws, add, add)
    assert first_id == second_id and (first_made, second_made) == (True, False)
    assert ws.pipeline.stages()["name"].tolist().count("Demo") == 1


def test_a_second_default_pipeline_is_not_created_and_a_named_twin_is_refused(ws):
    ws.pipeline.ensure_default()
    ws.pipeline.ensure_default()
    assert ws.pipeline.stages()["name"].tolist()[0] == "New"
    assert len(ws.pipeline.lost_reasons()) == 5
    refused(ws, lambda: ws.pipeline.create_pipeline("Sales"), "field 'name'", "already exists")


def test_a_stale_write_names_the_record_and_both_versions(base):
    ws, _company, contact, _deal = base
    with pytest.raises(ConflictError) as info, ws.transaction() as s:
        mine = s.get(Contact, contact)
        ws.contacts.update(contact, city="Lahore")  # someone else, meanwhile
        ws.contacts.update(contact, city="Multan")
        mine.city = "Karachi"
        s.flush()
    message = str(info.value)
    assert f"contact #{contact} 'Imran Khan'" in message
    assert "you edited version 1, it is now version 3" in message
    assert (info.value.expected, info.value.actual) == (1, 3)
    assert ws.contacts.get(contact)["city"] == "Multan"


def test_a_locked_sqlite_workspace_is_busy_not_a_raw_error(sqlite_ws):
    ws = sqlite_ws
    path = ws.engine.url.database
    # Wait 0.1 s for a lock instead of 10 s (set before crmbook's own pragmas).
    event.listen(ws.engine, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout=100"))
    ws.engine.dispose()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process writing, for longer than we wait
        with pytest.raises(WorkspaceBusy, match=r"the workspace is busy: .* try again"):
            ws.contacts.create(name="Waits")
        holder.execute("ROLLBACK")
        assert ws.contacts.create(name="Gets through")["id"] == 1
    finally:
        holder.close()


def test_a_busy_sqlite_workspace_is_retried_when_a_transaction_starts(tmp_path, sqlite_template):
    import shutil

    import crm_core

    path = tmp_path / "crm.sqlite"
    shutil.copy(sqlite_template, path)
    ws = crm_core.open(path, connect_args={"timeout": 0.1, "check_same_thread": False})
    event.listen(
        ws.engine, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout=100"), insert=True
    )
    ws.engine.dispose()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # An exclusive lock: no one may even connect and read until it goes.
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE settings SET value = value")
    holder.execute("COMMIT")
    release = threading.Timer(0.5, holder.close)
    release.start()
    try:
        started = time.perf_counter()
        assert ws.info()["contacts"] == 0  # waited, retried, then read
        assert time.perf_counter() - started >= 0.4
    finally:
        release.join()
        ws.close()


def _created_meanwhile(ws: Any, insert: Any, create: Any) -> Any:
    """What ``create`` (a service call) gives while another session has inserted the
    same name and not committed yet: the race of two users creating one name at once
    (the service's own look-up finds nothing, then its insert meets the other's)."""

    def first(s: Any) -> None:
        s.add(insert())
        s.flush()

    def second(_s: Any) -> Any:
        try:
            return create()
        except Exception as exc:  # reported by the assertions of the caller
            return exc

    return _hold_and_race(ws, first, second)[1]


def test_two_users_creating_one_campaign_at_once_get_already_exists(ws):
    outcome = _created_meanwhile(
        ws, lambda: Campaign(name="Eid offer"), lambda: ws.campaigns.create("Eid offer")
    )
    assert isinstance(outcome, ValidationError), outcome
    (error,) = outcome.errors
    assert (error.field, error.value, error.reason) == ("name", "Eid offer", "already exists")
    assert ws.campaigns.list()["name"].tolist() == ["Eid offer"]


def test_two_users_defining_one_custom_field_at_once_get_already_defined(ws):
    outcome = _created_meanwhile(
        ws,
        lambda: CustomFieldDefinition(entity="contact", name="tier", type="text", label="Tier"),
        lambda: ws.custom_fields.define("contact", "tier", "date"),
    )
    assert isinstance(outcome, ValidationError), outcome
    (error,) = outcome.errors
    assert (error.field, error.value, error.reason) == ("name", "tier", "is already defined")
    assert ws.custom_fields.list("contact")["type"].tolist() == ["text"]
