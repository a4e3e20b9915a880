"""Activities per user (overdue, today, upcoming; complete, snooze) and interactions."""

import datetime as dt

import pytest

from crm_core import ConflictError, ValidationError


@pytest.fixture
def team(ws):
    ws.users.add("Ayesha Siddiqui", "ayesha")
    ws.users.add("Ravi Kumar", "ravi")
    contact = ws.contacts.create(name="আব্দুল করিম")
    return contact


def schedule(ws, user, subject, due, contact):
    return ws.activities.schedule("call", subject, due, assignee=user, contact=contact["id"])


def test_overdue_today_and_upcoming_per_user(ws, team):
    today = dt.date(2026, 5, 15)
    a1 = schedule(ws, "ayesha", "Call about the invoice", today - dt.timedelta(days=3), team)
    a2 = schedule(ws, "ayesha", "Send the price list", today, team)
    a3 = schedule(ws, "ayesha", "Meeting in Dhaka", today + dt.timedelta(days=2), team)
    schedule(ws, "ayesha", "Far away", today + dt.timedelta(days=30), team)
    r1 = schedule(ws, "ravi", "Ravi's overdue call", today - dt.timedelta(days=1), team)
    assert ws.activities.overdue("ayesha")["id"].tolist() == [a1["id"]]
    assert ws.activities.overdue("ravi")["id"].tolist() == [r1["id"]]
    assert ws.activities.overdue()["id"].tolist() == [a1["id"], r1["id"]]
    assert ws.activities.due_today("ayesha")["id"].tolist() == [a2["id"]]
    assert ws.activities.upcoming("ayesha")["id"].tolist() == [a3["id"]]
    row = ws.activities.overdue("ayesha").iloc[0]
    assert (row["assignee"], row["contact"]) == ("Ayesha Siddiqui", "আব্দুল করিম")


def test_today_follows_the_workspace_time_zone(ws, team, clock):
    clock.now = dt.datetime(2026, 5, 15, 20, 0, tzinfo=dt.UTC)  # 01:00 on the 16th in Karachi
    act = schedule(ws, "ayesha", "Morning call", dt.date(2026, 5, 15), team)
    assert ws.activities.due_today("ayesha")["id"].tolist() == [act["id"]]
    ws.set_setting("timezone", "Asia/Karachi")
    assert ws.activities.overdue("ayesha")["id"].tolist() == [act["id"]]
    assert ws.activities.due_today("ayesha").empty
    with pytest.raises(ValidationError, match="IANA"):
        ws.set_setting("timezone", "Mars/Olympus")


def test_complete_and_snooze(ws, team, clock):
    act = schedule(ws, "ayesha", "Call back", dt.date(2026, 5, 10), team)
    snoozed = ws.activities.snooze(act["id"], days=2, expected_version=act["version"])
    assert snoozed["due_date"] == dt.date(2026, 5, 17)
    assert ws.activities.overdue("ayesha").empty
    moved = ws.activities.snooze(act["id"], until="2026-06-01")
    assert moved["due_date"] == dt.date(2026, 6, 1)
    done = ws.activities.complete(act["id"], note="Agreed on a visit")
    assert done["done_at"] == clock.now
    assert done["note"] == "Agreed on a visit"
    assert ws.activities.upcoming("ayesha", days=60).empty
    with pytest.raises(ValidationError, match="already done"):
        ws.activities.complete(act["id"])
    with pytest.raises(ValidationError, match="cannot snooze"):
        ws.activities.snooze(act["id"], days=1)
    with pytest.raises(ConflictError):
        ws.activities.complete(act["id"], expected_version=1)


def test_done_and_the_next_step_in_one_go(ws, team, clock):
    deal = ws.pipeline.create("Sarees", contact=team["id"])
    act = ws.activities.schedule(
        "call", "First call", "2026-05-14", assignee="ayesha", opportunity=deal["id"]
    )
    both = ws.activities.complete_and_schedule(
        act["id"], "meeting", "Visit the mill", "2026-05-20", note="Wants samples"
    )
    assert both["done"]["done_at"] == clock.now and both["done"]["note"] == "Wants samples"
    follow = both["next"]
    # The next step follows the same deal, and is the acting user's (the owner here).
    assert (follow["kind"], follow["subject"], follow["due_date"]) == (
        "meeting",
        "Visit the mill",
        dt.date(2026, 5, 20),
    )
    assert follow["opportunity_id"] == deal["id"] and follow["assignee_id"] is None
    given = ws.activities.schedule("call", "Second", "2026-05-16", contact=team["id"])
    other = ws.contacts.create(name="Ravi's cousin")
    moved = ws.activities.complete_and_schedule(
        given["id"], "todo", "Send catalogue", "2026-05-18", contact=other["id"], assignee="ravi"
    )["next"]
    assert (moved["contact_id"], moved["assignee_id"]) == (other["id"], 2)


def test_done_and_next_writes_neither_when_either_is_refused(ws, team):
    act = schedule(ws, "ayesha", "Call back", dt.date(2026, 5, 10), team)
    before = ws.info()
    with pytest.raises(ValidationError) as refused:
        ws.activities.complete_and_schedule(act["id"], "dance", "Next", "2026-13-01")
    assert {e.field for e in refused.value.errors} == {"kind", "due_date"}
    assert ws.activities.get(act["id"])["done_at"] is None  # not half-written
    assert ws.info() == before
    ws.activities.complete(act["id"])
    before = ws.info()
    with pytest.raises(ValidationError, match="already done"):
        ws.activities.complete_and_schedule(act["id"], "call", "Next", "2026-05-20")
    assert ws.info() == before


def test_snooze_and_schedule_errors(ws, team):
    act = schedule(ws, "ayesha", "Call", dt.date(2026, 5, 20), team)
    with pytest.raises(ValidationError, match="give exactly one"):
        ws.activities.snooze(act["id"])
    with pytest.raises(ValidationError, match="in the past"):
        ws.activities.snooze(act["id"], until="2026-01-01")
    with pytest.raises(ValidationError) as info:
        ws.activities.schedule("fax", "", "tomorrow", assignee="nobody")
    assert {e.field for e in info.value.errors} == {
        "kind",
        "subject",
        "due_date",
        "assignee_id",
        "contact/company/opportunity",
    }


def test_reassign(ws, team):
    act = schedule(ws, "ayesha", "Visit", dt.date(2026, 5, 15), team)
    ws.activities.reassign(act["id"], "ravi")
    assert ws.activities.due_today("ravi")["id"].tolist() == [act["id"]]
    assert ws.activities.due_today("ayesha").empty


def test_interactions_timeline_newest_first_including_company_contacts(ws, clock):
    company = ws.companies.create(name="Lanka Spices")
    person = ws.contacts.create(name="Nimal Perera", company=company["id"])
    first = ws.interactions.log(
        "email", "in", contact=person["id"], subject="Price request", at="2026-05-01T09:00+05:30"
    )
    second = ws.interactions.log("call", "out", company=company["id"], subject="Called back")
    timeline = ws.interactions.timeline(company_id=company["id"])
    assert timeline["id"].tolist() == [second["id"], first["id"]]
    assert timeline["occurred_at"].iloc[1] == dt.datetime(2026, 5, 1, 3, 30, tzinfo=dt.UTC)
    assert ws.interactions.timeline(contact_id=person["id"])["subject"].tolist() == [
        "Price request"
    ]
    with pytest.raises(ValidationError) as info:
        ws.interactions.log("pigeon", "sideways", at="2026-05-01T09:00")
    assert {e.field for e in info.value.errors} == {
        "channel",
        "direction",
        "at",
        "contact/company/opportunity",
    }


def test_activities_for_a_record(ws, team):
    open_act = schedule(ws, "ayesha", "Open", dt.date(2026, 5, 20), team)
    done_act = schedule(ws, "ayesha", "Done", dt.date(2026, 5, 1), team)
    ws.activities.complete(done_act["id"])
    assert ws.activities.for_record(contact_id=team["id"])["id"].tolist() == [open_act["id"]]
    everything = ws.activities.for_record(contact_id=team["id"], include_done=True)
    assert everything["id"].tolist() == [done_act["id"], open_act["id"]]


def test_log_and_schedule_writes_both_or_neither(ws):
    ws.users.add("Bilal", "bilal", role="sales")
    indus = ws.companies.create(name="Indus Textiles")
    karim = ws.contacts.create(name="Karim Uddin", company=indus["id"])
    bilal = ws.as_user("bilal")
    deal = bilal.pipeline.create("Uniforms", contact=karim["id"], company=indus["id"])
    both = bilal.interactions.log_and_schedule(
        "call",
        "out",
        "meeting",
        "Show samples",
        "2026-05-20",
        subject="Sizes",
        summary="Wants XL",
        contact=karim["id"],
        company=indus["id"],
        opportunity=deal["id"],
        note="bring navy",
    )
    assert both["logged"]["subject"] == "Sizes" and both["logged"]["company_id"] == indus["id"]
    follow = both["next"]
    assert (follow["kind"], follow["subject"], follow["note"]) == (
        "meeting",
        "Show samples",
        "bring navy",
    )
    assert (follow["contact_id"], follow["opportunity_id"], follow["company_id"]) == (
        karim["id"],
        deal["id"],
        indus["id"],
    )
    assert follow["assignee_id"] == ws.users.get("bilal")["id"]
    before = ws.info()
    with pytest.raises(ValidationError) as refused:  # the next step is refused: nothing
        bilal.interactions.log_and_schedule(
            "call", "out", "dance", "", None, subject="Lost call", contact=karim["id"]
        )
    assert {e.field for e in refused.value.errors} >= {"kind", "subject", "due_date"}
    assert ws.info() == before
    assert ws.interactions.timeline(contact_id=karim["id"])["subject"].tolist() == ["Sizes"]
