"""A campaign's segment reaches every contact it matches, and only contacts: a segment
of companies or deals is refused (its ids are not contacts'), and a segment larger than
one page of results is read page after page."""

from __future__ import annotations

import pytest

from crm_core.errors import ValidationError
from crm_core.services import segments

SENDER = "Indus Cold Chain <sales@indus.example.com>"


@pytest.fixture
def people(ws):
    """Five contacts in Pakistan (two of them sharing ids with a company and a deal) and
    one elsewhere; a contact segment, a company segment and a deal segment."""
    ws.mail.configure(smtp_host="127.0.0.1", smtp_port=25, smtp_security="none", sender=SENDER)
    made = [
        ws.contacts.create(name=f"Pak {i}", email=f"pak{i}@example.com", country="PK")
        for i in range(5)
    ]
    ws.contacts.create(name="Elsewhere Ed", email="ed@example.org", country="GB")
    ws.companies.create(name="Karachi Ice", country="PK")
    ws.pipeline.create("Cold room", expected_revenue="500", currency="PKR")
    ws.segments.create("PK contacts", "contact", country="PK")
    ws.segments.create("PK companies", "company", country="PK")
    ws.segments.create("Open deals", "opportunity", status="open")
    return sorted(c["id"] for c in made)


@pytest.mark.parametrize("segment", ["PK companies", "Open deals"])
def test_a_company_or_deal_segment_is_refused_and_nothing_is_written(ws, people, segment):
    camp = ws.campaigns.create("Eid offer", channel="email")
    with pytest.raises(ValidationError) as caught:
        ws.campaigns.add_contacts(camp["id"], segment=segment)
    (error,) = caught.value.errors
    assert error.field == "segment" and error.value == segment
    entity = "company" if segment == "PK companies" else "opportunity"
    assert f"segment {segment!r} of {entity} records" in error.reason
    with pytest.raises(ValidationError, match=f"segment {segment!r} of {entity}"):
        ws.mail.send_campaign("Eid offer", "newsletter", segment=segment)
    with pytest.raises(ValidationError, match=f"segment {segment!r} of {entity}"):
        ws.mail.send_campaign("Eid offer", "newsletter", segment=segment, dry_run=True)
    assert ws.campaigns.members(camp["id"]).empty
    assert ws.mail.outbox().empty
    assert ws.campaigns.list()["segment"].isna().all()  # the segment was not recorded


def test_every_contact_of_a_segment_larger_than_a_page_is_reached(ws, people, monkeypatch):
    monkeypatch.setattr(segments, "PAGE", 2)  # five contacts: three pages
    camp = ws.campaigns.create("Eid offer", channel="email")
    assert ws.segments.contact_ids("PK contacts", "test") == people
    assert ws.campaigns.add_contacts(camp["id"], segment="PK contacts") == 5
    assert sorted(ws.campaigns.members(camp["id"])["id"]) == people

    other = ws.campaigns.create("Ramadan", channel="email")
    dry = ws.mail.send_campaign("Ramadan", "newsletter", segment="PK contacts", dry_run=True)
    assert sorted(p["contact_id"] for p in dry.previews) == people
    assert ws.campaigns.members(other["id"]).empty
    sent = ws.mail.send_campaign("Ramadan", "newsletter", segment="PK contacts")
    assert len(sent.queued) == 5
    assert sorted(ws.campaigns.members(other["id"])["id"]) == people
