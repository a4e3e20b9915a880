"""Roles, enforced in the services: sales users work on their own deals and activities,
managers and admins on everything; passwords are stored as salted hashes."""

import pytest
from sqlalchemy import select

from crm_core import AccessDenied
from crm_core.models import JournalEntry, User
from crm_core.passwords import hash_password, verify_password


@pytest.fixture
def team(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales", password="bilal-pass-1")
    ws.users.add("Olga Smirnova", "olga", role="sales", password="olga-pass-12")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager", password="ayesha-pass")
    company = ws.companies.create(name="Indus Textiles", country="PK")
    bilal, olga = ws.as_user("bilal"), ws.as_user("olga")
    mine = bilal.pipeline.create("Uniforms 2027", company=company["id"])
    theirs = olga.pipeline.create("Towels for Kazan", company=company["id"])
    call = bilal.activities.schedule("call", "Call Indus", "2026-05-20", opportunity=mine["id"])
    visit = olga.activities.schedule("meeting", "Visit", "2026-05-21", opportunity=theirs["id"])
    return {"mine": mine, "theirs": theirs, "call": call, "visit": visit, "company": company}


def test_a_sales_user_sees_only_their_own_deals_and_activities(ws, team):
    bilal = ws.as_user("bilal")
    assert team["mine"]["owner_id"] == bilal.user_id  # a new deal is owned by its creator
    assert bilal.pipeline.search()["name"].tolist() == ["Uniforms 2027"]
    assert bilal.pipeline.count() == 1
    assert int(bilal.pipeline.by_stage()["count"].sum()) == 1
    assert bilal.activities.upcoming(days=30)["subject"].tolist() == ["Call Indus"]
    for_deal = bilal.activities.for_record(opportunity_id=team["theirs"]["id"])
    assert for_deal.empty
    # contacts and companies are everyone's
    assert bilal.companies.search()["name"].tolist() == ["Indus Textiles"]
    bilal.companies.update(team["company"]["id"], city="Karachi")


def test_a_sales_user_cannot_read_or_change_anyone_elses(ws, team):
    bilal = ws.as_user("bilal")
    theirs, visit = team["theirs"]["id"], team["visit"]["id"]
    refused = [
        lambda: bilal.pipeline.get(theirs),
        lambda: bilal.pipeline.update(theirs, {"name": "Mine now"}),
        lambda: bilal.pipeline.move(theirs, "Qualified"),
        lambda: bilal.pipeline.win(theirs),
        lambda: bilal.pipeline.lose(theirs, "Too expensive"),
        lambda: bilal.pipeline.archive(theirs),
        lambda: bilal.pipeline.history(theirs),
        lambda: bilal.activities.get(visit),
        lambda: bilal.activities.complete(visit),
        lambda: bilal.activities.snooze(visit, days=3),
        lambda: bilal.activities.reassign(visit, "bilal"),
        lambda: bilal.activities.overdue("olga"),
        lambda: bilal.pipeline.update(team["mine"]["id"], {"owner": "olga"}),
        lambda: bilal.pipeline.create("For Olga", owner="olga"),
    ]
    before = _journal_size(ws)
    for attempt in refused:
        with pytest.raises(AccessDenied, match="'bilal' \\(sales\\) may not"):
            attempt()
    assert _journal_size(ws) == before  # nothing was written
    assert ws.pipeline.get(theirs)["name"] == "Towels for Kazan"
    assert ws.pipeline.get(team["mine"]["id"])["owner_id"] == ws.as_user("bilal").user_id


def test_managers_and_the_workspace_owner_see_the_whole_team(ws, team):
    ayesha = ws.as_user("ayesha")
    assert sorted(ayesha.pipeline.search()["name"]) == ["Towels for Kazan", "Uniforms 2027"]
    ayesha.activities.complete(team["visit"]["id"])
    ayesha.pipeline.update(team["mine"]["id"], {"owner": "olga"})
    assert ws.as_user("olga").pipeline.count() == 2
    assert ws.pipeline.count() == 2  # no acting user: the owner of the file


def test_passwords_are_salted_hashes_checked_in_constant_form(ws, team):
    with ws.transaction() as s:
        stored = s.scalars(select(User.password_hash).where(User.login == "bilal")).one()
    assert stored.startswith("$argon2id$") and "bilal-pass-1" not in stored
    assert hash_password("bilal-pass-1") != stored  # a new salt every time
    assert verify_password(stored, "bilal-pass-1")
    assert not verify_password(stored, "bilal-pass-2")
    assert not verify_password("garbage", "x") and not verify_password(None, "x")
    assert ws.users.authenticate("BILAL", "bilal-pass-1")["login"] == "bilal"
    assert ws.users.authenticate("bilal", "wrong") is None
    assert ws.users.authenticate("nobody", "bilal-pass-1") is None
    ws.users.set_password("bilal", "new-pass-123")
    assert ws.users.authenticate("bilal", "bilal-pass-1") is None
    assert ws.users.authenticate("bilal", "new-pass-123") is not None
    with ws.transaction() as s:
        journaled = " ".join(
            str(e.new)
            for e in s.scalars(select(JournalEntry).where(JournalEntry.entity == "users"))
        )
    assert "argon2" not in journaled  # the journal never holds a hash


def _journal_size(ws):
    with ws.transaction() as s:
        return len(s.scalars(select(JournalEntry.id)).all())
