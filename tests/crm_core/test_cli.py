"""The ``crmbook`` command, run as a user runs it: a real subprocess on a real file."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import crm_core
from crm_core.cli import app

runner = CliRunner()


def crmbook(*args: str, cwd: Path, columns: str | None = "200") -> subprocess.CompletedProcess[str]:
    """``crmbook ARGS`` in a subprocess, its output piped (``columns=None``: no $COLUMNS,
    as in ``crmbook ... | grep``)."""
    exe = Path(sys.executable).with_name("crmbook")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "crm_core.cli"]
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )


def test_init_info_and_search_as_a_user(tmp_path):
    done = crmbook("init", "shop.sqlite", "--region", "PK", "--currency", "PKR", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with crm_core.open(tmp_path / "shop.sqlite") as ws:
        assert ws.setting("phone_region") == "PK"
        ws.contacts.create(name="عمران خان", phone="0300 1234567", city="Karachi")
        ws.contacts.create(name="Imran Qureshi", city="Lahore")
    found = crmbook(
        "contacts", "search", "-w", "shop.sqlite", "--phone", "+92 300 1234567", cwd=tmp_path
    )
    assert found.returncode == 0, found.stderr
    assert "عمران خان" in found.stdout and "+923001234567" in found.stdout
    assert "Imran Qureshi" not in found.stdout
    assert "1 contact(s)" in found.stdout
    info = runner.invoke(app, ["info", "-w", str(tmp_path / "shop.sqlite")])
    assert info.exit_code == 0
    assert "contacts" in info.output and "│ 2 " in info.output


def test_workspace_from_environment_and_paging(tmp_path, monkeypatch):
    path = tmp_path / "env.sqlite"
    with crm_core.open(path) as ws:
        for i in range(5):
            ws.contacts.create(name=f"Person {i}")
    monkeypatch.setenv("CRMBOOK_WORKSPACE", str(path))
    result = runner.invoke(
        app, ["contacts", "search", "person", "--limit", "2"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "5 contact(s)" in result.output
    assert "Person 0" in result.output and "Person 2" not in result.output
    assert "more: --offset 2" in result.output


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("postgresql+psycopg://postgres:s3cret@127.0.0.1/crmbook_no_such_db", "does not exist"),
        ("postgresql+psycopg://postgres:s3cret@127.0.0.1:9/x", "Connection refused"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["info", "-w"],
        ["contacts", "search", "x", "-w"],
        ["migrate", "-w"],
        ["init"],
        ["backup", "-w"],
    ],
)
def test_a_database_that_cannot_be_reached_is_one_line_without_the_password(url, detail, command):
    result = runner.invoke(app, [*command, url])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: cannot open the workspace at postgresql+psycopg://postgres:***@")
    assert detail in line and "s3cret" not in line
    with pytest.raises(crm_core.WorkspaceUnreachable, match=detail):
        crm_core.open(url)


def test_errors_are_one_clear_line_not_a_traceback(tmp_path):
    missing = runner.invoke(app, ["info", "-w", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 1
    assert "no workspace at" in missing.output and "crmbook init" in missing.output
    assert not (tmp_path / "none.sqlite").exists()
    crm_core.open(tmp_path / "w.sqlite").close()
    bad = runner.invoke(
        app, ["contacts", "search", "-w", str(tmp_path / "w.sqlite"), "--country", "ZZ"]
    )
    assert bad.exit_code == 1
    assert "'country' value 'ZZ'" in bad.output
    assert "Traceback" not in bad.output
    region = runner.invoke(app, ["init", str(tmp_path / "r.sqlite"), "--region", "Narnia"])
    assert region.exit_code == 1 and "phone_region" in region.output


@pytest.mark.slow
def test_demo_builds_a_base_the_user_can_query(tmp_path):
    done = crmbook("demo", "demo.sqlite", "--no-serve", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    info = crmbook("info", "-w", "demo.sqlite", cwd=tmp_path)
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in info.stdout.splitlines()
        if line.count("│") == 3
    }
    assert (rows["companies"], rows["contacts"], rows["opportunities"]) == ("200", "1000", "600")
    # The README's examples: a name word, a Bengali word, a Pakistani mobile typed
    # the national way (the demo workspace reads numbers in region PK).
    khan = crmbook("contacts", "search", "-w", "demo.sqlite", "khan", cwd=tmp_path)
    assert khan.returncode == 0 and "contact(s)" in khan.stdout and "Khan" in khan.stdout
    by_phone = crmbook(
        "contacts", "search", "-w", "demo.sqlite", "--phone", "0318 8895048", cwd=tmp_path
    )
    assert "1 contact(s)" in by_phone.stdout and "ثنا خان" in by_phone.stdout
    bengali = crmbook("contacts", "search", "-w", "demo.sqlite", "করিম", cwd=tmp_path)
    assert "করিম" in bengali.stdout
    city = ("--city", "Новосибирск", "--tag", "VIP", "--order-by", "name")
    vips = crmbook("contacts", "search", "-w", "demo.sqlite", *city, cwd=tmp_path, columns=None)
    assert "3 contact(s)" in vips.stdout
    # Piped, a table is not wrapped at 80 columns: a row and its long e-mail on one line.
    (row,) = [line for line in vips.stdout.splitlines() if "Natalya Semyonova" in line]
    assert "natalyas@uralteks-trading-house.example.com" in row and len(row) > 80
    again = crmbook("demo", "demo.sqlite", "--no-serve", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # an existing base is kept, not doubled
    assert "demo base written" not in again.stdout
    with crm_core.open(tmp_path / "demo.sqlite") as ws:
        assert ws.info()["companies"] == 200
        assert ws.users.authenticate("bilal", "crmbook-demo")["role"] == "sales"


def test_user_add_takes_the_password_from_the_environment_and_stores_a_hash(tmp_path):
    path = str(tmp_path / "w.sqlite")
    crm_core.open(path).close()
    env = {"CRMBOOK_USER_PASSWORD": "s3cret-pass"}
    added = runner.invoke(
        app, ["user", "add", "zara", "--name", "زارا", "--role", "manager", "-w", path], env=env
    )
    assert added.exit_code == 0, added.output
    assert "s3cret" not in added.output
    with crm_core.open(path) as ws:
        assert ws.users.authenticate("zara", "s3cret-pass")["name"] == "زارا"
        assert ws.users.authenticate("zara", "wrong-pass") is None
    short = runner.invoke(
        app, ["user", "add", "kim", "--name", "Kim", "-w", path], env={"CRMBOOK_USER_PASSWORD": "x"}
    )
    assert short.exit_code == 1 and "must be at least 8" in short.output
    listed = runner.invoke(app, ["user", "list", "-w", path])
    assert "zara" in listed.output and "kim" not in listed.output


def test_quality_lists_the_values_kept_as_written(tmp_path):
    from crm_core.party_writer import PartyWriter

    path = tmp_path / "q.sqlite"
    with crm_core.open(path) as ws, ws.transaction() as s:
        PartyWriter(ws, "contact").create(
            s, [{"name": "Olga \x1b[31m", "phone": "+1 555 0000001", "email": "o@x.test"}]
        )
    result = runner.invoke(app, ["quality", "-w", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "+1 555 0000001" in result.output and "o@x.test" in result.output
    assert "Olga \\x1b[31m" in result.output and "\x1b[31m" not in result.output
    counts = runner.invoke(app, ["quality", "-w", str(path), "--counts"])
    rows = [line.replace("│", " ").split() for line in counts.output.splitlines()]
    assert [row for row in rows if row[:1] == ["contact"]] == [
        ["contact", "email", "1"],
        ["contact", "name", "1"],  # the control character: kept, escaped on screen
        ["contact", "phone", "1"],
    ]
    bad = runner.invoke(app, ["quality", "-w", str(path), "--entity", "nope"])
    assert bad.exit_code == 1 and "nope" in bad.output


def test_python_dash_m_has_every_command_the_installed_one_has():
    """``python -m crm_core.cli`` ran a copy of the module the plugins register their
    commands on: report, rates, mail, import... were "No such command"."""
    done = subprocess.run(
        [sys.executable, "-m", "crm_core.cli", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    for command in ("report", "rates", "mail", "import", "duplicates", "export"):
        assert f" {command} " in done.stdout, command
