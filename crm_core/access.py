"""Who may see and change what.

Roles: ``admin`` and ``manager`` see and change everything (a manager's team is the
whole workspace); ``sales`` sees and changes only the deals they own and the
activities assigned to them, and every company and contact. A workspace opened
without a user (a notebook, the command line) acts for the owner of the file and is
not restricted; ``ws.as_user(login)`` is how the app acts for a logged-in user.

The rules are checked here, in the services, so that no caller, whatever button it
shows or hides, can read or write past them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crm_core.errors import AccessDenied

if TYPE_CHECKING:
    from crm_core.workspace import Workspace


def own_only(ws: Workspace) -> int | None:
    """The user whose records alone ``ws`` may see, or None when it sees everything."""
    return ws.user_id if ws.role == "sales" else None


def check_deal(ws: Workspace, opp: Any, action: str) -> None:
    """Refuse ``action`` on a deal the acting user may not touch."""
    mine = own_only(ws)
    if mine is not None and opp.owner_id != mine:
        ident = f"#{opp.id} " if opp.id else ""
        raise AccessDenied(ws.login, ws.role, action, f"opportunity {ident}{opp.name!r}")


def check_activity(ws: Workspace, act: Any, action: str) -> None:
    """Refuse ``action`` on an activity not assigned to the acting (sales) user."""
    mine = own_only(ws)
    if mine is not None and act.assignee_id != mine:
        raise AccessDenied(ws.login, ws.role, action, f"activity #{act.id} {act.subject!r}")
