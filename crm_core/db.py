"""Engines and migrations: an embedded SQLite file by default, PostgreSQL given a URL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Column, Connection, Engine, Table, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from crm_core.errors import WorkspaceUnreachable

MIGRATIONS = Path(__file__).with_name("migrations")
#: The ``settings`` key holding the crmbook version that last migrated the workspace:
#: what a crmbook too old for the schema names in its refusal.
WRITTEN_BY = "schema_written_by"
#: PostgreSQL advisory lock taken by every migration transaction, so that two
#: processes opening one new database migrate it once ("crmbook" in ASCII).
MIGRATION_LOCK = 0x63726D626F6F6B
#: How long a SQLite connection waits for another process's write lock.
BUSY_TIMEOUT_MS = 10_000


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
    # busy_timeout makes a second process wait for the lock instead of failing (set
    # first: switching a new file to WAL takes a lock another opener may hold).
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, tried again while another opener holds the lock.

    SQLite does not wait (busy_timeout) for the lock the switch takes: of processes
    opening one new file at once, one in a few failed at once with "database is locked"
    when the machine was busy. The switch is retried for as long as a lock is waited
    for elsewhere; once one opener has switched, the file stays in WAL."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


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


def alembic_config(engine: Engine, connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at crm_core's migrations and ``engine``;
    with ``connection``, the migrations run on it, inside its transaction."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return revision_of(conn)


def revision_of(conn: Connection) -> str | None:
    """The schema revision seen through ``conn`` (None for an empty database)."""
    return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest schema revision this version of crmbook ships."""
    return _scripts().get_current_head()


def known_revision(revision: str | None) -> bool:
    """Whether ``revision`` is one this crmbook ships (None, the empty schema, is)."""
    if revision is None:
        return True
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:  # alembic's "Can't locate revision identified by ..."
        return False


def _scripts() -> ScriptDirectory:
    return _scripts_in(str(MIGRATIONS))


@lru_cache(maxsize=4)
def _scripts_in(folder: str) -> ScriptDirectory:
    # Reading the revision files is most of the cost of opening a workspace; they do
    # not change while crmbook runs.
    return ScriptDirectory(folder)


def written_by(conn: Connection) -> str | None:
    """The crmbook version that last migrated the database (None if not recorded)."""
    if not inspect(conn).has_table("settings"):
        return None
    return conn.execute(
        text("SELECT value FROM settings WHERE key = :key"), {"key": WRITTEN_BY}
    ).scalar()


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """One connection in one transaction that only one process at a time holds:
    committed if the block succeeds, rolled back (schema and data as they were) if not.

    PostgreSQL runs DDL in transactions; the block first takes an advisory lock that
    every migration takes, so a second process waits, then finds the schema done.
    pysqlite, in its default mode, runs each CREATE or ALTER outside any transaction
    (committed at once: a kill half-way left a half-made schema). So on SQLite the
    driver's own transaction handling is switched off for this connection and the
    block runs inside ``BEGIN IMMEDIATE`` (which also waits for, and then excludes,
    other writers), the recipe SQLAlchemy documents for pysqlite. Foreign keys are off
    meanwhile (the pragma is a no-op inside a transaction, hence before BEGIN), else a
    batch migration recreating a table would fire ON DELETE CASCADE; they are checked
    before COMMIT instead.
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            yield conn
        return
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        legacy = raw.isolation_level
        clean = False
        try:
            raw.isolation_level = None  # no implicit BEGIN/COMMIT by the driver
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                # Only what the migration breaks counts: an old file may hold a dangling
                # reference of its own, which must not block every upgrade.
                before = len(conn.exec_driver_sql("PRAGMA foreign_key_check").all())
                yield conn
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if len(broken) > before:
                    table, row, parent = broken[-1][:3]
                    raise RuntimeError(
                        f"the migration broke a foreign key ({table} row {row} -> {parent}); "
                        "nothing was changed"
                    )
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()
            raw.isolation_level = legacy
            clean = True
        finally:
            if not clean:
                # Never hand the pool a connection with foreign keys off.
                conn.invalidate()


def upgrade(
    engine: Engine, revision: str = "head", *, connection: Connection | None = None
) -> None:
    """Migrate the database up to ``revision`` (creating every table on an empty one),
    all steps in one transaction (see :func:`migration_transaction`), or inside the
    transaction of ``connection`` when given. Records which crmbook did it."""
    if connection is None:
        with migration_transaction(engine) as conn:
            upgrade(engine, revision, connection=conn)
        return
    command.upgrade(alembic_config(engine, connection), revision)
    stamp_written_by(connection)


def downgrade(engine: Engine, revision: str, *, connection: Connection | None = None) -> None:
    """Migrate the database down to ``revision`` (``"base"`` drops every table), in
    one transaction as :func:`upgrade`."""
    if connection is None:
        with migration_transaction(engine) as conn:
            downgrade(engine, revision, connection=conn)
        return
    command.downgrade(alembic_config(engine, connection), revision)
    stamp_written_by(connection)


def stamp_written_by(conn: Connection) -> None:
    """Record this crmbook's version as the one that last migrated the database."""
    from crm_core import __version__

    if not inspect(conn).has_table("settings"):
        return
    conn.execute(text("DELETE FROM settings WHERE key = :key"), {"key": WRITTEN_BY})
    conn.execute(
        text("INSERT INTO settings (key, value) VALUES (:key, :value)"),
        {"key": WRITTEN_BY, "value": __version__},
    )


#: Rows SQLite's ANALYZE samples per index: bounded work on a big file.
ANALYSIS_LIMIT = 1000
#: A table this big with no statistics, or grown past STALE_GROWTH times what its
#: statistics say, is analysed when a workspace opens (see :func:`keep_statistics`).
STALE_ROWS = 1000
STALE_GROWTH = 4
#: The tables whose statistics decide the plans of the searches.
SEARCHED_TABLES = ("contacts", "companies", "opportunities", "search_terms")


def refresh_statistics(engine: Engine) -> None:
    """Let the planner know the workspace's tables as they now are: SQLite's sampled
    ``ANALYZE`` (a few ms at a million rows), PostgreSQL's ``ANALYZE`` (it samples too).
    Called after bulk writes (an import, a sync's first pull, a migration): autovacuum
    would get there on PostgreSQL, but only once the load is over and a minute has
    passed, and SQLite never analyses on its own."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ANALYZE {', '.join(SEARCHED_TABLES)}")
        return
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    # A connection reads the statistics when it opens: let the pool open new ones
    # (those in use finish their work and are then dropped, not closed under them).
    engine.dispose(close=False)


def keep_statistics(engine: Engine) -> bool:
    """On opening a SQLite workspace: refresh its statistics if a searched table has
    none yet or has grown well past them (records created one by one never trigger
    :func:`refresh_statistics`). Returns whether it did.

    The check reads ``sqlite_stat1`` and each table's largest id (an index lookup), so
    opening stays fast; the refresh itself is the sampled ANALYZE. A workspace another
    process is writing, or a read-only file, is left as it is (the next open tries
    again): opening never waits for it. PostgreSQL keeps its own (autovacuum).
    """
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as conn:
        if not _stale(conn):
            return False
        conn.exec_driver_sql("PRAGMA busy_timeout=0")
        try:
            conn.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        except OperationalError:  # locked by a writer, or a read-only file
            conn.rollback()
            return False
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    engine.dispose(close=False)
    return True


def _stale(conn: Connection) -> bool:
    """Whether a searched table of a SQLite workspace lacks statistics it needs."""
    tables = set(
        conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars()
    )
    if "sqlite_stat1" in tables:
        # The first figure of each index's row is its estimated row count.
        known: dict[str, int] = {}
        for table, stat in conn.exec_driver_sql("SELECT tbl, stat FROM sqlite_stat1"):
            rows = int(str(stat).split()[0]) if stat else 0
            known[table] = max(known.get(table, 0), rows)
    else:
        known = {}
    for table in SEARCHED_TABLES:
        if table not in tables:
            continue
        if table == "search_terms":  # WITHOUT ROWID: count a page of its primary key
            sql = f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT {STALE_ROWS})"
        else:
            sql = f"SELECT coalesce(max(id), 0) FROM {table}"
        rows = int(conn.exec_driver_sql(sql).scalar() or 0)
        if rows >= STALE_ROWS and rows > STALE_GROWTH * known.get(table, 0):
            return True
    return False


class NotIndexed(ColumnElement[Any]):
    """A column SQLite's planner may not use an index for (see :func:`not_indexed`)."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, column: ColumnElement[Any]):
        self.column = column
        self.type = column.type


def not_indexed(column: Any) -> Any:
    """``column`` in a WHERE clause that must not choose the plan: SQLite reads it as
    ``+column`` (its documented way to keep a term from using an index), the other
    databases as the column itself.

    An exact e-mail or phone search filters on ``active`` too and sorts by name; with
    no statistics SQLite takes ``active = 1`` for a rare value and walks the (active,
    name) index to spare a sort, reading every contact (650 ms at 200,000) instead of
    the one the e-mail index finds (0.2 ms).
    """
    return NotIndexed(column)


@compiles(NotIndexed)
def _not_indexed(element: NotIndexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))


@compiles(NotIndexed, "sqlite")
def _not_indexed_sqlite(element: NotIndexed, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.column, **kw))


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


def reachable(engine: Engine) -> None:
    """Connect once, so that a database server that cannot be reached is one line
    naming it (:class:`WorkspaceUnreachable`, the password hidden), not the driver's
    traceback. Not for a SQLite file: connecting would create it, and a reading
    command never creates a workspace (its absence has its own message)."""
    if engine.url.get_backend_name() == "sqlite":
        return
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        lines = str(exc.orig or exc).strip().splitlines()
        detail = lines[0].strip() if lines else type(exc.orig or exc).__name__
        where = engine.url.render_as_string(hide_password=True)
        raise WorkspaceUnreachable(where, detail) from None
