"""A CSV file's encoding is found right, names come in exactly as written, and the run
says which encoding it read (so that a wrong guess is seen and ``--encoding`` given).

Short files are the hard case: two rows of Spanish names in cp1252 were read as cp1250
(``Ńuńez``), two rows of Urdu in cp1256 as mac_greek.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import crm_core
from crm_core.imports.encoding import detect_encoding
from tests.crm_core.test_cli import crmbook

SPANISH = ["Ñuñez Muñoz", "José Pérez", "María Ibáñez", "Iñigo Zúñiga"]
GERMAN = ["José Müller", "Jürgen Weiß", "Björn Strauß", "Käthe Schröder"]
FRENCH = ["Søren Brûlé", "François Lefèvre", "Élodie Garçon", "Renée Dubœuf"]
NORDIC = ["Åse Ødegård", "Søren Kierkegaard", "Ægir Þórsson", "Åsa Lindström"]
URDU = ["عمران خان", "کاشف گلزار", "ہارون ڈار", "احمد نے"]
ARABIC = ["محمد علي", "أحمد الحسن", "فاطمة الزهراء", "عبد الله"]
RUSSIAN = ["Мария Иванова", "Олег Петров", "Ёлка Щукина", "Юрий Гагарин"]
MIXED = [*SPANISH[:1], *URDU[:1], *RUSSIAN[:1], "আব্দুল করিম", "மீனா"]


def _names(base: list[str], rows: int) -> list[str]:
    """``rows`` distinct names made from ``base`` (a number added after the first round)."""
    out = []
    for i, name in zip(range(rows), itertools.cycle(base), strict=False):
        out.append(name if i < len(base) else f"{name} {i}")
    return out


def _file(path: Path, names: list[str], encoding: str) -> Path:
    lines = ["Name,Email"] + [f"{n},p{i}@example.org" for i, n in enumerate(names)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


CASES = {
    # case: (encoding written, names, rows, encoding it must be read as)
    "cp1252-spanish-2": ("cp1252", SPANISH, 2, "cp1252"),
    "cp1252-german-2": ("cp1252", GERMAN, 2, "cp1252"),
    "cp1252-jose-muller-1": ("cp1252", GERMAN, 1, "cp1252"),
    "cp1252-french-2": ("cp1252", FRENCH, 2, "cp1252"),
    "cp1252-nordic-2": ("cp1252", NORDIC, 2, "cp1252"),
    "cp1252-spanish-nordic-2": ("cp1252", ["Ñuñez Muñoz", "Søren Brûlé"], 2, "cp1252"),
    "cp1252-western-200": ("cp1252", SPANISH + GERMAN + FRENCH + NORDIC, 200, "cp1252"),
    "cp1256-urdu-2": ("cp1256", URDU, 2, "cp1256"),
    "cp1256-urdu-50": ("cp1256", URDU, 50, "cp1256"),
    "cp1256-arabic-2": ("cp1256", ARABIC, 2, "cp1256"),
    "cp1256-arabic-50": ("cp1256", ARABIC, 50, "cp1256"),
    "cp1251-russian-2": ("cp1251", RUSSIAN, 2, "cp1251"),
    "cp1251-russian-50": ("cp1251", RUSSIAN, 50, "cp1251"),
    "utf-8": ("utf-8", MIXED, 5, "utf-8"),
    "utf-8-sig": ("utf-8-sig", MIXED, 5, "utf-8-sig"),
    "utf-16": ("utf-16", MIXED, 5, "utf-16"),
    "utf-16-le-no-mark": ("utf-16-le", RUSSIAN + URDU, 8, "utf-16-le"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_names_round_trip_in_every_encoding(
    sqlite_ws: crm_core.Workspace, tmp_path: Path, case: str
) -> None:
    encoding, base, rows, read_as = CASES[case]
    names = _names(base, rows)
    path = _file(tmp_path / f"{case}.csv", names, encoding)

    assert detect_encoding(path) == read_as
    report = sqlite_ws.importer.run(path, "contacts", workers=0)

    assert (report.created, report.rejected) == (rows, 0), report.summary()
    assert sorted(sqlite_ws.contacts.search(limit=1000)["name"]) == sorted(names)
    assert report.encoding == read_as
    assert f"read as {read_as}" in report.summary()


def test_a_polish_file_is_still_read_as_cp1250(tmp_path: Path) -> None:
    # Preferring cp1252 does not turn every Central European file into Western.
    path = _file(tmp_path / "pl.csv", ["Łukasz Żółć", "Świętosław Źdźbło"], "cp1250")
    assert detect_encoding(path) == "cp1250"


def test_the_command_line_says_how_it_read_the_file(tmp_path: Path) -> None:
    assert crmbook("init", "W.sqlite", cwd=tmp_path).returncode == 0
    (tmp_path / "t.csv").write_bytes(
        "Name,Email\r\nÑuñez Muñoz,a@x.org\r\nSøren Brûlé,b@x.org\r\n".encode("cp1252")
    )
    done = crmbook("import", "contacts", "t.csv", "-w", "W.sqlite", "--workers", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "read as cp1252" in done.stdout
    assert "--encoding" in done.stdout
    with crm_core.open(tmp_path / "W.sqlite") as ws:
        assert sorted(ws.contacts.search()["name"]) == ["Søren Brûlé", "Ñuñez Muñoz"]


def test_two_urdu_rows_once_read_as_mac_cyrillic(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes(
        "Name,Phone\r\nعمران بابر,0300 1000001\r\nاحمد فخر,0300 1000002\r\n".encode("cp1256")
    )
    assert detect_encoding(path) == "cp1256"
