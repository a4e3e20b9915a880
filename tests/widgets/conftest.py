"""Shared fixtures of the widgets tests: a small staff base and the app served on it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import crm_core
from tests.crm_core.mail.conftest import crm, dovecot  # noqa: F401 (the mail fixtures)
from tests.widgets.browser import PASSWORD, browser  # noqa: F401
from tests.widgets.serving import crmbook_serve

XSS = "<img src=x onerror=alert(1)>"


def build_staff_base(path: Path) -> dict[str, Any]:
    """A small base in several scripts: two sales users with their own deals and
    activities, a manager, an admin, and a contact whose name is an HTML injection."""
    today = dt.date.today()
    with crm_core.open(path) as ws:
        ws.set_setting("phone_region", "PK")
        ws.pipeline.ensure_default()
        for name, login, role in (
            ("Demo Admin", "demo", "admin"),
            ("عائشہ صدیقی", "ayesha", "manager"),
            ("بلال احمد", "bilal", "sales"),
            ("Ольга Смирнова", "olga", "sales"),
        ):
            ws.users.add(name, login, role=role, password=PASSWORD)
        indus = ws.companies.create(name="Indus Textiles", city="Karachi", country="PK")
        kazan = ws.companies.create(name="Казань Текстиль", city="Казань", country="RU")
        imran = ws.contacts.create(
            name="عمران خان", email="imran@indus.example.com", company=indus["id"], city="Karachi"
        )
        karim = ws.contacts.create(name="করিম রহমান", email="karim@dhaka.example.com")
        ws.contacts.create(name=XSS, email="xss@example.com")
        bilal, olga = ws.as_user("bilal"), ws.as_user("olga")
        mine = bilal.pipeline.create(
            "Uniforms 2027", company=indus["id"], expected_revenue="1500000.00", currency="PKR"
        )
        theirs = olga.pipeline.create(
            "Towels for Kazan", company=kazan["id"], expected_revenue="900000.00", currency="PKR"
        )
        call = bilal.activities.schedule(
            "call", "Call Imran about sizes", today - dt.timedelta(days=2), contact=imran["id"]
        )
        bilal.activities.schedule("email", "Send the catalogue", today, opportunity=mine["id"])
        olga.activities.schedule("meeting", "Visit Kazan", today, opportunity=theirs["id"])
    return {
        "imran": imran,
        "karim": karim,
        "mine": mine,
        "theirs": theirs,
        "call": call,
        "indus": indus,
    }


@pytest.fixture
def staff_base(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "staff.sqlite"
    return path, build_staff_base(path)


@pytest.fixture
def served(staff_base: tuple[Path, dict[str, Any]]) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """The staff app served by the real ``crmbook serve`` on a free port: (url, workspace
    path, records). A process of its own: Panel's per-process state (documents, shared
    stylesheets, threads) stays out of the other tests."""
    path, records = staff_base
    log = path.parent / "serve.log"  # read by a failing test
    with crmbook_serve(path, log) as (url, _process):
        yield url, path, records
