"""The Workspace: the one entry point for notebooks, the staff app and the CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from crm_core import db, journal
from crm_core import validation as v
from crm_core.errors import ConflictError, FieldError, NotFoundError, ValidationError
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
)

Clock = Callable[[], dt.datetime]

DEFAULT_SETTINGS = {"phone_region": "US", "timezone": "UTC", "currency": "USD"}


def utc_now() -> dt.datetime:
    """The real clock: aware UTC now."""
    return dt.datetime.now(dt.UTC)


class Workspace:
    """A CRM database and the services working on it.

    Open one with :func:`crm_core.open`. Services: ``contacts``, ``companies``,
    ``pipeline``, ``activities``, ``interactions``, ``segments``, ``campaigns``,
    ``custom_fields``, ``users``, ``journal``, ``metrics``, ``accounts``, ``reports``
    (figures as DataFrames) and ``export`` (Excel workbooks). Each call is one transaction: it
    either completes or leaves the database as it was.
    """

    def __init__(self, engine: Engine, *, clock: Clock = utc_now, user_id: int | None = None):
        from crm_core.export import Export
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
            Segments,
            Users,
        )

        self.engine = engine
        self.clock = clock
        self.user_id = user_id
        #: The acting user's login and role once :meth:`as_user` chose one; None acts
        #: for the owner of the workspace, unrestricted (see crm_core.access).
        self.login: str | None = None
        self.role: str | None = None
        self._settings: dict[str, str] | None = None
        # No autoflush: a service validates and sets every field, then flushes once, so
        # one operation is one UPDATE and one version step, never a partial row.
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)
        journal.install(self._sessions)
        self.companies = Companies(self)
        self.contacts = Contacts(self)
        self.pipeline = PipelineService(self)
        self.activities = Activities(self)
        self.interactions = Interactions(self)
        self.segments = Segments(self)
        self.campaigns = Campaigns(self)
        self.custom_fields = CustomFields(self)
        self.users = Users(self)
        self.journal = JournalView(self)
        self.metrics = Metrics(self)
        self.accounts = Accounts(self)
        self.reports = Reports(self)
        self.export = Export(self)

    # -- sessions ---------------------------------------------------------------
    @contextmanager
    def transaction(self, origin: str | None = None) -> Iterator[Session]:
        """A session inside one transaction, committed on success, rolled back on error.

        A concurrent edit detected by the version column becomes a
        :class:`~crm_core.errors.ConflictError`. ``origin`` is journaled with every
        change made in it (``sync:<backend>`` for a sync's writes).
        """
        session = self._sessions()
        session.info.update(clock=self.clock, user_id=self.user_id, origin=origin)
        try:
            with session.begin():
                yield session
        except StaleDataError as exc:
            raise ConflictError(_stale_record(exc), None, None) from exc
        finally:
            session.close()

    def as_user(self, user: int | str) -> Workspace:
        """This workspace acting as ``user`` (id or login): changes are journaled as
        theirs, and what they may see and change follows their role (crm_core.access)."""
        with self.transaction() as s:
            if isinstance(user, int):
                found = s.get(User, user)
            else:
                found = s.scalars(select(User).where(User.login == user)).first()
            if found is None:
                raise NotFoundError("user", user)
            user_id, login, role = found.id, found.login, found.role
        clone = Workspace.__new__(Workspace)
        clone.__dict__.update(self.__dict__)
        clone.user_id, clone.login, clone.role = user_id, login, role
        # services hold a reference to their workspace: give the clone its own
        for name, service in list(self.__dict__.items()):
            if hasattr(service, "ws") and service.ws is self:
                clone.__dict__[name] = type(service)(clone)
        return clone

    # -- settings ---------------------------------------------------------------
    def setting(self, key: str) -> str:
        """A workspace setting (phone_region, timezone, currency), read once and cached."""
        if self._settings is None:
            with self.transaction() as s:
                stored = {row.key: row.value for row in s.scalars(select(Setting))}
            self._settings = {**DEFAULT_SETTINGS, **stored}
        return self._settings[key]

    def set_setting(self, key: str, value: str) -> None:
        """Change a workspace setting; the value is validated for its key."""
        cleaners: dict[str, Callable[[Any], Any]] = {
            "phone_region": v.region,
            "currency": v.currency,
            "timezone": _timezone,
        }
        if key not in cleaners:
            raise ValidationError([FieldError("settings", key, value, "is not a setting")])
        try:
            value = cleaners[key](value)
        except v.Reject as exc:
            raise ValidationError([FieldError("settings", key, value, str(exc))]) from None
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
        ``erp_bridge.odoo.OdooAdapter``; crm_core itself knows no ERP.
        """
        return backend.sync(self, **options)

    # -- overview ---------------------------------------------------------------
    def info(self) -> dict[str, int]:
        """Row counts per entity (archived records included)."""
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
                name: int(s.scalar(select(func.count()).select_from(model)) or 0)
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


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except Exception:
        raise v.Reject("is not an IANA time zone such as Asia/Karachi") from None
    return str(value)


def _stale_record(exc: StaleDataError) -> str:
    # SQLAlchemy's message names the table; keep it for the user.
    return str(exc).split("'")[1] if "'" in str(exc) else "a record"


def open_workspace(
    location: str | Path, *, clock: Clock = utc_now, migrate: bool = True, **engine_kwargs: Any
) -> Workspace:
    """Open a workspace; see :func:`crm_core.open`."""
    engine = db.make_engine(location, **engine_kwargs)
    if migrate:
        fresh = db.current_revision(engine) is None
        if db.current_revision(engine) != db.head_revision():
            db.upgrade(engine)
        ws = Workspace(engine, clock=clock)
        if fresh:
            ws.pipeline.ensure_default()
        return ws
    return Workspace(engine, clock=clock)
