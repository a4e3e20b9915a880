"""``crmbook import`` as a new user runs it: the README's command on a messy file."""

from __future__ import annotations

from pathlib import Path

import crm_core
from tests.crm_core.test_cli import crmbook


def test_import_from_the_command_line(tmp_path: Path) -> None:
    assert crmbook("init", "crm.sqlite", "--region", "PK", cwd=tmp_path).returncode == 0
    (tmp_path / "customers.csv").write_bytes(
        "نام;ای میل;Mobile No;Company\n"
        "Imran Khan;imran@indus.pk;0300 1234567;Indus Textiles\n"
        "Bad;not-an-email;;\n".encode("utf-8-sig")
    )

    dry = crmbook("import", "contacts", "customers.csv", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "ای میل" in dry.stdout and "email" in dry.stdout
    assert "1 would be created" in dry.stdout and "1 rejected" in dry.stdout
    assert "nothing written" in dry.stdout
    with crm_core.open(tmp_path / "crm.sqlite") as ws:
        assert ws.contacts.count() == 0

    done = crmbook("import", "contacts", "customers.csv", "--map", "Mobile No=mobile", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 were created" in done.stdout
    assert "customers.rejects.csv" in done.stdout
    again = crmbook("import", "contacts", "customers.csv", cwd=tmp_path)
    assert "1 were unchanged" in again.stdout
    with crm_core.open(tmp_path / "crm.sqlite") as ws:
        (imran,) = ws.contacts.search().to_dict("records")
        assert (imran["mobile"], imran["company"]) == ("+923001234567", "Indus Textiles")

    wrong = crmbook("import", "contacts", "customers.csv", "--map", "Nope=name", cwd=tmp_path)
    assert wrong.returncode == 1
    assert "does not have: 'Nope'" in wrong.stderr
    missing = crmbook("import", "contacts", "nothing.csv", cwd=tmp_path)
    assert missing.returncode == 1 and "nothing.csv: no such file" in missing.stderr
