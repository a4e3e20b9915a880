"""Segments are saved filters evaluated on demand; campaigns target their members."""

from decimal import Decimal

import pytest

from crm_core import NotFoundError, ValidationError


@pytest.fixture
def base(ws):
    ws.custom_fields.define("contact", "tier", "choice", choices=["gold", "silver"])
    rows = [
        ("Сергей Смирнов", "Москва", "RU", ["VIP"], "gold"),
        ("Анна Кузнецова", "Москва", "RU", [], "silver"),
        ("Priya Nair", "Kochi", "IN", ["VIP"], "gold"),
    ]
    return [
        ws.contacts.create(name=n, city=c, country=k, tags=t, custom={"tier": tier})
        for n, c, k, t, tier in rows
    ]


def test_a_segment_reflects_current_data(ws, base):
    seg = ws.segments.create("Moscow gold", "contact", city="москва", custom={"tier": "gold"})
    assert seg["filters"] == {"city": "москва", "custom": {"tier": "gold"}}
    assert ws.segments.evaluate("Moscow gold")["name"].tolist() == ["Сергей Смирнов"]
    ws.contacts.update(base[1]["id"], custom={"tier": "gold"})
    assert ws.segments.count("Moscow gold") == 2
    assert ws.segments.evaluate(seg["id"], order_by="name")["name"].tolist() == [
        "Анна Кузнецова",
        "Сергей Смирнов",
    ]
    assert ws.segments.list()["name"].tolist() == ["Moscow gold"]


def test_opportunity_and_company_segments(ws, base):
    ws.pipeline.create("Big one", expected_revenue="50000", currency="RUB")
    ws.companies.create(name="Kerala Coir", country="IN")
    ws.segments.create("Open deals", "opportunity", status="open")
    ws.segments.create("Indian companies", "company", country="IN")
    assert ws.segments.evaluate("Open deals")["name"].tolist() == ["Big one"]
    assert ws.segments.count("Open deals") == 1
    assert ws.segments.evaluate("Indian companies")["name"].tolist() == ["Kerala Coir"]


def test_bad_segments_are_refused_when_saved(ws, base):
    with pytest.raises(ValidationError, match="colour"):
        ws.segments.create("Bad", "contact", colour="red")
    with pytest.raises(ValidationError, match=r"custom\.size"):
        ws.segments.create("Bad", "contact", custom={"size": 3})
    with pytest.raises(ValidationError, match="entity"):
        ws.segments.create("Bad", "invoice")
    with pytest.raises(ValidationError, match="give it to evaluate"):
        ws.segments.create("Bad", "contact", limit=5)
    ws.segments.create("VIP", "contact", tag="vip")
    with pytest.raises(ValidationError, match="already exists"):
        ws.segments.create("VIP", "contact", tag="vip")
    ws.segments.delete("VIP")
    with pytest.raises(NotFoundError):
        ws.segments.evaluate("VIP")


def test_campaign_targets_a_segment_and_records_responses(ws, base):
    ws.segments.create("VIPs", "contact", tag="VIP")
    camp = ws.campaigns.create(
        "Eid offer",
        channel="sms",
        starts_on="2026-03-20",
        ends_on="2026-04-05",
        cost="25000",
        currency="PKR",
    )
    assert camp["cost"] == Decimal("25000.00")
    assert ws.campaigns.add_contacts(camp["id"], segment="VIPs") == 2
    assert ws.campaigns.add_contacts(camp["id"], [base[0]["id"], base[1]["id"]]) == 1
    ws.campaigns.responded(camp["id"], base[2]["id"])
    members = ws.campaigns.members(camp["id"])
    assert len(members) == 3
    responded = members.dropna(subset=["responded_at"])["name"].tolist()
    assert responded == ["Priya Nair"]
    with pytest.raises(ValidationError, match="are not contacts"):
        ws.campaigns.add_contacts(camp["id"], [99999])
    with pytest.raises(ValidationError, match="before starts_on"):
        ws.campaigns.create("Backwards", starts_on="2026-05-01", ends_on="2026-04-01")
