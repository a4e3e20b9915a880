"""The merge rules, the cursor and the mappers, without a network."""

import datetime as dt
from decimal import Decimal

import pytest

from erp_bridge.cursor import Cursor, rewind
from erp_bridge.merge import merge
from erp_bridge.odoo import mappings as m

T0 = dt.datetime(2026, 5, 1, 10, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 5, 1, 11, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("base", "local", "remote", "to_local", "to_remote", "conflict"),
    [
        ("a", "a", "a", {}, {}, None),  # nothing moved
        ("a", "b", "a", {}, {"f": "b"}, None),  # only local moved: push
        ("a", "a", "c", {"f": "c"}, {}, None),  # only remote moved: pull
        ("a", "b", "b", {}, {}, None),  # both moved to the same value: agree
        ("a", None, "", {}, {}, None),  # empty text and None are the same absence
    ],
)
def test_one_side_changed_wins(base, local, remote, to_local, to_remote, conflict):
    result = merge({"f": base}, {"f": base}, {"f": local}, {"f": remote}, {})
    assert (result.to_local, result.to_remote, result.conflicts) == (to_local, to_remote, [])


@pytest.mark.parametrize(
    ("owner", "policy", "local_at", "remote_at", "winner", "rule"),
    [
        ("erp", "last_writer", T1, T0, "remote", "erp owns field"),
        ("crm", "last_writer", T0, T1, "local", "crm owns field"),
        ("shared", "last_writer", T1, T0, "local", "last writer: crm"),
        ("shared", "last_writer", T0, T1, "remote", "last writer: erp"),
        ("shared", "last_writer", T0, T0, "remote", "last writer: erp"),  # tie: the books
        ("shared", "crm", T0, T1, "local", "policy: crm wins"),
        ("shared", "erp", T1, T0, "remote", "policy: erp wins"),
    ],
)
def test_both_changed_goes_to_the_owner_or_policy_and_is_recorded(
    owner, policy, local_at, remote_at, winner, rule
):
    result = merge(
        {"f": "a"},
        {"f": "a"},
        {"f": "mine"},
        {"f": "theirs"},
        {"f": owner},
        policy=policy,
        local_changed_at=local_at,
        remote_changed_at=remote_at,
    )
    (conflict,) = result.conflicts
    assert (conflict.winner, conflict.rule) == (winner, rule)
    assert (conflict.base, conflict.local, conflict.remote) == ("a", "mine", "theirs")
    if winner == "remote":
        assert (result.to_local, result.to_remote) == ({"f": "theirs"}, {})
    else:
        assert (result.to_local, result.to_remote) == ({}, {"f": "mine"})


def test_each_side_is_compared_with_its_own_base():
    # The ERP sent "A@Example.COM", crm_core stored the normalised "A@example.com":
    # that difference is not a change to push back, and a real remote edit still pulls.
    bl, br = {"email": "A@example.com"}, {"email": "A@Example.COM"}
    quiet = merge(bl, br, {"email": "A@example.com"}, {"email": "A@Example.COM"}, {})
    assert (quiet.to_local, quiet.to_remote, quiet.conflicts) == ({}, {}, [])
    edited = merge(bl, br, {"email": "A@example.com"}, {"email": "b@example.com"}, {})
    assert edited.to_local == {"email": "b@example.com"}


def test_tag_lists_compare_as_sets():
    result = merge(
        {"tags": ["a", "b"]}, {"tags": ["a", "b"]}, {"tags": ["b", "a"]}, {"tags": ["a", "b"]}, {}
    )
    assert (result.to_local, result.to_remote) == ({}, {})


def test_cursor_pages_within_one_second_without_skipping():
    cursor = Cursor()
    cursor.advance(
        [
            {"id": 5, "write_date": "2026-05-01 10:00:00"},
            {"id": 2, "write_date": "2026-05-01 10:00:00"},
        ]
    )
    assert cursor.domain() == [
        ["write_date", ">=", "2026-05-01 10:00:00"],
        ["id", "not in", [2, 5]],
    ]
    cursor.advance([{"id": 1, "write_date": "2026-05-01 10:00:01"}])
    assert cursor.domain() == [["write_date", ">=", "2026-05-01 10:00:01"], ["id", "not in", [1]]]
    assert Cursor().domain() == []


def test_a_crowded_second_is_read_by_id_then_paging_goes_on():
    second = "2026-05-01 10:00:00"
    first = [{"id": i, "write_date": second} for i in range(400, 100, -1)]  # 300, any order
    cursor = Cursor()
    assert cursor.advance(first, limit=300) == first
    assert cursor.order == "id asc"  # more than CROWDED ids seen in one full page
    assert cursor.domain() == [
        ["write_date", ">=", second],
        ["write_date", "<", "2026-05-01 10:00:01"],
        ["id", ">", 0],
        ["id", "not in", list(range(101, 401))],
    ]
    by_id = [{"id": i, "write_date": second} for i in range(1, 301)]
    fresh = cursor.advance(by_id, limit=300)
    assert [r["id"] for r in fresh] == list(range(1, 101))  # 101..300 came already
    assert cursor.domain()[2] == ["id", ">", 300]
    rest = [{"id": i, "write_date": second} for i in range(301, 451)]
    assert [r["id"] for r in cursor.advance(rest, limit=300)] == list(range(401, 451))
    assert (cursor.order, cursor.domain()) == (
        "write_date asc, id asc",
        [["write_date", ">=", "2026-05-01 10:00:01"]],
    )


def test_rewind():
    assert rewind("2026-05-01 10:00:00", 300) == "2026-05-01 09:55:00"
    assert rewind("", 300) == ""


class Ctx:
    """A minimal mapping context with fixed reference data and links."""

    def __init__(self):
        self.refs = {
            "res.country": {1: {"code": "PK"}, 2: {"code": "BD"}},
            "crm.stage": {1: {"is_won": False}, 4: {"is_won": True}},
            "crm.tag": {7: {"name": "VIP"}, 8: {"name": "Export"}},
            "res.company": {2: {"currency_id": [3, "EUR"]}, 1: {"currency_id": [2, "USD"]}},
            "res.partner.category": {7: {"name": "VIP"}},
            # companies keeping two currencies: a lead's is Odoo's own answer for it
            "crm.lead": {3: {"company_currency": [2, "USD"]}},
        }
        self.created: list[str] = []

    def local_id(self, entity, remote_id):
        return {("company", 10): 1, ("contact", 20): 2}.get((entity, remote_id))

    def remote_id(self, entity, local_id):
        return {("company", 1): 10, ("contact", 2): 20}.get((entity, local_id))

    def reference(self, model):
        return self.refs[model]

    def ensure_reference(self, model, name, values):
        for rid, rec in self.refs[model].items():
            if rec["name"] == name:
                return rid
        self.created.append(name)
        self.refs[model][99] = {"name": name}
        return 99


def test_lead_map_both_directions():
    ctx = Ctx()
    lead = m.lead_map()
    record = {
        "id": 3,
        "name": "Uniforms",
        "type": "opportunity",
        "partner_id": [20, "Imran"],
        "user_id": False,
        "stage_id": [4, "Won"],
        "probability": 100.0,
        "expected_revenue": 1500000.5,
        "date_deadline": "2026-07-31",
        "priority": "2",
        "tag_ids": [8, 7],
        "lost_reason_id": False,
        "active": True,
        "description": "<p>Call &amp; visit</p><p>Karachi</p>",
        "write_date": "x",
    }
    local = lead.from_remote(record, ctx)
    assert local == {
        "name": "Uniforms",
        "type": "opportunity",
        "partner": "contact:2",
        "owner_id": None,
        "stage_id": None,
        "probability": Decimal("100.00"),
        "expected_revenue": Decimal("1500000.50"),
        "currency": "USD",  # its company's, as Odoo gives it
        "expected_close": dt.date(2026, 7, 31),
        "priority": 2,
        "tags": ["Export", "VIP"],
        "lost_reason_id": None,
        "outcome": "won",
        "closed_at": None,  # the record gives no date_closed
        "description": "Call & visit\nKarachi",
    }
    out = lead.to_remote(
        {
            "partner": "company:1",
            "tags": ["VIP", "Новый"],
            "priority": 3,
            "outcome": "lost",
            "description": "a < b",
            "expected_close": None,
        },
        ctx,
    )
    assert out == {
        "partner_id": 10,
        "tag_ids": [[6, 0, [7, 99]]],
        "priority": "3",
        "active": False,
        "description": "<p>a &lt; b</p>",
        "date_deadline": False,
    }
    assert ctx.created == ["Новый"]
    # The deal's currency is not a field Odoo takes: nothing is sent for it, and a deal
    # in another currency than the company's is refused, naming both.
    assert lead.to_remote({"currency": "USD", "expected_revenue": 5}, ctx) == {
        "expected_revenue": 5.0
    }
    with pytest.raises(ValueError, match=r"deal is in EUR .* company's currency USD"):
        lead.to_remote({"currency": "EUR", "expected_revenue": 5}, ctx)


@pytest.mark.parametrize(
    ("record", "outcome"),
    [
        ({"active": False, "lost_reason_id": [1, "Price"], "probability": 0}, "lost"),
        ({"active": False, "lost_reason_id": False, "probability": 0}, "lost"),
        ({"active": False, "lost_reason_id": False, "probability": 40}, "archived"),
        ({"active": True, "stage_id": [4, "Won"]}, "won"),
        ({"active": True, "stage_id": [1, "New"]}, "open"),
    ],
)
def test_lead_outcome(record, outcome):
    assert m.lead_outcome(record, Ctx()) == outcome


def test_partner_country_and_notes():
    ctx = Ctx()
    company, contact = m.partner_maps()
    values = company.from_remote(
        {
            "name": "Dhaka Jute",
            "country_id": [2, "Bangladesh"],
            "comment": False,
            "category_id": [7],
        },
        ctx,
    )
    assert (values["country"], values["notes"], values["tags"]) == ("BD", None, ["VIP"])
    assert company.to_remote({"country": "PK", "notes": None}, ctx) == {
        "country_id": 1,
        "comment": False,
    }
    assert contact.to_remote({"company_id": 1}, ctx) == {"parent_id": 10}
    assert "mobile" not in {f.local for f in m.partner_maps(mobile=False)[1].fields}
