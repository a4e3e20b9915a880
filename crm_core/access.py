"""Who may see and change what: the own-records rule, in one place.

Roles: ``admin`` and ``manager`` see and change everything (a manager's team is the
whole workspace); ``sales`` sees and changes only the deals they own and the
activities assigned to them, and every company and contact. A workspace opened
without a user (a notebook, the command line) acts for the owner of the file and is
not restricted; ``ws.as_user(login)`` is how the app acts for a logged-in user.

What hangs off a deal follows the deal, so that nothing of another rep's deal
reaches a sales user by a side door:

- an **interaction** linked to a deal is visible only with that deal (one linked to
  a contact or company alone is everyone's, like the contact);
- an **activity** is visible to a sales user when it is assigned to them *and* is
  not linked to someone else's deal (an activity left on a deal that a manager gave
  to another rep goes with the deal; managers still see it and can reassign it);
- the **journal** is closed by default: a sales user reads the rows of a table only
  when its records are theirs to read, and then only the rows about the records they
  see. Rows about a deal, an activity or an interaction go with that record (stage
  moves of a deal are rows about the deal); rows about a mailbox with the shared
  mailboxes and their own, rows about an outbox message with the messages they
  queued, rows about an ERP invoice or sales order with the books they see (below);
  rows of the tables every role reads (:data:`SHARED_TABLES`: companies,
  contacts, users, tags, pipelines, custom field definitions, segments, campaigns)
  stay visible. Every other table's rows (proposed
  contacts, bounces, the sync's links, conflicts and matches, whatever table is
  journaled next) are left out;
- what points at a deal or an activity from elsewhere (its ERP links, its stage
  history, the row counts of ``ws.info()``) goes with it.

A sales user writes only what they may see: no deal for someone else, no activity or
interaction on someone else's deal, and an activity on their own deal is given only to
someone who may see that deal (a manager), never left where nobody on the team looks.

Every list, search, count, figure and export narrows its SQL with the clauses
below (``deal_clauses``, ``activity_clauses``, ``interaction_clauses``,
``journal_clauses``), so the database does the filtering and nothing hidden is
loaded; a list silently leaves out what the user may not see. Reading one record
by id, and every write, goes through a ``check_*`` function that raises
:class:`~crm_core.errors.AccessDenied` naming the record by id only (its name is
what is being protected).

The ERP's books (invoices, credit notes, sales orders) follow their customer: a sales
user sees those of the customers they own (the company's owner, or the contact's for
one addressed to no company: :func:`owned_customers_invoices`, :func:`invoice_clauses`,
:func:`sales_order_clauses`), in ``ws.accounts``, the customer reports, the
dashboard's revenue and the forecast alike. Products are everyone's.

Companies and contacts are everyone's to read and edit, but a sales user does not take
one that another user owns: only a manager or an admin changes the owner of a record
owned by someone else (:func:`check_owner_change`); a sales user may take an unowned
one, and hand on their own.

What spans the whole team is not a sales user's to change: running a sync and deciding
its conflicts, custom field definitions, pipelines, segments and campaigns (managers
and admins, :func:`check_unrestricted`), users, their logins and the workspace's
settings (admins, :func:`require_admin`); and a workspace acting for a user never
becomes another one (:func:`check_act_as`).

The rules are checked here and in the services, so that no caller, whatever button
it shows or hides, can read or write past them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from crm_core.errors import AccessDenied
from crm_core.models import (
    Activity,
    Company,
    Contact,
    Interaction,
    Invoice,
    JournalEntry,
    Mailbox,
    Opportunity,
    OutboxMessage,
    SalesOrder,
    StageChange,
    User,
)

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: Roles that see and change everything.
UNRESTRICTED_ROLES = ("admin", "manager")

#: The journal's names (tables) of the records the own-records rule restricts.
RESTRICTED_TABLES = ("opportunities", "activities", "interactions")

#: The journal's names (tables) of the records every role reads whole (the services
#: list them to a sales user unnarrowed), so that every journal row about them is
#: everyone's. A table neither here nor in :data:`JOURNAL_NARROWED` is left out of a
#: sales user's journal: a table journaled later stays hidden until it is named here.
SHARED_TABLES = (
    "companies",
    "contacts",
    "tags",
    "users",
    "pipelines",
    "stages",
    "lost_reasons",
    "custom_field_definitions",
    "segments",
    "campaigns",
    "campaign_members",
)

#: The journal's tables whose rows a sales user reads about some records only: the
#: restricted ones, the mailboxes (shared ones and their own), the outbox (the
#: messages they queued) and the ERP's invoices and sales orders (those of the
#: customers they own, :func:`owned_customers_invoices`).
JOURNAL_NARROWED = (
    *RESTRICTED_TABLES,
    "mailboxes",
    "mail_outbox",
    "erp_invoices",
    "erp_sales_orders",
)


def acting_role(ws: Any) -> str | None:
    """The role ``ws`` acts with, as the user's role is now: a workspace acting as a
    user reads their current role (and refuses a disabled user:
    :class:`DisabledUser`) when each transaction begins, and afresh for a check made
    before its work begins (crm_core.workspace); None for the workspace's owner."""
    current = getattr(ws, "_current_role", None)
    return current() if current is not None else ws.role


def own_only(ws: Workspace) -> int | None:
    """The user whose records alone ``ws`` may see, or None when it sees everything
    (the workspace's owner, an admin or a manager)."""
    # Closed by default: a role this module does not know sees only its own.
    role = acting_role(ws)
    if role is None or role in UNRESTRICTED_ROLES:
        return None
    return ws.user_id


# -- SQL: what a list may show ---------------------------------------------------------
def _deals_of(mine: int) -> Select[Any]:
    """Ids of the deals ``mine`` owns (a subquery: the database resolves it once)."""
    return select(Opportunity.id).where(Opportunity.owner_id == mine)


def deal_clauses(ws: Workspace, o: Any = Opportunity) -> list[ColumnElement[bool]]:
    """WHERE clauses keeping the deals (``o``: Opportunity or an alias of it) that the
    acting user may see; empty when they see every deal."""
    mine = own_only(ws)
    return [] if mine is None else [o.owner_id == mine]


def activity_clauses(ws: Workspace, a: Any = Activity) -> list[ColumnElement[bool]]:
    """WHERE clauses keeping the activities the acting user may see: for a sales user
    those assigned to them and linked to no deal or to one of their own deals."""
    mine = own_only(ws)
    if mine is None:
        return []
    return [
        a.assignee_id == mine,
        or_(a.opportunity_id.is_(None), a.opportunity_id.in_(_deals_of(mine))),
    ]


def interaction_clauses(ws: Workspace, i: Any = Interaction) -> list[ColumnElement[bool]]:
    """WHERE clauses keeping the interactions the acting user may see: for a sales user
    those linked to no deal or to one of their own (whoever logged them)."""
    mine = own_only(ws)
    if mine is None:
        return []
    return [or_(i.opportunity_id.is_(None), i.opportunity_id.in_(_deals_of(mine)))]


def owned_customers(user_ids: Any, company_id: Any, contact_id: Any) -> ColumnElement[bool]:
    """A WHERE clause keeping the rows of the books (an invoice, a sales order: their
    ``company_id`` and ``contact_id`` columns) whose customer is owned by one of
    ``user_ids`` (a user id or ids): the company when the row names one
    (``Company.owner_id``), otherwise the contact (``Contact.owner_id``); a row naming
    neither has no owner. A deal, won or lost, with someone else's customer does not
    make that customer's books theirs."""
    ids = sorted({user_ids} if isinstance(user_ids, int) else set(user_ids))
    return or_(
        and_(
            company_id.is_not(None),
            company_id.in_(select(Company.id).where(Company.owner_id.in_(ids))),
        ),
        and_(
            company_id.is_(None),
            contact_id.in_(select(Contact.id).where(Contact.owner_id.in_(ids))),
        ),
    )


def owned_customers_invoices(user_ids: Any, inv: Any = Invoice) -> ColumnElement[bool]:
    """A WHERE clause keeping the invoices (``inv``: Invoice or an alias of it) whose
    customer is owned by one of ``user_ids`` (:func:`owned_customers`): the rule of
    the customer reports (``sales_per_customer``, ``rfm``), the dashboard's revenue,
    ``revenue_forecast`` and ``ws.accounts``, so that a sales user's invoices and
    revenue are the same wherever they read them."""
    return owned_customers(user_ids, inv.company_id, inv.contact_id)


def invoice_clauses(ws: Workspace, inv: Any = Invoice) -> list[ColumnElement[bool]]:
    """WHERE clauses keeping the invoices and credit notes the acting user may see:
    for a sales user those of the customers they own (:func:`owned_customers_invoices`);
    empty when they see every one."""
    mine = own_only(ws)
    return [] if mine is None else [owned_customers_invoices(mine, inv)]


def sales_order_clauses(ws: Workspace, o: Any = SalesOrder) -> list[ColumnElement[bool]]:
    """WHERE clauses keeping the sales orders the acting user may see: for a sales user
    those of the customers they own (the rule of :func:`invoice_clauses`)."""
    mine = own_only(ws)
    return [] if mine is None else [owned_customers(mine, o.company_id, o.contact_id)]


def visible_ids(ws: Workspace, table: str) -> Select[Any] | None:
    """A subquery of the ids of ``table``'s records the acting user may see, for a
    table the rule restricts (see :data:`RESTRICTED_TABLES`); None when every record
    of ``table`` is visible. A deleted record's id is in no such subquery, so what
    is left of it (journal rows, links) is hidden too."""
    if own_only(ws) is None or table not in RESTRICTED_TABLES:
        return None
    if table == "opportunities":
        return select(Opportunity.id).where(*deal_clauses(ws))
    if table == "activities":
        return select(Activity.id).where(*activity_clauses(ws))
    return select(Interaction.id).where(*interaction_clauses(ws))


def journal_ids(ws: Workspace, table: str) -> Select[Any] | None:
    """A subquery of the ids of ``table``'s records whose journal rows the acting user
    may read, for a table of :data:`JOURNAL_NARROWED`; None when they read every row
    of the journal."""
    mine = own_only(ws)
    if mine is None:
        return None
    if table in RESTRICTED_TABLES:
        return visible_ids(ws, table)
    if table == "mailboxes":
        return select(Mailbox.id).where(or_(Mailbox.owner_id.is_(None), Mailbox.owner_id == mine))
    if table == "mail_outbox":
        return select(OutboxMessage.id).where(OutboxMessage.user_id == mine)
    if table == "erp_invoices":
        return select(Invoice.id).where(*invoice_clauses(ws))
    if table == "erp_sales_orders":
        return select(SalesOrder.id).where(*sales_order_clauses(ws))
    raise ValueError(f"{table!r} is no table the journal narrows by record")


def journal_clauses(ws: Workspace, j: Any = JournalEntry) -> list[ColumnElement[bool]]:
    """WHERE clauses keeping the journal rows the acting user may see, closed by
    default: every row of the tables every role reads (:data:`SHARED_TABLES`); rows
    about a deal, an activity, an interaction, a mailbox or an outbox message only when
    that record is visible to them (by its current owner, assignee, deal or sender);
    no row of any other table."""
    if own_only(ws) is None:
        return []
    about_visible = []
    for table in JOURNAL_NARROWED:
        ids = journal_ids(ws, table)
        assert ids is not None
        about_visible.append(and_(j.entity == table, j.record_id.in_(ids)))
    return [or_(j.entity.in_(SHARED_TABLES), *about_visible)]


def clauses_for(ws: Workspace, model: Any) -> list[ColumnElement[bool]]:
    """WHERE clauses keeping the rows of ``model`` (any table) that the acting user may
    see: the rule's clauses for deals, their stage history, activities, interactions
    and the journal; none for the tables everyone sees."""
    if model is StageChange:
        ids = visible_ids(ws, "opportunities")
        return [] if ids is None else [StageChange.opportunity_id.in_(ids)]
    by_model: dict[Any, Any] = {
        Invoice: invoice_clauses,
        SalesOrder: sales_order_clauses,
        Opportunity: deal_clauses,
        Activity: activity_clauses,
        Interaction: interaction_clauses,
        JournalEntry: journal_clauses,
    }
    clauses = by_model.get(model)
    return [] if clauses is None else list(clauses(ws))


def link_clauses(ws: Workspace, entity: Any, local_id: Any) -> list[ColumnElement[bool]]:
    """WHERE clauses keeping rows that point at a record by ``entity`` (a column of
    singular names such as ``"opportunity"``, as the ERP links store them) and
    ``local_id``, when the acting user may see that record."""
    if own_only(ws) is None:
        return []
    singular = {"opportunities": "opportunity", "activities": "activity"}
    about_visible = []
    for table, name in singular.items():
        ids = visible_ids(ws, table)
        assert ids is not None
        about_visible.append(and_(entity == name, local_id.in_(ids)))
    return [or_(entity.not_in(tuple(singular.values())), *about_visible)]


# -- one record: refuse what may not be seen or changed --------------------------------
def _refuse(ws: Workspace, action: str, entity: str, ident: Any, name: Any = None) -> NoReturn:
    # A record is named by id only: its name (a deal's, an activity's subject) is
    # part of what the user may not see. A new record has no id yet: it is named as
    # the caller wrote it.
    shown = f"#{ident}" if ident is not None else f"(new) {name!r}"
    raise AccessDenied(ws.login, ws.role, action, f"{entity} {shown}")


def _deal_owner(s: Session, opportunity_id: int) -> int | None:
    return s.scalar(select(Opportunity.owner_id).where(Opportunity.id == opportunity_id))


def check_deal(ws: Workspace, opp: Any, action: str) -> None:
    """Refuse ``action`` on a deal the acting user may not see or change."""
    mine = own_only(ws)
    if mine is not None and opp.owner_id != mine:
        _refuse(ws, action, "opportunity", opp.id, getattr(opp, "name", None))


def check_deal_link(ws: Workspace, s: Session, opportunity_id: Any, action: str) -> None:
    """Refuse linking a record (an activity, an interaction) to a deal the acting user
    may not see: ``action`` says what the link was for."""
    mine = own_only(ws)
    if mine is None or opportunity_id is None:
        return
    if _deal_owner(s, opportunity_id) != mine:
        _refuse(ws, action, "opportunity", opportunity_id)


def activity_visible(ws: Workspace, s: Session, act: Any) -> bool:
    """Whether the acting user may see ``act`` (the Python twin of
    :func:`activity_clauses`, for one record already loaded)."""
    mine = own_only(ws)
    if mine is None:
        return True
    if act.assignee_id != mine:
        return False
    return act.opportunity_id is None or _deal_owner(s, act.opportunity_id) == mine


def check_activity(ws: Workspace, s: Session, act: Any, action: str) -> None:
    """Refuse ``action`` on an activity the acting (sales) user may not see: one not
    assigned to them, or linked to someone else's deal."""
    if not activity_visible(ws, s, act):
        _refuse(ws, action, "activity", act.id)


def check_activity_written(ws: Workspace, s: Session, act: Any) -> None:
    """After a sales user scheduled or changed ``act``: refuse a link to a deal that is
    not theirs, and giving it (a hand-off to a colleague is allowed) to a sales user
    who could not see the deal it is linked to (it would vanish from every list)."""
    mine = own_only(ws)
    if mine is None:
        return
    check_deal_link(ws, s, act.opportunity_id, "link an activity to")
    if act.opportunity_id is None or act.assignee_id in (None, mine):
        return
    role, login = s.execute(select(User.role, User.login).where(User.id == act.assignee_id)).one()
    if role not in UNRESTRICTED_ROLES:
        ident = f"#{act.id}" if act.id is not None else f"(new) {act.subject!r}"
        record = (
            f"activity {ident} on opportunity #{act.opportunity_id} to {login!r}, who may not"
            " see that deal (give it to a manager, or have the deal reassigned)"
        )
        raise AccessDenied(ws.login, ws.role, "give", record)


#: Why :func:`check_interaction_written` refuses another user's name.
OWN_NAME_ONLY = "a sales user logs interactions in their own name only"


def check_interaction_written(ws: Workspace, s: Session, obj: Any) -> None:
    """Before a sales user's interaction ``obj`` is written: refuse a link to a deal
    that is not theirs, and logging it in another user's name (``user``/``user_id``:
    their calls would count in that user's timeline and figures). A sales user logs as
    themself; managers, admins and the workspace itself log for anyone (as the mail
    does for a mailbox's owner)."""
    mine = own_only(ws)
    if mine is None:
        return
    check_deal_link(ws, s, obj.opportunity_id, "log an interaction on")
    if obj.user_id is None or obj.user_id == mine:
        return
    login = s.scalar(select(User.login).where(User.id == obj.user_id))
    raise Refusal(ws.login, ws.role, "log an interaction as", f"user {login!r}", OWN_NAME_ONLY)


class Refusal(AccessDenied):
    """An :class:`AccessDenied` whose message names the rule that refused (``rule``),
    rather than the own-records rule every other refusal names."""

    def __init__(self, login: str | None, role: str | None, action: str, record: str, rule: str):
        super().__init__(login, role, action, record)
        self.rule = rule
        self.args = (f"user {login!r} ({role}) may not {action} {record}: {rule}",)


#: Why :func:`check_unrestricted` refuses.
MANAGERS_ONLY = "only a manager or an admin may (it is the whole team's)"


def check_unrestricted(ws: Workspace, action: str, what: str) -> None:
    """Refuse ``action`` to a user whose role does not see every record: what spans the
    whole team (a sync reads and writes every deal; a segment or a campaign is the
    team's) is for managers and admins."""
    if own_only(ws) is not None:
        raise Refusal(ws.login, ws.role, action, what, MANAGERS_ONLY)


def check_owner_change(ws: Workspace, record: str, owner_id: Any, new_owner_id: Any) -> None:
    """Refuse a sales user changing the owner of a company or contact (``record``, as
    errors name it) that another user owns: ``owner_id`` is its owner now, and
    ``new_owner_id`` the one asked for. Taking an unowned record, handing on one's own
    and giving a record the owner it has are allowed; only a manager or an admin
    reassigns another user's record (e-mail to a contact, for one, follows its owner:
    :mod:`crm_core.mail.outgoing`)."""
    mine = own_only(ws)
    if mine is None or new_owner_id == owner_id or owner_id in (None, mine):
        return
    raise Refusal(
        ws.login,
        ws.role,
        "change the field 'owner' of",
        record,
        "another user owns it; only a manager or an admin reassigns it",
    )


class NotAnAdmin(AccessDenied):
    """Only an admin (or the workspace's owner) manages users, their logins and the
    workspace's settings."""

    def __init__(self, login: str | None, role: str | None, action: str, record: str):
        super().__init__(login, role, action, record)
        self.args = (f"user {login!r} ({role}) may not {action} {record}: only an admin may",)


def require_admin(ws: Any, action: str, record: str, *, own_id: int | None = None) -> None:
    """Refuse ``action`` unless acting as the owner or an admin; a user may act on
    their own login (``own_id``: the user acted on)."""
    role = acting_role(ws)
    if role is None or role == "admin":
        return
    if own_id is not None and own_id == ws.user_id:
        return
    raise NotAnAdmin(ws.login, ws.role, action, record)


def check_act_as(ws: Workspace, user_id: int, login: str) -> None:
    """Refuse a workspace acting for a user becoming another user (``ws.as_user``),
    unless it acts for an admin: a sales user's workspace never turns into a manager's."""
    role = acting_role(ws)
    if role is None or role == "admin" or user_id == ws.user_id:
        return
    raise Refusal(
        ws.login,
        ws.role,
        "become",
        f"user {login!r} (as_user)",
        "a workspace acting for a user other than an admin stays that user's",
    )


class DisabledUser(AccessDenied):
    """``ws.as_user`` names a user whose login is disabled (``ws.users.disable``): a
    revoked user is acted as by no one, in the app, a notebook or a job, until an admin
    enables them again."""

    def __init__(self, login: str | None, role: str | None, user: str):
        super().__init__(login, role, "act as", f"user {user!r}")
        self.args = (f"user {user!r} is disabled: no workspace may act as a disabled login",)


def check_active(ws: Workspace, login: str, active: bool) -> None:
    """Refuse acting as ``login`` (``ws.as_user``) when that user is disabled."""
    if not active:
        raise DisabledUser(ws.login, ws.role, login)
