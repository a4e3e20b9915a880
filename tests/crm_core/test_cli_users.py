"""``crmbook user disable/enable/role/password/sessions``: the logins of the staff app
managed from the command line, ending sessions at once; ``crmbook setting`` for their
lifetimes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import crm_core
from crm_core.cli import app

runner = CliRunner()
PASSWORD = "bilal-pass-1"


@pytest.fixture
def shop(backend):
    with crm_core.open(backend) as ws:
        ws.users.add("Bilal Ahmed", "bilal", role="sales", password=PASSWORD)
        ws.users.add("Olga Smirnova", "olga", role="sales", password="olga-pass-12")
        ws.sessions.log_in("bilal", PASSWORD, address="10.0.0.1", user_agent="Firefox/140")
        ws.sessions.log_in("olga", "olga-pass-12", address="10.0.0.2", user_agent="Chrome/141")
    return backend


def _crmbook(*args: str, env: dict[str, str] | None = None):
    result = runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})
    assert "Traceback" not in result.output
    return result


def _live(location: str) -> list[str]:
    with crm_core.open(location) as ws:
        return sorted(ws.sessions.list()["login"])


def test_sessions_lists_and_revokes(shop):
    listed = _crmbook("user", "sessions", "-w", shop)
    assert listed.exit_code == 0, listed.output
    assert "2 live session(s)" in listed.output
    assert "10.0.0.1" in listed.output and "Chrome/141" in listed.output
    only = _crmbook("user", "sessions", "bilal", "-w", shop)
    assert "1 live session(s)" in only.output and "olga" not in only.output
    revoked = _crmbook("user", "sessions", "--revoke", "bilal", "-w", shop)
    assert revoked.exit_code == 0 and "1 login session(s) ended" in revoked.output
    assert _live(shop) == ["olga"]
    everyone = _crmbook("user", "sessions", "--revoke", "-w", shop)
    assert "1 login session(s) ended" in everyone.output
    assert "no live session" in _crmbook("user", "sessions", "-w", shop).output
    unknown = _crmbook("user", "sessions", "zed", "-w", shop)
    assert unknown.exit_code == 1 and "zed" in unknown.output


def test_disable_enable_role_and_password_end_the_users_sessions(shop):
    disabled = _crmbook("user", "disable", "bilal", "-w", shop)
    assert disabled.exit_code == 0, disabled.output
    assert "user 'bilal' disabled; 1 login session(s) ended" in disabled.output
    assert _live(shop) == ["olga"]
    with crm_core.open(shop) as ws:
        assert ws.sessions.log_in("bilal", PASSWORD).token is None
    enabled = _crmbook("user", "enable", "bilal", "-w", shop)
    assert enabled.exit_code == 0 and "user 'bilal' enabled" in enabled.output
    with crm_core.open(shop) as ws:
        assert ws.sessions.log_in("bilal", PASSWORD).token is not None

    role = _crmbook("user", "role", "olga", "manager", "-w", shop)
    assert role.exit_code == 0 and "now manager; 1 login session(s) ended" in role.output
    bad = _crmbook("user", "role", "olga", "boss", "-w", shop)
    assert bad.exit_code == 1 and "role" in bad.output

    changed = _crmbook(
        "user", "password", "bilal", "-w", shop, env={"CRMBOOK_USER_PASSWORD": "new-pass-123"}
    )
    assert changed.exit_code == 0
    assert "password of 'bilal' changed; 1 login session(s) ended" in changed.output
    assert _live(shop) == []


def test_settings_are_shown_and_changed_with_their_rules(shop):
    shown = _crmbook("setting", "-w", shop)
    assert shown.exit_code == 0, shown.output
    assert "session_idle_minutes" in shown.output and "480" in shown.output
    changed = _crmbook("setting", "session_idle_minutes", "30", "-w", shop)
    assert changed.exit_code == 0 and "30" in changed.output
    with crm_core.open(shop) as ws:
        assert ws.setting("session_idle_minutes") == "30"
    too_short = _crmbook("setting", "session_idle_minutes", "3", "-w", shop)
    assert too_short.exit_code == 1 and "must be at least 5" in too_short.output
    unknown = _crmbook("setting", "cookie_secret", "-w", shop)
    assert unknown.exit_code == 1 and "is not a setting" in unknown.output
    with crm_core.open(shop) as ws:
        assert ws.setting("session_idle_minutes") == "30"
