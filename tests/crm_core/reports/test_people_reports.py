"""The people reports (workload per employee and week, interaction metrics per party),
checked against values worked out by hand on a small book."""

import datetime as dt

import pytest

from crm_core import ValidationError
from crm_core.models import CHANNELS

KARACHI = "Asia/Karachi"  # UTC+5, no daylight saving


def utc(day: str, hour: int, minute: int = 0) -> dt.datetime:
    y, m, d = (int(x) for x in day.split("-"))
    return dt.datetime(y, m, d, hour, minute, tzinfo=dt.UTC)


@pytest.fixture
def book(ws, clock):
    """Users, activities, interactions and closed deals; the workspace is in Karachi
    (UTC+5); today is Friday 2026-05-15 (clock: 09:30 UTC). ISO weeks start on
    Mondays 27 April, 4 May and 11 May (the current week).

    Users: Bilal (sales, team Karachi), Olga (sales, team Moscow), Ayesha (manager,
    team Karachi), Zara (sales, team Karachi, does nothing).

    Activities (assignee, due, done at UTC -> local week):

    ==  =====  ======  ========================  ===================================
    id  who    due     done                      counts as
    ==  =====  ======  ========================  ===================================
    A1  bilal  May 5   May 6 10:00               done wk May 4; on time
    A2  bilal  May 7   May 12 08:00              overdue wk May 4, done wk May 11
    A3  bilal  May 8   open                      overdue wk May 4
    A4  bilal  May 12  open                      overdue wk May 11 (current, past due)
    A5  bilal  May 13  May 14 10:00              done wk May 11 (late, but done now)
    A6  bilal  May 15  open                      nothing: due today
    A7  olga   May 10  May 10 19:30 = 11th local overdue wk May 4, done wk May 11
    A8  olga   May 20  open                      nothing: future
    A9  olga   Apr 28  Apr 28 10:00              done wk Apr 27
    ==  =====  ======  ========================  ===================================

    Interactions (user, channel, direction, at UTC, parties):

    ===  ======  =======  ===  =============  ========================
    I1   bilal   email    in   May 4 09:00    Ali + Indus
    I2   bilal   email    out  May 4 12:00    Ali + Indus
    I3   bilal   call     in   May 5 10:00    Ali
    I4   bilal   call     in   May 5 11:00    Ali
    I5   bilal   call     out  May 5 15:00    Ali
    I6   bilal   meeting  out  May 12 06:00   Indus
    I7   olga    email    in   May 10 20:00   Masha (= May 11 01:00 local)
    I8   olga    call     in   May 12 08:00   Masha
    I9   olga    email    out  May 12 09:30   Masha
    I10  olga    note     out  May 13 10:00   Kazan
    I11  ayesha  message  in   Apr 28 10:00   Kazan
    I12  ayesha  call     in   Apr 28 11:00   Kazan
    I13  olga    email    out  May 13 12:00   Oleg (a contact at Kazan)
    I14  bilal   call     out  May 13 12:00   a deal only
    ===  ======  =======  ===  =============  ========================

    Deals: bilal's "shirts" won May 6, bilal's "towels" lost May 13, olga's
    "bedding" won May 11 02:00 UTC, olga's archived "hidden" won May 12 (left out).
    """
    ws.set_setting("timezone", KARACHI)
    ws.users.add("Bilal Ahmed", "bilal", role="sales", team="Karachi")
    ws.users.add("Olga Smirnova", "olga", role="sales", team="Moscow")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager", team="Karachi")
    ws.users.add("Zara Khan", "zara", role="sales", team="Karachi")
    indus = ws.companies.create(name="Indus Textiles", owner="bilal")["id"]
    kazan = ws.companies.create(name="Kazan Home", owner="olga")["id"]
    ali = ws.contacts.create(name="Ali Raza", company=indus, owner="bilal")["id"]
    oleg = ws.contacts.create(name="Oleg Ivanov", company=kazan, owner="olga")["id"]
    masha = ws.contacts.create(name="Masha Petrova", owner="olga")["id"]

    start = clock.now
    p = ws.pipeline

    def deal(name, owner, company, status, day, hour):
        did = p.create(name, owner=owner, expected_revenue="1000.00", company=company)["id"]
        clock.now = utc(day, hour)
        if status == "won":
            p.win(did)
        else:
            p.lose(did, "Too expensive")
        clock.now = start
        return did

    deal("shirts", "bilal", indus, "won", "2026-05-06", 10)
    deal("towels", "bilal", indus, "lost", "2026-05-13", 10)
    deal("bedding", "olga", kazan, "won", "2026-05-11", 2)
    p.archive(deal("hidden", "olga", kazan, "won", "2026-05-12", 10))
    opp = p.create("open deal", owner="bilal", company=indus)["id"]

    a = ws.activities
    for who, due, done in (
        ("bilal", "2026-05-05", utc("2026-05-06", 10)),
        ("bilal", "2026-05-07", utc("2026-05-12", 8)),
        ("bilal", "2026-05-08", None),
        ("bilal", "2026-05-12", None),
        ("bilal", "2026-05-13", utc("2026-05-14", 10)),
        ("bilal", "2026-05-15", None),
        ("olga", "2026-05-10", utc("2026-05-10", 19, 30)),
        ("olga", "2026-05-20", None),
        ("olga", "2026-04-28", utc("2026-04-28", 10)),
    ):
        aid = a.schedule("todo", f"due {due}", due, assignee=who, company=indus)["id"]
        if done is not None:
            a.complete(aid, at=done)

    log = ws.interactions.log
    for who, channel, direction, at, links in (
        ("bilal", "email", "in", utc("2026-05-04", 9), {"contact": ali, "company": indus}),
        ("bilal", "email", "out", utc("2026-05-04", 12), {"contact": ali, "company": indus}),
        ("bilal", "call", "in", utc("2026-05-05", 10), {"contact": ali}),
        ("bilal", "call", "in", utc("2026-05-05", 11), {"contact": ali}),
        ("bilal", "call", "out", utc("2026-05-05", 15), {"contact": ali}),
        ("bilal", "meeting", "out", utc("2026-05-12", 6), {"company": indus}),
        ("olga", "email", "in", utc("2026-05-10", 20), {"contact": masha}),
        ("olga", "call", "in", utc("2026-05-12", 8), {"contact": masha}),
        ("olga", "email", "out", utc("2026-05-12", 9, 30), {"contact": masha}),
        ("olga", "note", "out", utc("2026-05-13", 10), {"company": kazan}),
        ("ayesha", "message", "in", utc("2026-04-28", 10), {"company": kazan}),
        ("ayesha", "call", "in", utc("2026-04-28", 11), {"company": kazan}),
        ("olga", "email", "out", utc("2026-05-13", 12), {"contact": oleg}),
        ("bilal", "call", "out", utc("2026-05-13", 12), {"opportunity": opp}),
    ):
        log(channel, direction, at=at, user=who, **links)
    return {"indus": indus, "kazan": kazan, "ali": ali, "oleg": oleg, "masha": masha}


APR27, MAY4, MAY11 = dt.date(2026, 4, 27), dt.date(2026, 5, 4), dt.date(2026, 5, 11)
AYESHA = ("Ayesha Siddiqui", "ayesha", "Karachi")
BILAL = ("Bilal Ahmed", "bilal", "Karachi")
OLGA = ("Olga Smirnova", "olga", "Moscow")


def rows(frame):
    return [tuple(r) for r in frame.itertuples(index=False)]


# -- workload ------------------------------------------------------------------------------
# (owner, login, team, week, done, overdue, calls, emails, won, lost)
WORKLOAD_ALL = [
    (*AYESHA, APR27, 0, 0, 1, 0, 0, 0),
    (*OLGA, APR27, 1, 0, 0, 0, 0, 0),
    (*BILAL, MAY4, 1, 2, 3, 2, 1, 0),
    (*OLGA, MAY4, 0, 1, 0, 0, 0, 0),
    (*BILAL, MAY11, 2, 1, 1, 0, 0, 1),
    (*OLGA, MAY11, 1, 0, 1, 3, 1, 0),
]


def test_workload_per_employee_and_week(ws, book):
    frame = ws.reports.workload()
    assert list(frame.columns) == [
        "owner",
        "login",
        "team",
        "week",
        "activities_done",
        "activities_overdue",
        "calls_logged",
        "emails_logged",
        "deals_won",
        "deals_lost",
    ]
    assert rows(frame) == WORKLOAD_ALL
    assert "zara" not in set(frame["login"])  # nothing to show: no row


def test_workload_weeks_follow_the_workspace_time_zone(ws, book):
    # In UTC, Olga's activity A7 was done on Sunday 10 May, within the week it was
    # due (so not overdue), and Masha's e-mail I7 came in that same week.
    ws.set_setting("timezone", "UTC")
    frame = ws.reports.workload(owner="olga")
    assert rows(frame) == [
        (*OLGA, APR27, 1, 0, 0, 0, 0, 0),
        (*OLGA, MAY4, 1, 0, 0, 1, 0, 0),
        (*OLGA, MAY11, 0, 0, 1, 2, 1, 0),
    ]


def test_workload_period_counts_only_what_is_dated_in_it(ws, book):
    # 5 May (Tue) .. 12 May (Tue): weeks of 4 and 11 May, cut to the period.
    frame = ws.reports.workload(period_from="2026-05-05", period_to="2026-05-12")
    assert rows(frame) == [
        (*BILAL, MAY4, 1, 2, 3, 0, 1, 0),  # I1, I2 (4 May) are before the period
        (*OLGA, MAY4, 0, 1, 0, 0, 0, 0),
        (*BILAL, MAY11, 1, 1, 0, 0, 0, 0),  # A5, I14, towels are after it
        (*OLGA, MAY11, 1, 0, 1, 2, 1, 0),  # I13 is after it
    ]
    since = ws.reports.workload(period_from="2026-05-11")
    assert rows(since) == WORKLOAD_ALL[4:]
    until = ws.reports.workload(period_to="2026-05-03")
    assert rows(until) == WORKLOAD_ALL[:2]
    assert ws.reports.workload(period_from="2026-06-01").empty


def test_workload_owner_team_and_a_sales_user_seeing_only_themselves(ws, book):
    assert rows(ws.reports.workload(owner="olga")) == [r for r in WORKLOAD_ALL if r[1] == "olga"]
    karachi = ws.reports.workload(team="Karachi")
    assert [r for r in rows(karachi)] == [r for r in WORKLOAD_ALL if r[2] == "Karachi"]
    as_bilal = ws.as_user("bilal").reports
    assert rows(as_bilal.workload()) == [r for r in WORKLOAD_ALL if r[1] == "bilal"]
    with pytest.raises(ValidationError, match="sees only their own figures"):
        as_bilal.workload(owner="olga")  # not theirs to see, and no table of zeros
    assert rows(as_bilal.workload(owner="bilal")) == rows(as_bilal.workload())


def test_workload_with_nothing_recorded_is_empty(ws):
    frame = ws.reports.run("workload")
    assert frame.empty
    assert list(frame.columns)[:4] == ["owner", "login", "team", "week"]


# -- interactions ------------------------------------------------------------------------------
def counts(**pairs):
    """The 10 channel counts in CHANNELS order, zero unless given."""
    return tuple(pairs.get(f"{c}_{d}", 0) for c in CHANNELS for d in ("in", "out"))


def test_interaction_metrics_per_contact_and_company(ws, book):
    frame = ws.reports.interactions()
    assert list(frame.columns) == [
        "party_type",
        "party_id",
        "party",
        "email_in",
        "email_out",
        "call_in",
        "call_out",
        "meeting_in",
        "meeting_out",
        "message_in",
        "message_out",
        "note_in",
        "note_out",
        "total_in",
        "total_out",
        "median_response_hours",
        "preferred_channel",
    ]
    b = book
    assert rows(frame) == [
        # Ali: replies after 3 h (I1->I2), 5 h (I3->I5), 4 h (I4->I5): median 4.
        ("contact", b["ali"], "Ali Raza", *counts(email_in=1, email_out=1, call_in=2, call_out=1),
         3, 2, 4.0, "call"),
        # Indus: only what names the company (I1, I2, I6), not Ali's calls.
        ("company", b["indus"], "Indus Textiles", *counts(email_in=1, email_out=1, meeting_out=1),
         1, 2, 3.0, "email"),
        # Kazan: message and call in, one each, equal totals: call comes first in CHANNELS;
        # both answered by the note 15 days later: 360 h and 359 h.
        ("company", b["kazan"], "Kazan Home", *counts(message_in=1, call_in=1, note_out=1),
         2, 1, 359.5, "call"),
        # Masha: I7->I9 37.5 h, I8->I9 1.5 h; email and call tie on inbound, email has
        # more in total.
        ("contact", b["masha"], "Masha Petrova", *counts(email_in=1, email_out=1, call_in=1),
         2, 1, 19.5, "email"),
        ("contact", b["oleg"], "Oleg Ivanov", *counts(email_out=1), 0, 1, None, None),
    ]  # fmt: skip


def test_interaction_filters(ws, book):
    b = book
    may = ws.reports.interactions(period_from="2026-05-05", period_to="2026-05-31")
    assert rows(may) == [
        ("contact", b["ali"], "Ali Raza", *counts(call_in=2, call_out=1), 2, 1, 4.5, "call"),
        ("contact", b["masha"], "Masha Petrova", *counts(email_in=1, email_out=1, call_in=1),
         2, 1, 19.5, "email"),
        ("company", b["indus"], "Indus Textiles", *counts(meeting_out=1), 0, 1, None, None),
        ("company", b["kazan"], "Kazan Home", *counts(note_out=1), 0, 1, None, None),
        ("contact", b["oleg"], "Oleg Ivanov", *counts(email_out=1), 0, 1, None, None),
    ]  # fmt: skip
    # Local days: Masha's first e-mail (10 May 20:00 UTC) is on 11 May in Karachi.
    masha = ws.reports.interactions(period_from="2026-05-11", period_to="2026-05-11")
    assert rows(masha) == [
        ("contact", b["masha"], "Masha Petrova", *counts(email_in=1), 1, 0, None, "email")
    ]
    mine = ws.reports.interactions(owner="bilal")
    assert [(r.party_type, r.party) for r in mine.itertuples()] == [
        ("contact", "Ali Raza"),
        ("company", "Indus Textiles"),
    ]
    # A sales user sees the interactions they logged: Kazan without Ayesha's.
    olga = ws.as_user("olga").reports.interactions()
    assert rows(olga) == [
        ("contact", b["masha"], "Masha Petrova", *counts(email_in=1, email_out=1, call_in=1),
         2, 1, 19.5, "email"),
        ("company", b["kazan"], "Kazan Home", *counts(note_out=1), 0, 1, None, None),
        ("contact", b["oleg"], "Oleg Ivanov", *counts(email_out=1), 0, 1, None, None),
    ]  # fmt: skip
    team = ws.reports.interactions(team="Karachi")  # Bilal and Ayesha
    assert [r.party for r in team.itertuples()] == ["Ali Raza", "Indus Textiles", "Kazan Home"]
    assert ws.reports.interactions(period_from="2027-01-01").empty


# -- bad filters --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["workload", "interactions"])
def test_bad_filters_are_refused_by_name(ws, book, name):
    with pytest.raises(ValidationError) as caught:
        ws.reports.run(name, tag="vip", period_from="2026-13-01", owner="nobody", team="Nowhere")
    found = {(e.field, e.reason) for e in caught.value.errors}
    assert ("tag", "does not apply here (filters: period_from, period_to, owner, team)") in found
    assert ("period_from", "is no day of the calendar") in found
    assert ("owner", "no such user (give a login or id)") in found
    assert ("team", "no user is in this team") in found
    assert all(e.record == f"report {name!r}" for e in caught.value.errors)
    with pytest.raises(ValidationError, match="is before period_from"):
        ws.reports.run(name, period_from="2026-05-10", period_to="2026-05-01")
    with pytest.raises(ValidationError, match="is not a filter"):
        ws.reports.run(name, week="2026-05-04")
