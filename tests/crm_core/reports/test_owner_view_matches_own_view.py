"""A manager who filters the people reports on a salesperson reads the figures the
salesperson reads in their own view: what is on a colleague's deal counts for neither.

Today is Friday 2026-05-15 (UTC). Bilal and Farhana are sales users, Ayesha their
manager, all in team Karachi. Farhana owns the deal "looms"; Bilal owns "shirts".

Bilal logged, in the week of Monday 11 May:

- a call with Ali about Farhana's "looms" (a sales user never sees it: crm_core.access);
- a call with Ali about his own "shirts";
- an e-mail to Ali about no deal;

and did an activity on "looms" and one on no deal (both assigned to him, done 12 May).
"""

import datetime as dt

import pytest

MAY11 = dt.date(2026, 5, 11)


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 5, day, hour, tzinfo=dt.UTC)


@pytest.fixture
def office(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales", team="Karachi")
    ws.users.add("Farhana Akter", "farhana", role="sales", team="Karachi")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager", team="Karachi")
    indus = ws.companies.create(name="Indus Textiles", owner="farhana")["id"]
    ali = ws.contacts.create(name="Ali Raza", company=indus, owner="farhana")["id"]
    looms = ws.pipeline.create("looms", owner="farhana", company=indus)["id"]
    shirts = ws.pipeline.create("shirts", owner="bilal", company=indus)["id"]
    log = ws.interactions.log
    log("call", "out", at=at(12, 9), user="bilal", contact=ali, opportunity=looms)
    log("call", "out", at=at(12, 10), user="bilal", contact=ali, opportunity=shirts)
    log("email", "out", at=at(13, 9), user="bilal", contact=ali)
    for subject, deal in (("on looms", looms), ("on nothing", None)):
        links = {"opportunity": deal} if deal else {"company": indus}
        aid = ws.activities.schedule("todo", subject, "2026-05-12", assignee="bilal", **links)
        ws.activities.complete(aid["id"], at=at(12, 12))
    return {"ali": ali}


def figures(frame):
    """(login, week, activities_done, calls_logged, emails_logged) per row."""
    return [
        (r.login, r.week, r.activities_done, r.calls_logged, r.emails_logged)
        for r in frame.itertuples()
    ]


def test_workload_filtered_on_a_rep_is_the_reps_own_view(ws, office):
    own = ws.as_user("bilal").reports.workload()
    assert figures(own) == [("bilal", MAY11, 1, 1, 1)]
    asked = ws.reports.workload(owner="bilal")
    assert figures(asked) == figures(own)
    # unfiltered, the manager sees everything, counted for whoever did it
    assert figures(ws.reports.workload()) == [("bilal", MAY11, 2, 2, 1)]
    # a team holds the deal's owner too: the call on Farhana's deal is the team's work
    assert figures(ws.reports.workload(team="Karachi")) == [("bilal", MAY11, 2, 2, 1)]


def test_interactions_filtered_on_a_rep_are_the_reps_own_view(ws, office):
    own = ws.as_user("bilal").reports.interactions()
    asked = ws.reports.interactions(owner="bilal")
    assert [(r.party, r.call_out, r.email_out) for r in own.itertuples()] == [("Ali Raza", 1, 1)]
    assert asked.astype(str).equals(own.astype(str))
    everyone = ws.reports.interactions()
    assert [(r.party, r.call_out, r.email_out) for r in everyone.itertuples()] == [
        ("Ali Raza", 2, 1)
    ]
