"""Engines and migrations: an embedded SQLite file by default, PostgreSQL given a URL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, Table, create_engine, event

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
    columns, params = _bound(conn, table, rows)
    conn.exec_driver_sql(_insert_sql(conn, table, columns, 1), params)


def insert_returning(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *names: str
) -> list[Sequence[Any]]:
    """INSERT ``rows`` into ``table``; returns the columns ``names`` of each new row,
    in no set order (neither SQLite nor PostgreSQL promises VALUES order).

    The rows are bound as in :func:`insert_many` and sent straight to the driver as
    multi-row ``VALUES ... RETURNING`` statements: what SQLAlchemy's "insertmanyvalues"
    sends, without compiling a statement per batch.
    """
    if not rows:
        return []
    columns, params = _bound(conn, table, rows)
    quote = conn.dialect.identifier_preparer
    returning = " RETURNING " + ", ".join(quote.quote(table.c[name].name) for name in names)
    # SQLite takes 32766 bound values per statement (since 3.32), PostgreSQL 65535.
    per = max(1, 30000 // len(columns))
    out: list[Sequence[Any]] = []
    for start in range(0, len(params), per):
        chunk = params[start : start + per]
        sql = _insert_sql(conn, table, columns, len(chunk)) + returning
        flat = tuple(value for values in chunk for value in values)
        out += conn.exec_driver_sql(sql, flat).all()
    return out


def _insert_sql(conn: Connection, table: Table, columns: Sequence[Column[Any]], rows: int) -> str:
    """``INSERT INTO table (columns) VALUES (...)``, with ``rows`` groups of markers."""
    dialect = conn.dialect
    quote = dialect.identifier_preparer
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    group = f"({', '.join([mark] * len(columns))})"
    return (
        f"INSERT INTO {quote.format_table(table)} "
        f"({', '.join(quote.quote(c.name) for c in columns)}) "
        f"VALUES {', '.join([group] * rows)}"
    )


def _bound(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> tuple[list[Column[Any]], list[tuple[Any, ...]]]:
    """The columns an INSERT of ``rows`` names and each row's values, bound for the
    driver by the columns' types (see :func:`insert_many`)."""
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
    extra = [
        p(v) if p is not None else v
        for p, v in zip(processors[len(keys) :], fixed.values(), strict=True)
    ]
    pick = itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
    # Column by column: each column's values, through its processor, then the rows.
    values: list[Sequence[Any]] = list(zip(*map(pick, rows), strict=True))
    for i, process in enumerate(processors[: len(keys)]):
        if process is not None:
            values[i] = _each(process, values[i])
    constant = (repeat(value, len(rows)) for value in extra)
    return columns, list(zip(*values, *constant, strict=True))


def _each(process: Any, values: Sequence[Any]) -> list[Any]:
    """``process`` applied to each of ``values``. A batch's stamp (its ``now``) is one
    object in every row: a value that is the very same object as the one before it
    reuses that one's result. (Holding the previous value keeps its id unique.)"""
    out = []
    last: Any = _NOTHING
    done = None
    for value in values:
        if value is not last:
            last = value
            done = process(value)
        out.append(done)
    return out


_NOTHING = object()
