"""The rejects file never destroys anything: not the input (by any name), not a folder,
not what a symbolic link points at; and a dry run writes none unless asked by name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import crm_core
from crm_core.errors import ImportRefused
from tests.crm_core.test_cli import crmbook

CONTENT = b"Name,Email\r\nAli Raza,ali@x.pk\r\nBad,bad@\r\n"


@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_bytes(CONTENT)
    return path


def _aliases(people: Path) -> dict[str, Path]:
    folder = people.parent
    (folder / "sub").mkdir()
    link = folder / "link.csv"
    link.symlink_to(people)
    hard = folder / "hard.csv"
    os.link(people, hard)
    return {
        "itself": people,
        "relative": Path(os.path.relpath(people)),
        "dotted": folder / "sub" / ".." / "people.csv",
        "symlink": link,
        "hardlink": hard,
    }


@pytest.mark.parametrize("alias", ["itself", "relative", "dotted", "symlink", "hardlink"])
def test_the_input_itself_is_refused_before_reading(
    sqlite_ws: crm_core.Workspace, people: Path, alias: str
) -> None:
    target = _aliases(people)[alias]
    with pytest.raises(ImportRefused, match=r"--rejects .*(input file itself|symbolic link)"):
        sqlite_ws.importer.run(people, "contacts", rejects=target, workers=0)
    assert people.read_bytes() == CONTENT
    assert sqlite_ws.contacts.count() == 0


def test_a_folder_a_link_or_a_missing_folder_is_refused(
    sqlite_ws: crm_core.Workspace, people: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ImportRefused, match="is a folder"):
        sqlite_ws.importer.run(people, "contacts", rejects=folder, workers=0)

    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    link = tmp_path / "rejects.csv"
    link.symlink_to(precious)
    with pytest.raises(ImportRefused, match="symbolic link"):
        sqlite_ws.importer.run(people, "contacts", rejects=link, workers=0)
    assert precious.read_text() == "keep me"

    missing = tmp_path / "no" / "such" / "rejects.csv"
    with pytest.raises(ImportRefused, match=f"the folder {tmp_path / 'no' / 'such'} does not"):
        sqlite_ws.importer.run(people, "contacts", rejects=missing, workers=0)
    assert not (tmp_path / "no").exists()
    assert sqlite_ws.contacts.count() == 0  # refused before anything was written

    # The default place beside the input is held to the same rules.
    (tmp_path / "people.rejects.csv").symlink_to(precious)
    with pytest.raises(ImportRefused, match="symbolic link"):
        sqlite_ws.importer.run(people, "contacts", workers=0)
    assert precious.read_text() == "keep me"


def test_a_dry_run_writes_no_rejects_file_unless_one_is_named(
    sqlite_ws: crm_core.Workspace, people: Path, tmp_path: Path
) -> None:
    report = sqlite_ws.importer.run(people, "contacts", dry_run=True, workers=0)
    assert (report.created, report.rejected) == (1, 1)
    assert report.rejects_path is None
    assert not [p.name for p in tmp_path.iterdir() if "rejects" in p.name]
    assert "--rejects PATH" in report.summary()

    named = tmp_path / "dry.rejects.csv"
    report = sqlite_ws.importer.run(people, "contacts", dry_run=True, rejects=named, workers=0)
    assert report.rejects_path == named
    assert "bad@" in named.read_text(encoding="utf-8-sig")


def test_the_command_line_refuses_the_input_as_rejects(tmp_path: Path, people: Path) -> None:
    assert crmbook("init", "W.sqlite", cwd=tmp_path).returncode == 0
    done = crmbook(
        "import", "contacts", "people.csv", "-w", "W.sqlite", "--rejects", "./people.csv",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert "is the input file itself" in done.stderr
    assert "Traceback" not in done.stderr
    assert people.read_bytes() == CONTENT
    dry = crmbook("import", "contacts", "people.csv", "-w", "W.sqlite", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert not (tmp_path / "people.rejects.csv").exists()
