"""Access, round 7, on SQLite and PostgreSQL: a sales user logs interactions only in
their own name; a workspace acting as a user follows that user's current state (a
disabled user stops it at the next call, a new role applies at once); lowering
``session_max_hours`` ends the sessions already older than the new limit."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, select

from crm_core import AccessDenied, NotFoundError, ValidationError
from crm_core.access import DisabledUser, NotAnAdmin, Refusal
from crm_core.models import Interaction, LoginSession, Setting, User
from crm_core.services.sessions import token_hash

TODAY = "2026-05-15"  # the conftest clock's day


@pytest.fixture
def team(ws):
    """bilal and ravi (sales), ayesha (manager), root (admin); ravi owns a company, its
    contact and a deal, bilal owns a deal on the same customer."""
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Ravi Kumar", "ravi", role="sales")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    ws.users.add("Root Admin", "root", role="admin")
    company = ws.companies.create(name="Ravi Traders", owner="ravi")["id"]
    contact = ws.contacts.create(name="Sunil Rao", company=company, owner="ravi")["id"]
    ravi_deal = ws.as_user("ravi").pipeline.create("Ravi's deal", company=company)["id"]
    bilal_deal = ws.as_user("bilal").pipeline.create("Bilal's deal", company=company)["id"]
    return {
        "company": company,
        "contact": contact,
        "ravi_deal": ravi_deal,
        "bilal_deal": bilal_deal,
        **{login: _user_id(ws, login) for login in ("bilal", "ravi", "ayesha", "root")},
    }


def _user_id(ws, login):
    with ws.transaction() as s:
        return s.scalar(select(User.id).where(User.login == login))


def _interactions(ws):
    with ws.transaction() as s:
        return sorted((i.user_id, i.subject) for i in s.scalars(select(Interaction)))


# -- 1. interactions are logged in the sales user's own name -------------------------
def test_a_sales_user_may_not_log_an_interaction_in_another_users_name(ws, team):
    b = ws.as_user("bilal")
    before, counts = _interactions(ws), ws.info()
    attempts = [
        lambda: b.interactions.log(
            "call", "out", contact_id=team["contact"], subject="x", user="ravi"
        ),
        lambda: b.interactions.log(
            "call", "out", contact_id=team["contact"], subject="x", user_id=team["ravi"]
        ),
        lambda: b.interactions.log("call", "out", contact=team["contact"], user="ayesha"),
        lambda: b.interactions.log_and_schedule(
            "call", "out", "call", "Next", TODAY, contact_id=team["contact"], user="ravi"
        ),
        lambda: b.interactions.log_and_schedule(
            "call", "out", "call", "Next", TODAY, contact_id=team["contact"], user_id=team["ravi"]
        ),
    ]
    for attempt in attempts:
        with pytest.raises(AccessDenied) as refused:
            attempt()
        message = str(refused.value)
        assert "user 'bilal' (sales) may not log an interaction as user" in message
        assert "'ravi'" in message or "'ayesha'" in message
        assert "a sales user logs interactions in their own name only" in message
    # Inside the caller's own session (an import, the mail), the same rule.
    with (
        pytest.raises(AccessDenied, match="log an interaction as user 'ravi'"),
        b.transaction() as s,
    ):
        b.interactions.prepare(s, "call", "out", None, {"contact": team["contact"], "user": "ravi"})
    assert _interactions(ws) == before
    assert ws.info() == counts  # no interaction, no activity, no journal row


def test_a_sales_user_logs_as_themself_and_a_manager_or_the_workspace_for_anyone(ws, team):
    b = ws.as_user("bilal")
    assert (
        b.interactions.log("call", "out", contact=team["contact"], subject="a")["user_id"]
        == (team["bilal"])
    )
    mine = b.interactions.log("call", "out", contact=team["contact"], subject="b", user="bilal")
    assert mine["user_id"] == team["bilal"]
    both = b.interactions.log_and_schedule(
        "call", "out", "call", "Next", TODAY, contact=team["contact"], subject="c", user="bilal"
    )
    assert both["logged"]["user_id"] == both["next"]["assignee_id"] == team["bilal"]
    # A refused user name is a validation error as before, not a refusal.
    with pytest.raises(ValidationError, match="is not a known user"):
        b.interactions.log("call", "out", contact=team["contact"], user="nobody")
    mgr, admin = ws.as_user("ayesha"), ws.as_user("root")
    for who, subject in ((mgr, "d"), (admin, "e"), (ws, "f")):
        logged = who.interactions.log(
            "call", "out", contact=team["contact"], subject=subject, user="ravi"
        )
        assert logged["user_id"] == team["ravi"]
    assert _interactions(ws) == sorted(
        [(team["bilal"], s) for s in "abc"] + [(team["ravi"], s) for s in "def"]
    )
    # The timeline says who: the rep who called, never a name another rep wrote.
    assert (
        sorted(b.interactions.timeline(contact_id=team["contact"])["user"])
        == ["Bilal Ahmed"] * 3 + ["Ravi Kumar"] * 3
    )


# -- 2. a workspace acting as a user follows that user's current state ---------------
def test_a_disabled_users_workspace_stops_at_its_next_call(ws, team):
    b = ws.as_user("bilal")
    assert b.pipeline.count() == 1
    ws.users.disable("bilal")
    for call in (
        lambda: b.pipeline.update(team["bilal_deal"], name="x"),
        lambda: b.pipeline.count(),
        lambda: b.pipeline.get(team["bilal_deal"]),
        lambda: b.interactions.log("call", "out", contact=team["contact"]),
        lambda: b.interactions.timeline(contact_id=team["contact"]),
        lambda: b.info(),
        lambda: b.as_user("bilal"),
    ):
        with pytest.raises(DisabledUser, match="user 'bilal' is disabled"):
            call()
    assert ws.pipeline.get(team["bilal_deal"])["name"] == "Bilal's deal"
    assert _interactions(ws) == []
    ws.users.enable("bilal")
    assert b.pipeline.update(team["bilal_deal"], name="Renamed")["name"] == "Renamed"


def test_the_unrestricted_copy_stays_unrestricted_but_stops_when_the_user_is_disabled(ws, team):
    b = ws.as_user("bilal")
    free = b._unrestricted()
    assert (b.pipeline.count(), free.pipeline.count()) == (1, 2)
    ws.users.set_role("bilal", "sales")  # nothing changes
    ws.users.disable("bilal")
    with pytest.raises(DisabledUser):
        free.pipeline.count()
    ws.users.enable("bilal")
    assert free.pipeline.count() == 2 and free.role is None
    assert b.pipeline.count() == 1 and b.role == "sales"


def test_a_role_change_applies_to_a_workspace_already_acting_as_the_user(ws, team):
    a = ws.as_user("ayesha")
    assert a.pipeline.count() == 2
    ws.users.set_role("ayesha", "sales")
    assert a.pipeline.count() == 0
    assert a.role == "sales"
    with pytest.raises(AccessDenied, match=r"'ayesha' \(sales\) may not change opportunity"):
        a.pipeline.update(team["ravi_deal"], name="Taken")
    # What is checked before the work begins follows the new role too.
    with pytest.raises(Refusal, match=r"'ayesha' \(sales\) may not create segment"):
        a.segments.create("All deals", "opportunity")
    assert ws.segments.list().empty
    assert ws.pipeline.get(team["ravi_deal"])["name"] == "Ravi's deal"
    # And a promotion as well.
    b = ws.as_user("bilal")
    assert b.pipeline.count() == 1
    ws.users.set_role("bilal", "manager")
    assert b.pipeline.count() == 2
    assert b.pipeline.update(team["ravi_deal"], name="Shared")["name"] == "Shared"


def test_a_demoted_admin_loses_the_admins_rights_at_once(ws, team):
    root = ws.as_user("root")
    assert root.setting("currency") == "USD"
    ws.users.set_role("root", "sales")
    with pytest.raises(NotAnAdmin, match=r"'root' \(sales\) may not change the setting"):
        root.set_setting("currency", "EUR")
    with pytest.raises(NotAnAdmin, match=r"'root' \(sales\) may not add user 'eve'"):
        root.users.add("Eve", "eve", role="admin")
    with pytest.raises(Refusal, match=r"'root' \(sales\) may not become user 'ravi'"):
        root.as_user("ravi")
    with ws.transaction() as s:
        assert s.scalar(select(Setting.value).where(Setting.key == "currency")) is None
        assert s.scalar(select(User.id).where(User.login == "eve")) is None


def test_following_the_user_costs_one_primary_key_read_per_transaction(ws, team):
    b = ws.as_user("bilal")
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(ws.engine, "before_cursor_execute", seen)
    try:
        ws.companies.get(team["company"])
        owners = list(statements)
        statements.clear()
        b.companies.get(team["company"])
        users = [s for s in statements if s not in owners]
    finally:
        event.remove(ws.engine, "before_cursor_execute", seen)
    assert len(statements) == len(owners) + 1
    assert len(users) == 1 and "FROM users" in users[0] and "users.id =" in users[0]


def test_an_unknown_user_is_still_not_found(ws, team):
    with pytest.raises(NotFoundError):
        ws.as_user("nobody")


# -- 3. lowering session_max_hours ends older sessions -------------------------------
def test_lowering_the_session_limit_ends_sessions_older_than_the_new_limit(ws, team, clock):
    checked, hashed, watched = (ws.sessions.start("bilal") for _ in range(3))
    started = clock.now
    ws.set_setting("session_max_hours", "1")
    clock.advance(minutes=30)
    young = ws.sessions.start("ravi")  # ends an hour after its own login
    assert ws.sessions.check(checked)["login"] == "bilal"
    listed = ws.sessions.list()
    assert listed["login"].tolist() == ["ravi", "bilal", "bilal", "bilal"]
    # The list shows when each ends now: an hour after its login, not 168 hours.
    assert (
        listed["expires_at"].tolist()
        == [clock.now + dt.timedelta(hours=1)] + [started + dt.timedelta(hours=1)] * 3
    )
    clock.advance(minutes=31)  # 61 minutes after bilal's logins, 31 after ravi's
    assert ws.sessions.check(checked) is None
    assert ws.sessions.check_hash(token_hash(hashed)) is None
    assert ws.sessions.live([token_hash(watched), token_hash(young)]) == {token_hash(young)}
    assert ws.sessions.list()["login"].tolist() == ["ravi"]
    with ws.transaction() as s:
        ended = s.scalars(
            select(LoginSession.end_reason).where(LoginSession.user_id == team["bilal"])
        )
        assert sorted(ended) == ["expired"] * 3
    # Raising the limit again does not bring back what ended, nor stretch the stored end.
    ws.set_setting("session_max_hours", "168")
    assert ws.sessions.check(checked) is None
    clock.advance(minutes=28)  # 89 minutes after ravi's login
    assert ws.sessions.check(young)["login"] == "ravi"
    clock.advance(minutes=1)
    assert ws.sessions.check(young) is None


def test_a_session_still_ends_at_its_stored_end_when_the_limit_is_raised(ws, team, clock):
    ws.set_setting("session_max_hours", "2")
    token = ws.sessions.start("bilal")
    ws.set_setting("session_max_hours", "24")
    clock.advance(minutes=119)
    assert ws.sessions.check(token)["login"] == "bilal"
    clock.advance(minutes=1)
    assert ws.sessions.check(token) is None
