"""Login sessions kept in the workspace (``ws.sessions``), on SQLite and PostgreSQL:
they end everywhere at once (logout, password, role, disabled, revoked), run out
(idle, absolute), resist guessing (equal work, throttling) and move old scrypt hashes
to Argon2id."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import statistics
import time

import pytest
from sqlalchemy import select, text, update

import crm_core
from crm_core import AccessDenied, ValidationError
from crm_core.models import LoginSession, User
from crm_core.services import throttle
from crm_core.services.sessions import token_hash

PASSWORD = "bilal-pass-1"


@pytest.fixture
def staff(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales", password=PASSWORD)
    ws.users.add("Olga Smirnova", "olga", role="sales", password="olga-pass-12")
    ws.users.add("Demo Admin", "demo", role="admin", password="demo-pass-12")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager", password="ayesha-pass1")
    return ws


def _login(ws, login="bilal", password=PASSWORD, address="10.0.0.1"):
    return ws.sessions.log_in(login, password, address=address, user_agent="pytest")


def _reasons(ws, login):
    with ws.transaction() as s:
        user_id = s.scalar(select(User.id).where(User.login == login))
        return sorted(
            s.scalars(select(LoginSession.end_reason).where(LoginSession.user_id == user_id)).all(),
            key=str,
        )


def test_a_login_starts_a_session_whose_token_is_stored_only_as_a_hash(staff):
    ws = staff
    result = _login(ws)
    assert result.user["login"] == "bilal" and result.wait == 0
    assert len(result.token) >= 43  # 32 random bytes
    assert result.expires_at == ws.clock() + dt.timedelta(hours=168)
    user = ws.sessions.check(result.token)
    assert user["login"] == "bilal" and user["role"] == "sales"
    assert user["session"] == token_hash(result.token)
    with ws.transaction() as s:
        stored = s.scalars(select(LoginSession)).one()
        assert stored.token_hash == hashlib.sha256(result.token.encode()).hexdigest()
        dumped = " ".join(str(v) for v in vars(stored).values())
    assert result.token not in dumped
    assert stored.address == "10.0.0.1" and stored.user_agent == "pytest"
    assert ws.sessions.check("not-a-token") is None
    assert ws.sessions.check(None) is None and ws.sessions.check_hash("") is None
    # no journal row for logins: sessions are not records of the CRM
    assert ws.journal.for_record("login_sessions", stored.id).empty


@pytest.mark.parametrize(
    ("end", "reason"),
    [
        (lambda ws, token: ws.sessions.log_out(token), "logout"),
        (lambda ws, token: ws.users.set_password("bilal", "new-pass-123"), "password"),
        (lambda ws, token: ws.users.set_role("bilal", "manager"), "role"),
        (lambda ws, token: ws.users.disable("bilal"), "disabled"),
        (lambda ws, token: ws.sessions.revoke("bilal"), "revoked"),
    ],
)
def test_ending_ends_every_session_of_the_user_at_once(staff, end, reason):
    ws = staff
    laptop, phone = _login(ws).token, _login(ws, address="10.0.0.2").token
    olga = _login(ws, "olga", "olga-pass-12").token
    assert ws.sessions.live([token_hash(laptop), token_hash(phone)]) == {
        token_hash(laptop),
        token_hash(phone),
    }
    assert end(ws, laptop) == 2
    assert ws.sessions.check(laptop) is None and ws.sessions.check(phone) is None
    assert ws.sessions.live([token_hash(laptop), token_hash(phone), token_hash(olga)]) == {
        token_hash(olga)
    }
    assert _reasons(ws, "bilal") == [reason, reason]
    assert ws.sessions.check(olga)["login"] == "olga"  # another user's login stays


def test_a_disabled_user_cannot_log_in_until_enabled(staff):
    ws = staff
    ws.users.disable("bilal")
    assert _login(ws).token is None
    assert ws.users.get("bilal")["active"] is False
    ws.users.enable("bilal")
    assert _login(ws).token is not None


def test_a_role_change_to_the_same_role_ends_nothing_and_a_bad_role_is_refused(staff):
    ws = staff
    token = _login(ws).token
    assert ws.users.set_role("bilal", "sales") == 0
    with pytest.raises(ValidationError, match="role"):
        ws.users.set_role("bilal", "boss")
    assert ws.sessions.check(token) is not None


def test_sessions_run_out_when_idle_and_at_their_absolute_end(staff, clock):
    ws = staff
    idle = _login(ws).token
    open_page = _login(ws).token
    clock.advance(minutes=470)
    # an open page counts as use: the app asks about its pages every second
    assert ws.sessions.live([token_hash(open_page)]) == {token_hash(open_page)}
    clock.advance(minutes=11)  # 481 minutes since the login, 11 since the page was seen
    assert ws.sessions.check(idle) is None
    assert ws.sessions.check(open_page)["login"] == "bilal"
    for _ in range(7 * 24):  # used every hour, it still ends after 7 days
        clock.advance(hours=1)
        ws.sessions.check(open_page)
    assert ws.sessions.check(open_page) is None
    assert _reasons(ws, "bilal") == ["expired", "idle"]


def test_session_lifetimes_are_settings_validated_like_the_others(staff, clock):
    ws = staff
    assert ws.setting("session_idle_minutes") == "480"
    assert ws.setting("session_max_hours") == "168"
    for key, value in (
        ("session_idle_minutes", "4"),
        ("session_idle_minutes", "forever"),
        ("session_max_hours", "0"),
        ("session_max_hours", 1.5),
    ):
        with pytest.raises(ValidationError, match=key):
            ws.set_setting(key, value)
    ws.set_setting("session_idle_minutes", "30")
    ws.set_setting("session_max_hours", "١٢")  # digits of any one script
    assert ws.setting("session_max_hours") == "12"
    token = _login(ws)
    assert token.expires_at == clock() + dt.timedelta(hours=12)
    clock.advance(minutes=31)
    assert ws.sessions.check(token.token) is None


def test_wrong_passwords_are_slowed_down_per_login(staff, clock):
    ws = staff
    waits = [_login(ws, password="wrong-guess").wait for _ in range(5)]
    assert waits == [0, 0, 0, 0, 1]  # the 5th failure: wait 1 s
    refused = _login(ws)  # even the right password is not checked while waiting
    assert refused.token is None and refused.wait == 1
    found = []
    for _ in range(10):
        clock.advance(seconds=found[-1] if found else 1)
        found.append(_login(ws, password="wrong-guess").wait)
    assert found == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]  # doubling, capped
    clock.advance(seconds=300)
    ok = _login(ws)
    assert ok.token is not None  # and a success clears the login's count
    assert [_login(ws, password="wrong-guess").wait for _ in range(4)] == [0, 0, 0, 0]
    # an unknown login is counted just the same: nothing tells the two apart
    assert [_login(ws, "nobody", "wrong-guess").wait for _ in range(5)][-1] == 1


def test_one_address_trying_many_logins_is_slowed_down_too(staff, clock):
    ws = staff
    waits = [_login(ws, f"guess{i}", "wrong-guess", address="203.0.113.9").wait for i in range(20)]
    assert waits[:19] == [0] * 19 and waits[19] == 1
    assert _login(ws, address="203.0.113.9").wait == 1
    assert _login(ws, address="198.51.100.7").token is not None  # another address
    clock.advance(hours=1, seconds=2)
    assert _login(ws, "guess0", "wrong-guess", address="203.0.113.9").wait == 0  # forgotten


def test_the_counts_are_shared_by_every_process_on_the_workspace(staff, backend, clock):
    for _ in range(4):
        assert _login(staff, password="wrong-guess").wait == 0
    with crm_core.open(backend, clock=clock) as other:  # another server process
        assert _login(other, password="wrong-guess").wait == 1
        assert _login(other).wait == 1
    with staff.transaction() as s:  # no login name is stored as typed
        keys = s.execute(text("SELECT key FROM login_throttle")).scalars().all()
    assert keys and all(len(k) == 64 and "bilal" not in k for k in keys)
    with staff.transaction() as s:
        throttle.forget(s, login="bilal", address="10.0.0.1")
    assert _login(staff).token is not None


def test_unknown_and_known_logins_cost_the_same(staff):
    """Medians of 30 wrong passwords each; the three logins take turns, so a change in
    the machine's load during the run weighs on all three alike."""
    ws = staff
    logins = ("bilal", "nobody", "bad\x00login")
    times: dict[str, list[float]] = {login: [] for login in logins}
    for i in range(31):
        for login in logins:
            start = time.perf_counter()
            assert ws.users.authenticate(login, "wrong-guess") is None
            if i:  # the first round warms up (the dummy hash is made on first use)
                times[login].append(time.perf_counter() - start)
    known, unknown, malformed = (statistics.median(times[login]) for login in logins)
    assert 1 / 1.5 < known / unknown < 1.5, (known, unknown)
    assert 1 / 1.5 < known / malformed < 1.5, (known, malformed)
    assert known > 0.005  # a real hash each time, not a shortcut


def _old_scrypt_hash(password: str) -> str:
    """A hash as crmbook wrote them before Argon2id."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return "$".join(["scrypt", str(2**14), "8", "1", b64(salt), b64(digest)])


def test_argon2id_hashes_and_old_scrypt_ones_are_rehashed_on_the_next_login(staff):
    ws = staff
    with ws.transaction() as s:
        stored = s.scalar(select(User.password_hash).where(User.login == "bilal"))
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        s.execute(
            update(User)
            .where(User.login == "bilal")
            .values(password_hash=_old_scrypt_hash(PASSWORD))
        )
    assert ws.users.authenticate("bilal", "wrong-guess") is None  # a failure rehashes nothing
    with ws.transaction() as s:
        assert s.scalar(select(User.password_hash).where(User.login == "bilal")).startswith(
            "scrypt$"
        )
    assert ws.users.authenticate("bilal", PASSWORD)["login"] == "bilal"
    with ws.transaction() as s:
        user = s.scalars(select(User).where(User.login == "bilal")).one()
        assert user.password_hash.startswith("$argon2id$")
    assert ws.users.authenticate("bilal", PASSWORD)["login"] == "bilal"
    history = ws.journal.for_record("users", user.id)
    rehash = history[history["field"] == "password_hash"].iloc[-1]
    assert rehash["user"] == "bilal" and rehash["new"] == '"***"'  # by them, no hash


def test_only_an_admin_manages_users_and_other_peoples_logins(staff):
    ws = staff
    bilal, admin = ws.as_user("bilal"), ws.as_user("demo")
    olga_token = _login(ws, "olga", "olga-pass-12").token
    _login(ws)
    refused = [
        lambda: bilal.users.disable("olga"),
        lambda: bilal.users.enable("olga"),
        lambda: bilal.users.set_role("bilal", "admin"),
        lambda: bilal.users.set_password("olga", "taken-over-1"),
        lambda: bilal.users.add("Mallory", "mallory", role="admin", password="mallory-pass"),
        lambda: bilal.sessions.revoke("olga"),
        lambda: bilal.sessions.revoke(),
        lambda: bilal.sessions.list("olga"),
        lambda: bilal.sessions.start("olga"),
        lambda: bilal.sessions.cookie_secret(),
        lambda: ws.as_user("ayesha").users.disable("bilal"),  # a manager neither
    ]
    for attempt in refused:
        with pytest.raises(AccessDenied, match=r"may not .*: only an admin may"):
            attempt()
    assert ws.sessions.check(olga_token)["login"] == "olga"
    assert bilal.sessions.list()["login"].tolist() == ["bilal"]  # their own only
    assert bilal.users.set_password("bilal", "bilal-new-pass") == 1  # their own: yes
    assert sorted(admin.sessions.list()["login"]) == ["olga"]
    assert admin.users.disable("olga") == 1
    assert ws.sessions.check(olga_token) is None


def test_the_list_shows_live_sessions_and_revoke_without_a_login_ends_all(staff, clock):
    ws = staff
    _login(ws, address="10.0.0.1")
    clock.advance(minutes=1)
    _login(ws, "olga", "olga-pass-12", address="2001:db8::1")
    listed = ws.sessions.list()
    assert list(listed.columns) == [
        "id",
        "login",
        "created_at",
        "last_seen_at",
        "expires_at",
        "address",
        "user_agent",
    ]
    assert listed["login"].tolist() == ["olga", "bilal"]  # newest first
    assert listed["address"].tolist() == ["2001:db8::1", "10.0.0.1"]
    assert ws.sessions.list("olga")["login"].tolist() == ["olga"]
    assert ws.sessions.revoke() == 2
    assert ws.sessions.list().empty


def test_the_cookie_secret_is_made_once_per_workspace(staff, backend, clock):
    secret = staff.sessions.cookie_secret()
    assert len(secret) == 64 and int(secret, 16)
    with crm_core.open(backend, clock=clock) as again:
        assert again.sessions.cookie_secret() == secret
    with pytest.raises(ValidationError, match="is not a setting"):
        staff.setting("cookie_secret")  # not one of the settings a user reads or sets
