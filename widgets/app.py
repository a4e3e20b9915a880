"""The staff web app: the components behind a login, one page each.

Each browser session acts as the logged-in user (``ws.as_user(login)``), so what a
page shows and what it may change follows that user's role, enforced by crm_core.
Served by ``crmbook serve`` (and ``crmbook demo``) through :func:`serve_app`, behind
the login of :mod:`widgets.auth` and with the headers of :mod:`widgets.headers`.
"""

from __future__ import annotations

import html
import importlib
import os
from collections.abc import Callable
from typing import Any

import panel as pn

import crm_core
from crm_core import Workspace
from widgets.auth import PAGE_COOKIE, SESSION_COOKIE, XSRF_COOKIE, auth_provider
from widgets.design import without_web_fonts
from widgets.headers import SecurityHeaders

#: (title, module, component class) in the order of the navigation.
PAGES: list[tuple[str, str, str]] = [
    ("Activities", "widgets.activity_inbox", "ActivityInbox"),
    ("Contacts", "widgets.contact_book", "ContactBook"),
    ("Pipeline", "widgets.pipeline_board", "PipelineBoard"),
    ("Dashboard", "widgets.dashboard", "Dashboard"),
    ("Reports", "widgets.reports_page", "ReportsPage"),
    ("Sync", "widgets.sync_panel", "SyncPanel"),
]


def reminder_text(ws: Workspace) -> str:
    """ "Time to call" for the acting user: what is overdue and due today ('' if none)."""
    if ws.user_id is None:
        return ""
    overdue = len(ws.activities.overdue(ws.user_id))
    today = len(ws.activities.due_today(ws.user_id))
    if not overdue and not today:
        return ""
    return f"Time to call: {overdue} overdue and {today} due today in your activities."


class StaffApp:
    """The pages of one session, built on first visit and kept while it lasts."""

    def __init__(self, ws: Workspace, pages: list[tuple[str, str, str]] | None = None):
        self.ws = ws
        self.pages = [p for p in (pages or PAGES) if _available(p[1])]
        self._built: dict[str, Any] = {}
        self.main = pn.Column(sizing_mode="stretch_both")
        self.nav = {
            title: pn.widgets.Button(
                name=title,
                button_type="light",
                sizing_mode="stretch_width",
                css_classes=[f"crm-nav-{title.lower()}"],
            )
            for title, _module, _cls in self.pages
        }
        for title, button in self.nav.items():
            button.on_click(lambda _event, t=title: self.show(t))
        # The first page, the activity inbox, opens with the "time to call" reminder.
        if self.pages:
            self.show(self.pages[0][0])

    def page(self, title: str) -> Any:
        """The component of page ``title`` (built once per session)."""
        if title not in self._built:
            _title, module, cls = next(p for p in self.pages if p[0] == title)
            self._built[title] = getattr(importlib.import_module(module), cls)(self.ws)
        return self._built[title]

    def show(self, title: str) -> None:
        """Switch the main area to page ``title``."""
        for name, button in self.nav.items():
            button.button_type = "primary" if name == title else "light"
        self.main[:] = [self.page(title)]

    def template(self) -> pn.template.FastListTemplate:
        """The page layout: navigation on the left, the user and a logout link on top."""
        who = self.ws.login or "owner"
        user = pn.pane.HTML(
            f'<span class="crm-user">{html.escape(who)} ({html.escape(self.ws.role or "owner")})'
            '</span> · <a href="./logout" class="crm-logout" style="color: white">Log out</a>',
            margin=(10, 20),
        )
        return pn.template.FastListTemplate(
            title="crmbook",
            sidebar=list(self.nav.values()),
            main=[self.main],
            header=[user],
            accent="#1f6f8b",
        )


def _available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:  # an optional page whose dependencies are missing (sync)
        return False
    return True


#: What a page shows when the server closes its connection (its login ended) or stops.
DISCONNECTED = "Disconnected: your login has ended or the server stopped. Reload to log in."


def app_factory(base: Workspace) -> Callable[[], Any]:
    """The per-session app for ``pn.serve``: acts as the user of the live login session
    the page was opened with (see :mod:`widgets.auth`)."""

    def session() -> Any:
        user = base.sessions.check_hash(pn.state.cookies.get(PAGE_COOKIE))
        if user is None:  # the login guards every route; never serve anonymously
            raise PermissionError("not logged in")
        return StaffApp(base.as_user(user["id"])).template()

    return session


def serve_app(
    location: str,
    *,
    address: str = "127.0.0.1",
    port: int = 5006,
    num_procs: int = 1,
    threaded: bool = False,
    cookie_secret: str | None = None,
    origins: list[str] | None = None,
    behind_proxy: bool = False,
) -> Any:
    """Serve the staff app for the workspace at ``location``.

    ``threaded=True`` returns the running server thread (for tests; call ``.stop()``);
    otherwise this blocks until interrupted. Cookies are signed with ``cookie_secret``
    (default: ``$CRMBOOK_COOKIE_SECRET``, else the workspace's own, made on first use
    and kept in it, so restarts and every process keep their logins).
    ``behind_proxy``: trust the ``X-Forwarded-For`` and ``X-Forwarded-Proto`` headers
    of a reverse proxy (the client's address for login throttling, HTTPS for Secure
    cookies); only when every request comes through one. A workspace that is missing
    or at another schema raises :class:`crm_core.SchemaError` (naming ``crmbook
    migrate`` or ``crmbook init``): a server never creates or upgrades one.
    """
    pn.extension("tabulator", notifications=True, disconnect_notification=DISCONNECTED)
    without_web_fonts()
    base = crm_core.open(location, create=False)
    secret = (
        cookie_secret or os.environ.get("CRMBOOK_COOKIE_SECRET") or base.sessions.cookie_secret()
    )
    base.engine.dispose()  # no connection crosses a fork (--num-procs)
    return pn.serve(
        app_factory(base),
        address=address,
        port=port,
        num_procs=num_procs,
        threaded=threaded,
        show=False,
        title="crmbook",
        websocket_origin=origins or [f"{address}:{port}", f"localhost:{port}"],
        auth_provider=auth_provider(base),
        cookie_secret=secret,
        use_xheaders=behind_proxy,
        # Bokeh copies a page's cookies and headers into the page (its session token):
        # the login's own cookie must not be readable there.
        exclude_cookies=[SESSION_COOKIE, XSRF_COOKIE],
        exclude_headers=["Cookie"],
        # Passed on to tornado's Application: headers on every response.
        transforms=[SecurityHeaders],
    )
