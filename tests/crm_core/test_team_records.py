"""What a sales user may not change although they see it: the owner of a company or
contact another user owns, and the team's segments and campaigns; the journal of
campaign members; the idle limit of a login; the refusal of ``as_user``."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from crm_core import AccessDenied, ValidationError
from crm_core.models import Company, Contact, JournalEntry

MODELS = {"companies": Company, "contacts": Contact}


@pytest.fixture
def team(ws):
    """bilal and olga (sales), ayesha (manager); per entity a record of olga's, one of
    bilal's and an unowned one."""
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    ids = {}
    for service in ("companies", "contacts"):
        svc = getattr(ws, service)
        for who in ("olga", "bilal", None):
            ids[service, who] = svc.create(name=f"{service} of {who}", owner=who)["id"]
    return ws, ids


def journal_rows(ws) -> int:
    with ws.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(JournalEntry)) or 0)


# -- defect 1: a sales user does not take another user's company or contact ----------
@pytest.mark.parametrize("service", ["companies", "contacts"])
def test_a_sales_user_may_not_take_a_record_another_user_owns(team, service):
    ws, ids = team
    bilal = getattr(ws.as_user("bilal"), service)
    theirs = ids[service, "olga"]
    before, rows = getattr(ws, service).get(theirs), journal_rows(ws)
    singular = "company" if service == "companies" else "contact"
    for owner in ("bilal", "ayesha", None):
        with pytest.raises(AccessDenied) as refused:
            bilal.update(theirs, {"owner": owner, "city": "Kazan"})
        assert str(refused.value) == (
            f"user 'bilal' (sales) may not change the field 'owner' of {singular} #{theirs}:"
            " another user owns it; only a manager or an admin reassigns it"
        )
    with pytest.raises(AccessDenied, match="field 'owner'"):
        bilal.update(theirs, owner_id=ws.users.get("bilal")["id"])
    with pytest.raises(AccessDenied, match="field 'owner'"), ws.transaction() as s:
        obj = s.get(MODELS[service], theirs)
        bilal.write_fields(s, obj, {"owner": "bilal"}, creating=False)
    # Nothing was written: neither the owner nor the city that came with it.
    assert getattr(ws, service).get(theirs) == before
    assert journal_rows(ws) == rows
    # Every other field stays everyone's, and naming the owner it has is no change.
    assert bilal.update(theirs, city="Kazan", owner="olga")["city"] == "Kazan"


@pytest.mark.parametrize("service", ["companies", "contacts"])
def test_a_sales_user_takes_an_unowned_record_and_hands_on_their_own(team, service):
    ws, ids = team
    bilal = getattr(ws.as_user("bilal"), service)
    me, olga = ws.users.get("bilal")["id"], ws.users.get("olga")["id"]
    assert bilal.update(ids[service, None], owner="bilal")["owner_id"] == me
    assert bilal.update(ids[service, "bilal"], owner="olga")["owner_id"] == olga
    # Once olga's, it is hers: he may not take it back.
    with pytest.raises(AccessDenied):
        bilal.update(ids[service, "bilal"], owner="bilal")
    # A new record is nobody's yet: he may create it for himself.
    assert bilal.create(name="New one", owner="bilal")["owner_id"] == me


@pytest.mark.parametrize("service", ["companies", "contacts"])
def test_a_manager_reassigns_any_record(team, service):
    ws, ids = team
    ayesha = getattr(ws.as_user("ayesha"), service)
    me = ws.users.get("bilal")["id"]
    assert ayesha.update(ids[service, "olga"], owner="bilal")["owner_id"] == me
    assert ayesha.update(ids[service, "bilal"], owner=None)["owner_id"] is None


def test_an_owner_naming_no_user_is_a_field_error_not_a_refusal(team):
    ws, ids = team
    with pytest.raises(ValidationError, match="'owner_id' value 'nobody': is not a known user"):
        ws.as_user("bilal").contacts.update(ids["contacts", "olga"], owner="nobody")


# -- defect 2: segments and campaigns are changed by managers and admins -------------
@pytest.fixture
def campaign(team):
    ws, ids = team
    ws.segments.create("Olga's people", "contact", owner="olga")
    camp = ws.campaigns.create(name="Spring push", channel="email")
    ws.campaigns.add_contacts(camp["id"], segment="Olga's people")
    return ws, ids, camp["id"]


def test_a_sales_user_reads_but_does_not_change_segments_and_campaigns(campaign):
    ws, ids, camp = campaign
    bilal = ws.as_user("bilal")
    segment = ws.segments.get("Olga's people")["id"]
    rows = journal_rows(ws)
    attempts = {
        "create segment 'Mine'": lambda: bilal.segments.create("Mine", "contact"),
        f"delete segment {segment}": lambda: bilal.segments.delete(segment),
        "create campaign (new) 'Autumn'": lambda: bilal.campaigns.create(name="Autumn"),
        f"add contacts to campaign #{camp}": lambda: bilal.campaigns.add_contacts(
            camp, list(range(1, 400))
        ),
        f"record a response to campaign #{camp}": lambda: bilal.campaigns.responded(
            camp, ids["contacts", "olga"]
        ),
    }
    for what, attempt in attempts.items():
        with pytest.raises(AccessDenied) as refused:
            attempt()
        assert str(refused.value) == (
            f"user 'bilal' (sales) may not {what}: only a manager or an admin may"
            " (it is the whole team's)"
        )
    assert journal_rows(ws) == rows
    assert bilal.segments.list()["name"].tolist() == ["Olga's people"]
    assert bilal.campaigns.list()["segment"].tolist() == ["Olga's people"]
    assert bilal.campaigns.members(camp)["id"].tolist() == [ids["contacts", "olga"]]
    assert bilal.campaigns.members(camp)["responded_at"].isna().all()
    # The manager may do each of them.
    ayesha = ws.as_user("ayesha")
    ayesha.segments.create("Mine", "contact")
    assert ayesha.campaigns.add_contacts(camp, [ids["contacts", "bilal"]]) == 1
    ayesha.campaigns.responded(camp, ids["contacts", "olga"])
    ayesha.segments.delete(segment)
    assert ayesha.campaigns.create(name="Autumn")["name"] == "Autumn"


def member_journal(ws, camp):
    with ws.transaction() as s:
        return [
            (e.action, e.field, e.user_id, e.old, e.new)
            for e in s.scalars(
                select(JournalEntry)
                .where(JournalEntry.entity == "campaign_members", JournalEntry.record_id == camp)
                .order_by(JournalEntry.id)
            )
        ]


def test_campaign_members_are_journaled_one_row_each(campaign, clock):
    ws, ids, camp = campaign
    olga_contact = ids["contacts", "olga"]
    added = f'"added_at": "{clock().isoformat()}", "campaign_id": {camp}'
    # The setup's add (as the file's owner): one row for Olga's contact.
    assert member_journal(ws, camp) == [
        (
            "create",
            None,
            None,
            None,
            f'{{{added}, "contact_id": {olga_contact}, "responded_at": null}}',
        )
    ]
    ayesha = ws.as_user("ayesha")
    mine = [ids["contacts", "bilal"], ids["contacts", None]]
    assert ayesha.campaigns.add_contacts(camp, [olga_contact, *mine]) == 2
    rows = member_journal(ws, camp)[1:]
    manager = ws.users.get("ayesha")["id"]
    assert [(a, f, u, o) for a, f, u, o, _n in rows] == [("create", None, manager, None)] * 2
    assert [n for *_x, n in rows] == [
        f'{{{added}, "contact_id": {i}, "responded_at": null}}' for i in mine
    ]
    clock.advance(hours=1)
    ayesha.campaigns.responded(camp, olga_contact)
    (answer,) = member_journal(ws, camp)[3:]
    assert answer[:3] == ("update", "responded_at", manager)
    assert answer[3] == f'{{{added}, "contact_id": {olga_contact}, "responded_at": null}}'
    assert f'"responded_at": "{clock().isoformat()}"' in answer[4]
    # Journal rows of members are everyone's, like the contacts they name.
    seen = ws.as_user("bilal").journal.for_record("campaign_members", camp)
    assert len(seen) == 4


def test_deleting_a_segment_journals_its_campaigns_losing_it(campaign):
    ws, _ids, camp = campaign
    segment = ws.segments.get("Olga's people")["id"]
    ws.as_user("ayesha").segments.delete(segment)
    changes = ws.journal.for_record("campaigns", camp)
    last = changes.iloc[-1]
    assert (last["field"], last["old"], pd.isna(last["new"])) == ("segment_id", str(segment), True)
    assert ws.campaigns.list()["segment"].tolist() == [None]


# -- defect 4: a login's idle limit is 7 days at most ---------------------------------
def test_session_idle_minutes_is_seven_days_at_most(ws):
    ws.set_setting("session_idle_minutes", "10080")
    assert ws.setting("session_idle_minutes") == "10080"
    for too_long in ("10081", "43200"):
        with pytest.raises(ValidationError) as refused:
            ws.set_setting("session_idle_minutes", too_long)
        assert str(refused.value) == (
            f"settings: field 'session_idle_minutes' value '{too_long}':"
            " must be at most 10080 (7 days)"
        )
    assert ws.setting("session_idle_minutes") == "10080"


# -- defect 5: as_user says what it refused ------------------------------------------
def test_becoming_another_user_is_refused_in_those_words(team):
    ws, _ids = team
    bilal = ws.as_user("bilal")
    with pytest.raises(AccessDenied) as refused:
        bilal.as_user("ayesha")
    assert str(refused.value) == (
        "user 'bilal' (sales) may not become user 'ayesha' (as_user): a workspace acting"
        " for a user other than an admin stays that user's"
    )
    assert bilal.as_user("bilal").login == "bilal"
