"""Shared fixtures: real SQLite files and a real PostgreSQL database per test session.

``ws`` runs each test on both backends. PostgreSQL comes from ``CRMBOOK_TEST_PG``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``): a fresh database is
created for the session and dropped at the end. Without a reachable server the
PostgreSQL variants skip with the reason, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import crm_core
from crm_core import db
from crm_core.models import Base

PG_ADMIN_URL = os.environ.get(
    "CRMBOOK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
START = dt.datetime(2026, 5, 15, 9, 30, tzinfo=dt.UTC)


class FakeClock:
    """An injectable clock: returns ``now``; tests move it with :meth:`advance`."""

    def __init__(self, now: dt.datetime = START):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, seeded SQLite workspace built once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    crm_core.open(path).close()
    return path


def _pg_unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI but unreachable: {reason}")
    pytest.skip(f"PostgreSQL server not reachable ({reason}); PostgreSQL tests skipped")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    name = f"crmbook_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure to reach the server
        _pg_unavailable(str(exc).splitlines()[0])
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_pg(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL or path of an empty, migrated workspace on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "crm.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return str(path)
    url = request.getfixturevalue("pg_url")
    _reset_pg(url)
    return url


@pytest.fixture
def ws(backend: str, clock: FakeClock) -> Iterator[crm_core.Workspace]:
    """A fresh workspace (default pipeline, lost reasons) on SQLite and on PostgreSQL."""
    workspace = crm_core.open(backend, clock=clock)
    workspace.pipeline.ensure_default()
    yield workspace
    workspace.close()


@pytest.fixture
def sqlite_ws(
    tmp_path: Path, sqlite_template: Path, clock: FakeClock
) -> Iterator[crm_core.Workspace]:
    """A fresh SQLite-only workspace, for tests about the embedded default."""
    path = tmp_path / "crm.sqlite"
    shutil.copy(sqlite_template, path)
    workspace = crm_core.open(path, clock=clock)
    yield workspace
    workspace.close()
