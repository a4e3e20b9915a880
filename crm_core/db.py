"""Engines and migrations: an embedded SQLite file by default, PostgreSQL given a URL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, create_engine, event

MIGRATIONS = Path(__file__).with_name("migrations")


def database_url(path_or_url: str | Path) -> str:
    """Turn a workspace location into a SQLAlchemy URL.

    A plain path is a SQLite file; a string containing ``://`` is used as a URL
    (``postgresql+psycopg://user@host/db``, ``sqlite:///file``).
    """
    text = str(path_or_url)
    if "://" in text:
        if text.startswith(("postgresql://", "postgres://")):
            # The psycopg 3 driver is the one crmbook installs.
            text = "postgresql+psycopg://" + text.split("://", 1)[1]
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets readers work during a write;
    # busy_timeout makes a second process wait for the lock instead of failing.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(path_or_url: str | Path, **kwargs: Any) -> Engine:
    """Create the engine for a workspace location (see :func:`database_url`)."""
    url = database_url(path_or_url)
    if url.startswith("postgresql") or url.startswith("postgres"):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "PostgreSQL workspaces need the psycopg driver: pip install 'crmbook[postgres]'"
            ) from exc
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration pointing at crm_core's migrations and ``engine``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest schema revision this version of crmbook ships."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (creating every table on an empty one)."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` (``"base"`` drops every table)."""
    command.downgrade(alembic_config(engine), revision)


def insert_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` into ``table`` with one DBAPI ``executemany``.

    Each value goes through its column type's bind processor (time zones, JSON, ...)
    exactly as in ``conn.execute(insert(table), rows)``, but the processors are looked
    up once per column instead of SQLAlchemy building a parameter dict per row, which
    is most of the cost of a bulk write. Every row has the keys of the first; columns
    left out take their scalar Python default (a callable default is refused).
    """
    if not rows:
        return
    dialect = conn.dialect
    keys = list(rows[0])
    fixed: dict[str, Any] = {}
    for column in table.columns:
        if column.name in keys or column.server_default is not None or column.primary_key:
            continue
        default = column.default
        if default is None:
            continue
        if not getattr(default, "is_scalar", False):
            raise ValueError(f"{table.name}.{column.name}: give it, its default is computed")
        fixed[column.name] = default.arg  # type: ignore[attr-defined]
    names = keys + list(fixed)
    columns = [table.c[name] for name in names]
    processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    quote = dialect.identifier_preparer
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {quote.format_table(table)} "
        f"({', '.join(quote.quote(c.name) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    plan = [(i, p) for i, p in enumerate(processors[: len(keys)]) if p is not None]
    extra = tuple(
        p(v) if p is not None else v
        for p, v in zip(processors[len(keys) :], fixed.values(), strict=True)
    )
    pick = itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
    params = []
    for row in rows:
        values = list(pick(row))
        for i, process in plan:
            values[i] = process(values[i])
        params.append((*values, *extra))
    conn.exec_driver_sql(sql, params)
