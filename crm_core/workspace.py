"""The Workspace: the one entry point for notebooks, the staff app and the CLI."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, event, func, inspect, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from crm_core import access, db, journal
from crm_core import validation as v
from crm_core.errors import (
    ConflictError,
    FieldError,
    NotFoundError,
    ValidationError,
    WorkspaceBusy,
)
from crm_core.models import (
    Activity,
    Campaign,
    Company,
    Contact,
    Interaction,
    JournalEntry,
    Opportunity,
    Pipeline,
    Segment,
    Setting,
    StageChange,
    Tag,
    User,
    Versioned,
)

Clock = Callable[[], dt.datetime]
#: How often a transaction that finds the workspace busy when it starts tries again,
#: and how long it first waits (doubled each time); the database's own lock timeout
#: (SQLite's busy_timeout) applies to each attempt.
BUSY_RETRIES = 3
BUSY_PAUSE = 0.2

DEFAULT_SETTINGS = {
    "phone_region": "US",
    "timezone": "UTC",
    "currency": "USD",
    # How the app groups an amount's digits: as the user's language and the region do
    # (locale), western (123,456,789), indian (lakh/crore: 12,34,56,789) or auto
    # (indian for INR, PKR, BDT and NPR, the locale's own for the others).
    "amount_grouping": "locale",
    # Staff app logins: ended after 8 hours without a request or an open page, and
    # 7 days after logging in whatever happens (see crm_core.services.sessions).
    "session_idle_minutes": "480",
    "session_max_hours": "168",
    # What `crmbook serve` does in the background (crm_core.background): fetch every
    # active mailbox every so many minutes, send what the outbox holds every so many
    # seconds, and, when the server has an ERP connection, sync with it every so many
    # minutes; 0 turns a job off.
    "mail_fetch_minutes": "5",
    "mail_drain_seconds": "30",
    "sync_minutes": "15",
}


def utc_now() -> dt.datetime:
    """The real clock: aware UTC now."""
    return dt.datetime.now(dt.UTC)


class Workspace:
    """A CRM database and the services working on it.

    Open one with :func:`crm_core.open`. Services: ``contacts``, ``companies``,
    ``pipeline``, ``activities``, ``interactions``, ``segments``, ``campaigns``,
    ``custom_fields``, ``users``, ``sessions`` (staff app logins), ``journal``, ``metrics``,
    ``accounts``, ``search`` (the global search: ``ws.search.everything(query)``),
    ``reports`` (figures as DataFrames), ``export`` (Excel workbooks) and ``duplicates``
    (companies and contacts that are probably one: ``ws.duplicates.find()``)
    and ``rates`` (exchange rates: ``ws.rates.set(...)``, ``ws.rates.load()``).
    ``mail`` reads IMAP mailboxes into interactions (``ws.mail.fetch()``).
    Each call is one transaction: it either completes or leaves the database as it was.
    """

    def __init__(self, engine: Engine, *, clock: Clock = utc_now, user_id: int | None = None):
        from crm_core.duplicates import Duplicates
        from crm_core.export import Export
        from crm_core.imports import Importer
        from crm_core.mail import Mail
        from crm_core.reports import Reports
        from crm_core.services import (
            Accounts,
            Activities,
            Campaigns,
            Companies,
            Contacts,
            CustomFields,
            Interactions,
            JournalView,
            Metrics,
            PipelineService,
            Quality,
            Segments,
            Sessions,
            Users,
        )
        from crm_core.services.rates import ExchangeRates
        from crm_core.services.search import Search

        self.engine = engine
        self.clock = clock
        self.user_id = user_id
        #: The acting user's login and role once :meth:`as_user` chose one; None acts
        #: for the owner of the workspace, unrestricted (see crm_core.access).
        self.login: str | None = None
        self.role: str | None = None
        #: The user :meth:`as_user` acts as, whose current state every transaction
        #: reads (:meth:`_follow_user`); None for the owner. ``_role_follows`` is
        #: False for :meth:`_unrestricted`'s copies, which keep no role.
        self._follows: int | None = None
        self._role_follows = True
        #: How many transactions of this workspace this thread has open.
        self._open = threading.local()
        self._settings: dict[str, str] | None = None
        # No autoflush: a service validates and sets every field, then flushes once, so
        # one operation is one UPDATE and one version step, never a partial row.
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)
        journal.install(self._sessions)
        event.listen(self._sessions, "before_flush", _remember_versions)
        self.companies = Companies(self)
        self.contacts = Contacts(self)
        self.pipeline = PipelineService(self)
        self.activities = Activities(self)
        self.interactions = Interactions(self)
        self.segments = Segments(self)
        self.campaigns = Campaigns(self)
        self.custom_fields = CustomFields(self)
        self.users = Users(self)
        self.sessions = Sessions(self)
        self.journal = JournalView(self)
        self.metrics = Metrics(self)
        self.accounts = Accounts(self)
        self.quality = Quality(self)
        self.search = Search(self)
        self.reports = Reports(self)
        self.export = Export(self)
        self.duplicates = Duplicates(self)
        self.importer = Importer(self)
        self.rates = ExchangeRates(self)
        self.mail = Mail(self)

    # -- sessions ---------------------------------------------------------------
    @contextmanager
    def transaction(self, origin: str | None = None) -> Iterator[Session]:
        """A session inside one transaction, committed on success, rolled back on error.

        A concurrent edit detected by the version column becomes a
        :class:`~crm_core.errors.ConflictError` naming the record and both versions.
        A workspace another process keeps locked is waited for (the database's lock
        timeout), retried a few times when the transaction starts, and then becomes
        :class:`~crm_core.errors.WorkspaceBusy`. ``origin`` is journaled with every
        change made in it (``sync:<backend>`` for a sync's writes).
        """
        session, begun = self._begin(origin)
        depth = getattr(self._open, "depth", 0)
        self._open.depth = depth + 1
        try:
            with begun:
                self._follow_user(session)
                yield session
        except StaleDataError as exc:
            raise _conflict(self.engine, session, exc) from exc
        except OperationalError as exc:
            if not _busy(exc):
                raise
            raise WorkspaceBusy(_reason(exc)) from exc
        finally:
            self._open.depth = depth
            session.close()

    def _follow_user(self, s: Session) -> None:
        """At the start of each transaction of a workspace acting as a user: that user
        as they are now (one read by primary key). A user disabled since raises
        :class:`~crm_core.access.DisabledUser`, whatever the call; a role changed since
        applies from here on (an :meth:`_unrestricted` copy keeps none)."""
        if self._follows is None:
            return
        row = s.execute(select(User.active, User.role).where(User.id == self._follows)).first()
        if row is None or not row.active:
            raise access.DisabledUser(self.login, self.role, self.login or str(self._follows))
        if self._role_follows:
            self.role = row.role

    def _current_role(self) -> str | None:
        """The acting user's role as it is now (crm_core.access asks): inside a
        transaction, as this thread's transaction read it when it began; outside one
        (a check made before the work begins), read afresh."""
        outside = not getattr(self._open, "depth", 0)
        if self._follows is not None and self._role_follows and outside:
            with self.transaction():
                pass
        return self.role

    def _begin(self, origin: str | None) -> tuple[Session, SessionTransaction]:
        """A new session, its transaction begun on a connection, retrying while the
        workspace is busy.

        Only here can a busy database be retried safely: nothing has been read or
        written yet. (Once the caller's work runs, a lock timeout ends the transaction.)
        """
        pause = BUSY_PAUSE
        for attempt in range(BUSY_RETRIES + 1):
            session = self._sessions()
            session.info.update(clock=self.clock, user_id=self.user_id, origin=origin)
            begun = session.begin()
            try:
                session.connection()
            except OperationalError as exc:
                begun.rollback()
                session.close()
                if not _busy(exc):
                    raise
                if attempt == BUSY_RETRIES:
                    raise WorkspaceBusy(_reason(exc)) from exc
                time.sleep(pause)
                pause *= 2
                continue
            return session, begun
        raise AssertionError("unreachable")  # pragma: no cover

    def as_user(self, user: int | str) -> Workspace:
        """This workspace acting as ``user`` (id or login): changes are journaled as
        theirs, and what they may see and change follows their role (crm_core.access).
        A workspace already acting for a user other than an admin may not become
        someone else; a disabled user is acted as by no one
        (:class:`~crm_core.access.DisabledUser`, an AccessDenied). The workspace
        returned follows the user as they are now: disabled later, its next call raises
        DisabledUser; given another role, the new role's rules apply at once."""
        with self.transaction() as s:
            found = None
            if v.is_id(user):
                found = s.get(User, user)
            elif isinstance(user, str) and user.isprintable():
                # A login is a-z, 0-9 and . _ - @: an unprintable one names no one.
                found = s.scalars(select(User).where(User.login == user)).first()
            if found is None:
                raise NotFoundError("user", user)
            user_id, login, role, active = found.id, found.login, found.role, found.active
        access.check_act_as(self, user_id, login)
        access.check_active(self, login, bool(active))
        return self._acting(user_id, login, role)

    def _acting(
        self, user_id: int | None, login: str | None, role: str | None, *, follow_role: bool = True
    ) -> Workspace:
        """A copy of this workspace acting as ``user_id`` with ``role``: every
        transaction of it reads the user's current state (:meth:`_follow_user`), their
        role too unless ``follow_role`` is False."""
        clone = Workspace.__new__(Workspace)
        clone.__dict__.update(self.__dict__)
        clone.user_id, clone.login, clone.role = user_id, login, role
        clone._follows, clone._role_follows = user_id, follow_role
        clone._open = threading.local()
        # services hold a reference to their workspace: give the clone its own
        for name, service in list(self.__dict__.items()):
            if hasattr(service, "ws") and service.ws is self:
                clone.__dict__[name] = type(service)(clone)
        return clone

    def _unrestricted(self) -> Workspace:
        """This workspace unrestricted, as the scheduler runs, its changes still
        journaled as the acting user's: for a service that has already checked the
        acting user may start what it runs (a sales user's fetch of their own mailbox
        links mail to any deal, as the scheduler's fetch of it would). Never hand it
        to the user's code. It too stops when the user is disabled."""
        return self._acting(self.user_id, self.login, None, follow_role=False)

    # -- settings ---------------------------------------------------------------
    def setting(self, key: str) -> str:
        """A workspace setting (phone_region, timezone, currency: the reporting currency,
        amount_grouping, session_idle_minutes, session_max_hours, mail_fetch_minutes,
        mail_drain_seconds, sync_minutes), read once and cached."""
        if not isinstance(key, str) or key not in DEFAULT_SETTINGS:
            raise ValidationError([FieldError("settings", "key", key, "is not a setting")])
        if self._settings is None:
            with self.transaction() as s:
                stored = {row.key: row.value for row in s.scalars(select(Setting))}
            self._settings = {**DEFAULT_SETTINGS, **stored}
        return self._settings[key]

    def set_setting(self, key: str, value: str) -> None:
        """Change a workspace setting (owner or admin only); the value is validated for
        its key."""
        access.require_admin(self, "change", f"the setting {key!r}")
        value = check_setting(key, value)
        with self.transaction() as s:
            row = s.get(Setting, key)
            if row is None:
                s.add(Setting(key=key, value=value))
            else:
                row.value = value
        self._settings = None

    @property
    def phone_region(self) -> str:
        """Region used to read phone numbers written without a +country prefix."""
        return self.setting("phone_region")

    @property
    def timezone(self) -> ZoneInfo:
        """The workspace's time zone: what "today" means for due dates."""
        return ZoneInfo(self.setting("timezone"))

    def today(self) -> dt.date:
        """Today's date in the workspace time zone, by the workspace clock."""
        return self.clock().astimezone(self.timezone).date()

    # -- sync ---------------------------------------------------------------------
    def sync(self, backend: Any, **options: Any) -> Any:
        """Synchronise with an ERP and return the run's report (a table in notebooks).

        ``backend`` is an ERP connection that knows how to sync a workspace, such as
        ``erp_bridge.odoo.OdooAdapter``; crm_core itself knows no ERP. A sync reads and
        writes every record, so a sales user may not run one (crm_core.access).
        """
        access.check_unrestricted(self, "run a sync of", "the workspace with an ERP")
        return backend.sync(self, **options)

    # -- overview ---------------------------------------------------------------
    def info(self) -> dict[str, int]:
        """Row counts per entity (archived records included); a sales user's count
        what they may see of deals, their stage history, activities, interactions and
        the journal (crm_core.access)."""
        models: dict[str, type] = {
            "users": User,
            "companies": Company,
            "contacts": Contact,
            "tags": Tag,
            "pipelines": Pipeline,
            "opportunities": Opportunity,
            "stage_changes": StageChange,
            "activities": Activity,
            "interactions": Interaction,
            "campaigns": Campaign,
            "segments": Segment,
            "journal": JournalEntry,
        }
        with self.transaction() as s:
            return {
                name: int(
                    s.scalar(
                        select(func.count())
                        .select_from(model)
                        .where(*access.clauses_for(self, model))
                    )
                    or 0
                )
                for name, model in models.items()
            }

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Workspace {self.engine.url.render_as_string(hide_password=True)}>"


def check_setting(key: str, value: Any) -> str:
    """``value`` as the setting ``key`` stores it, checked for its key; a
    :class:`ValidationError` naming the setting otherwise."""
    cleaners: dict[str, Callable[[Any], Any]] = {
        "phone_region": v.region,
        "currency": v.currency,
        "amount_grouping": lambda x: v.one_of(x, ("locale", "western", "indian", "auto")),
        "timezone": _timezone,
        "session_idle_minutes": _idle_minutes,
        "session_max_hours": lambda x: str(v.integer(x, minimum=1, maximum=8_760)),
        "mail_fetch_minutes": _minutes,
        "mail_drain_seconds": lambda x: str(v.integer(x, minimum=0, maximum=86_400)),
        "sync_minutes": _minutes,
    }
    if not isinstance(key, str) or key not in cleaners:
        raise ValidationError([FieldError("settings", key, value, "is not a setting")])
    try:
        return str(cleaners[key](value))
    except v.Reject as exc:
        raise ValidationError([FieldError("settings", key, value, str(exc))]) from None


#: The longest a staff app login may stay idle, in minutes: 7 days (README, SECURITY.md).
MAX_IDLE_MINUTES = 7 * 24 * 60


def _idle_minutes(value: Any) -> str:
    """Minutes a login may stay idle: 5 to :data:`MAX_IDLE_MINUTES` (7 days)."""
    minutes = v.integer(value, minimum=5)
    if minutes > MAX_IDLE_MINUTES:
        raise v.Reject(f"must be at most {MAX_IDLE_MINUTES} (7 days)")
    return str(minutes)


def _minutes(value: Any) -> str:
    """Minutes between background runs (fetches, syncs): 0 (off), or 0.05 (3 s) to
    1440 (a day)."""
    number = v.decimal_value(value, places=2, minimum=Decimal(0), maximum=Decimal(1440))
    if number is None:
        raise v.Reject("is required (0 turns it off)", keep=False)
    if 0 < number < Decimal("0.05"):
        raise v.Reject("must be 0 (off) or at least 0.05 (3 seconds)")
    return f"{number.normalize():f}"


def _timezone(value: Any) -> str:
    try:
        if not isinstance(value, str) or not value.isprintable():
            raise ValueError(value)
        ZoneInfo(value)
    except Exception:
        raise v.Reject("is not an IANA time zone such as Asia/Karachi") from None
    return value


def _busy(exc: OperationalError) -> bool:
    """Whether ``exc`` says another writer holds the database (a lock wait that ran out,
    PostgreSQL's lock timeout or deadlock): worth trying again later."""
    message = str(exc.orig).lower()
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("55P03", "40P01") or any(
        words in message
        for words in ("database is locked", "database is busy", "database table is locked")
    )


def _reason(exc: OperationalError) -> str:
    return str(exc.orig).splitlines()[0]


# The journal's entity names are tables; a conflict names the record as people do.
_SINGULAR = {
    "companies": "company",
    "contacts": "contact",
    "opportunities": "opportunity",
    "activities": "activity",
    "interactions": "interaction",
}


def _remember_versions(session: Session, _ctx: Any, _instances: Any) -> None:
    """Before a flush: the version each changed or deleted record was read at, so that
    a conflict can say which record and which version was edited."""
    edited = session.info.setdefault("edited", {})
    for obj in chain(session.dirty, session.deleted):
        if isinstance(obj, Versioned):
            state = inspect(obj)
            if state.identity is None:
                continue
            # The name as stored (a rename in this very flush is not yet the record's).
            names = [
                source.get(key)
                for key in ("name", "subject")
                for source in (state.committed_state, state.dict)
            ]
            name = next((n for n in names if isinstance(n, str)), None)
            edited[(journal.entity_name(obj), state.identity[0])] = (
                type(obj),
                state.dict.get("version"),
                name,
            )


def _conflict(engine: Engine, session: Session, exc: StaleDataError) -> ConflictError:
    """The conflict ``exc`` reports, naming the record and the version it was edited
    at and the one it is at now (read back, since it changed under us)."""
    message = str(exc)
    table = message.split("'")[1] if "'" in message else None
    edited = session.info.get("edited", {})
    candidates = [(key, found) for key, found in edited.items() if key[0] == table]
    with Session(engine) as fresh:
        for (table_name, record_id), (model, version, name) in candidates:
            current = fresh.execute(
                select(model.version, model.__table__.c.get("name", model.id)).where(
                    model.id == record_id
                )
            ).first()
            if current is not None and current[0] == version:
                continue  # this one was not the stale record
            entity = _SINGULAR.get(table_name, table_name)
            shown = name if name is not None else (current[1] if current else None)
            label = f"{entity} #{record_id}" + (f" {shown!r}" if isinstance(shown, str) else "")
            return ConflictError(label, version, current[0] if current else None)
    return ConflictError(f"a record of {table or 'the workspace'}", None, None)


def open_workspace(
    location: str | Path,
    *,
    clock: Clock = utc_now,
    migrate: bool = False,
    create: bool = True,
    **engine_kwargs: Any,
) -> Workspace:
    """Open a workspace; see :func:`crm_core.open` (and :func:`crm_core.schema.prepare`
    for ``migrate`` and ``create``)."""
    from crm_core import schema

    engine = db.make_engine(location, **engine_kwargs)
    try:
        db.reachable(engine)
        schema.prepare(engine, clock=clock, migrate=migrate, create=create, location=location)
        # Records created one by one never refresh the planner's statistics: a file
        # that outgrew them is analysed now (sampled, and skipped if it is busy).
        db.keep_statistics(engine)
    except BaseException:
        engine.dispose()
        raise
    return Workspace(engine, clock=clock)
