"""The staff web app: the components behind a login, one page each.

Each browser session acts as the logged-in user (``ws.as_user(login)``), so what a
page shows and what it may change follows that user's role, enforced by crm_core.
Served by ``crmbook serve`` (and ``crmbook demo``) through :func:`serve_app`, behind
the login of :mod:`widgets.auth` and with the headers of :mod:`widgets.headers`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import importlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import panel as pn
import param
from bokeh.util.warnings import BokehUserWarning
from panel.reactive import ReactiveHTML

import crm_core
from crm_core import Workspace
from crm_core.services.search import MAX_QUERY
from widgets import i18n, memory, session_pool
from widgets.address import Address
from widgets.auth import (
    PAGE_COOKIE,
    SESSION_COOKIE,
    XSRF_COOKIE,
    XSRF_HEADER,
    auth_provider,
    signing_key,
)
from widgets.base import md_text
from widgets.design import dress, without_mathjax, without_web_fonts
from widgets.global_search import HEADER_INPUT_STYLE, GlobalSearch
from widgets.headers import SecurityHeaders
from widgets.i18n import N_, _
from widgets.import_model import UPLOAD_MESSAGE_BYTES
from widgets.record_page import RecordPage
from widgets.routes import RECORD_PATHS, Route, page_path, parse
from widgets.server_health import HEALTH_URL, HealthHandler, ServerHealth
from widgets.session_pool import DEFAULT_THREADS
from widgets.unsubscribe import UNSUBSCRIBE_URL, UnsubscribeHandler

#: The staff app's own styles (narrow screens, dark mode, the header's parts).
APP_CSS = (Path(__file__).parent / "static" / "app.css").read_text(encoding="utf-8")

#: (title, module, component class) in the order of the navigation.
PAGES: list[tuple[str, str, str]] = [
    (N_("Activities"), "widgets.activity_inbox", "ActivityInbox"),
    (N_("Contacts"), "widgets.contact_book", "ContactBook"),
    (N_("Pipeline"), "widgets.pipeline_board", "PipelineBoard"),
    (N_("Dashboard"), "widgets.dashboard", "Dashboard"),
    (N_("Reports"), "widgets.reports_page", "ReportsPage"),
    (N_("Mail"), "widgets.mail_page", "MailPage"),
    (N_("Sync"), "widgets.sync_panel", "SyncPanel"),
    (N_("Data quality"), "widgets.data_quality", "DataQuality"),
]
#: Pages only for those who see every record (managers, admins): page title -> the
#: check, the same one the page's model refuses by (crm_core refuses the work too).
RESTRICTED_PAGES: dict[str, str] = {"Data quality": "widgets.data_quality:may_use"}
#: A page's filters kept in its address: page title -> {address key: view-model parameter}.
URL_PARAMS: dict[str, dict[str, str]] = {
    "Contacts": {
        "kind": "entity",
        "q": "query",
        "city": "city",
        "country": "country",
        "tag": "tag",
        "order": "order_by",
        "desc": "descending",
        "archived": "include_archived",
    },
    "Pipeline": {"owner": "owner", "tag": "tag", "month": "close_month", "view": "view"},
    "Activities": {"of": "user"},
    "Dashboard": {"from": "period_from", "to": "period_to"},
}
#: The header's "Log out": a button posting the page's XSRF token (see
#: :mod:`widgets.auth`), drawn as the link it replaces.
LOGOUT_CSS = (
    ".crm-logout-form { display: inline; margin: 0; }"
    " .crm-logout-form button { background: none; border: none; color: #fff; cursor: pointer;"
    " font: inherit; padding: 0; text-decoration: underline; }"
)
#: How long (s) a session outlives its page (Bokeh's default: 15 s, checked every 17 s).
SESSION_LINGER_S = 15.0
#: How long a filter must stay unchanged before it goes into the address (ms): typing a
#: name leaves one history entry, not one per letter.
URL_DELAY_MS = 700


def role_word(role: str | None) -> str:
    """A user's role (crm_core's ``sales``, ``manager``, ``admin``; None: the
    workspace's owner) in the session's language, as the header shows it."""
    words = {
        "sales": i18n.pgettext("role", "sales"),
        "manager": i18n.pgettext("role", "manager"),
        "admin": i18n.pgettext("role", "admin"),
        "owner": i18n.pgettext("role", "owner"),
    }
    name = role or "owner"
    return words.get(name, name)


def reminder_text(ws: Workspace) -> str:
    """ "Time to call" for the acting user: what is overdue and due today ('' if none)."""
    if ws.user_id is None:
        return ""
    overdue = len(ws.activities.overdue(ws.user_id))
    today = len(ws.activities.due_today(ws.user_id))
    if not overdue and not today:
        return ""
    return _("Time to call: {overdue} overdue and {today} due today in your activities.").format(
        overdue=i18n.format_number(overdue), today=i18n.format_number(today)
    )


def badge_html(ws: Workspace) -> str:
    """The header's reminder: the acting user's overdue activities as a badge linking
    to the inbox ('' when nothing is overdue)."""
    if ws.user_id is None:
        return ""
    overdue = len(ws.activities.overdue(ws.user_id))
    if not overdue:
        return ""
    text = i18n.ngettext("{n} overdue", "{n} overdue", overdue).format(
        n=i18n.format_number(overdue)
    )
    return (
        '<a href="#/activities" class="crm-overdue-badge" title="'
        + html.escape(_("Overdue activities"))
        + '">'
        + html.escape(text)
        + "</a>"
    )


def _from_text(parameter: param.Parameter, text: str) -> tuple[bool, Any]:
    """An address's text as the value of ``parameter``: (True, value), or (False, None)
    when it is not a value the parameter takes."""
    if text == NOTHING:
        return True, None if parameter.allow_None else ""
    if isinstance(parameter, param.Boolean):
        return text in ("1", "0", "true", "false"), text in ("1", "true")
    if isinstance(parameter, (param.Date, param.CalendarDate)):
        try:
            return True, dt.date.fromisoformat(text)
        except ValueError:
            return False, None
    if isinstance(parameter, param.Integer):
        return (True, int(text)) if text.isdigit() else (False, None)
    if isinstance(parameter, param.Selector):
        objects = parameter.objects
        values = list(objects.values()) if isinstance(objects, dict) else list(objects or [])
        found = [v for v in values if str(v) == text]
        return (True, found[0]) if found else (False, None)
    return True, text


#: How an address writes "nothing" (no date, everyone's inbox) where the page's own
#: default is something.
NOTHING = "-"


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None or value == "":
        return NOTHING
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class PageLanguage(ReactiveHTML):
    """Sets the page's ``<html lang>`` to the session's language (an invisible
    element): Panel's page template writes ``lang="en"`` whatever the language, and
    screen readers and fonts go by it."""

    lang = param.String(default=i18n.DEFAULT, doc="The session's language code.")

    _template = '<div id="pagelang" style="display: none"></div>'
    _scripts: ClassVar[dict[str, Any]] = {
        "render": "document.documentElement.lang = data.lang",
        "lang": "document.documentElement.lang = data.lang",
    }

    def __init__(self, **params: Any):
        super().__init__(width=0, height=0, margin=0, **params)


def logout_html(token: str | None) -> str:
    """The header's "Log out": a form posting ``token`` (the page's XSRF token) to
    ``./logout``; without a token, a link to the page that asks to confirm."""
    label = html.escape(_("Log out"))
    if not token:
        return f'<a href="./logout" class="crm-logout">{label}</a>'
    return (
        '<form method="post" action="./logout" class="crm-logout-form">'
        f'<input type="hidden" name="_xsrf" value="{html.escape(token)}">'
        f'<button type="submit" class="crm-logout">{label}</button></form>'
    )


def limit_search(search: Any, limit: int = MAX_QUERY) -> None:
    """Let the header's search box take no more than crm_core searches (``limit``
    characters), so a long paste is cut at the box, not refused after."""
    for box in pn.panel(search).select(pn.widgets.TextInput):
        box.max_length = limit


class StaffApp:
    """The pages of one session, built on first visit and kept while it lasts.

    Every page and record has an address (:mod:`widgets.routes`): the navigation, the
    links in lists and the header search change the address, and the address (typed,
    bookmarked, reloaded, or changed by Back) chooses what is shown."""

    def __init__(self, ws: Workspace, pages: list[tuple[str, str, str]] | None = None):
        self.ws = ws
        self.pages = [p for p in (pages or PAGES) if _available(p[1]) and _allowed(p[0], ws)]
        self._built: dict[str, Any] = {}
        self._record: RecordPage | None = None
        self._defaults: dict[str, dict[str, Any]] = {}
        self._views: dict[str, Any] = {}
        self._pending_url: Any = None
        self.current: str | None = None
        #: A place per page, filled on its first visit: the main area's own children
        #: never change, so showing a page changes only which place is visible.
        self._places = {
            key: pn.Column(sizing_mode="stretch_both", visible=False, margin=0)
            for key in [*(t for t, _m, _c in self.pages), "record"]
        }
        #: Why the address's page is not shown (a page of another role), until the next.
        self.notice = pn.pane.Alert(
            "", alert_type="warning", visible=False, css_classes=["crm-app-notice"]
        )
        self.main = pn.Column(
            *self._places.values(), sizing_mode="stretch_both", css_classes=["crm-main"]
        )
        self.nav = {
            title: pn.widgets.Button(
                label=_(title),
                button_type="light",
                sizing_mode="stretch_width",
                css_classes=[f"crm-nav-{page_path(title)}"],
            )
            for title, _module, _cls in self.pages
        }
        for title, button in self.nav.items():
            button.on_click(lambda _event, t=title: self.navigate(Route(page_path(t))))
        self.search = GlobalSearch(ws)
        limit_search(self.search)
        self.badge = pn.pane.HTML(
            "", css_classes=["crm-badge"], margin=(10, 10), stylesheets=[APP_CSS]
        )
        #: The fragment of the page shown ('' before the first).
        self.shown = ""
        self.address = Address()
        # Both run once the session has loaded (pn.state.onload): the browser reports
        # its address as soon as it has drawn the page, which can reach the server just
        # before the page's "loaded" message, and Panel (1.9.4) drops what a callback
        # changes in a session not loaded yet (as if its page were still to be sent):
        # under load, one login in a few showed an empty page.
        self.address.param.watch(
            lambda e: pn.state.onload(lambda: self._followed(e.new)), "fragment"
        )
        self.address.param.watch(
            lambda _e: pn.state.onload(lambda: self.route(self.address.fragment)), "ready"
        )
        if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
            # No browser to report an address (a notebook, a test): the first page.
            self.route("")

    # -- pages ----------------------------------------------------------------------
    def page(self, title: str) -> Any:
        """The component of page ``title`` (built once per session)."""
        if title not in self._built:
            _title, module, cls = next(p for p in self.pages if p[0] == title)
            component = getattr(importlib.import_module(module), cls)(self.ws)
            if title == "Contacts":
                component.opener = self.open_record
            if "overdue" in component.model.param:  # the inbox: done work leaves the badge
                component.model.param.watch(lambda _e: self._refresh_badge(), "overdue")
            if "open_deal" in component.model.param:  # the board: a card's name opens it
                component.model.param.watch(
                    lambda e: e.new and self.open_record("deal", e.new), "open_deal"
                )
            self._built[title] = component
            names = URL_PARAMS.get(title, {}).values()
            model = component.model
            # What the page shows when its address names no filter: as first built
            # (the inbox is the acting user's own, not everyone's).
            self._defaults[title] = {n: getattr(model, n) for n in names if n in model.param}
            self._keep_in_address(title, component)
        return self._built[title]

    def record_page(self) -> RecordPage:
        """The record page of this session (one, filled with each record opened)."""
        if self._record is None:
            self._record = RecordPage(self.ws)
        return self._record

    def show(self, title: str) -> None:
        """Switch the main area to page ``title``."""
        self._highlight(title)
        self.current = title
        self._refresh_badge()
        self._put(title, self.page(title))

    def show_record(self, kind: str, record_id: int) -> bool:
        """Switch the main area to the page of record ``record_id`` of ``kind``."""
        page = self.record_page()
        opened = page.model.open(kind, record_id)
        self._highlight("Pipeline" if kind == "deal" else "Contacts")
        self.current = None
        self._refresh_badge()
        self._put("record", page)
        return opened

    def _put(self, key: str, component: Any) -> None:
        """Show ``component`` in the main area, the other pages hidden.

        A page is drawn in the browser on its first visit and stays there, hidden while
        another is shown: coming back to it sends one change (it is visible again),
        where putting it back in the main area would have the browser build all its
        elements anew (half a second of the browser's time for the inbox, measured)."""
        if key not in self._views:
            self._views[key] = pn.panel(component)
            self._places[key][:] = [self._views[key]]
        for other, place in self._places.items():
            if other != key and place.visible:
                place.visible = False
        self._places[key].visible = True

    @property
    def shown_view(self) -> Any:
        """The page shown in the main area (None before the first)."""
        shown = [k for k, place in self._places.items() if place.visible]
        return self._views[shown[0]] if shown else None

    def _highlight(self, title: str) -> None:
        for name, button in self.nav.items():
            button.button_type = "primary" if name == title else "light"

    def _refresh_badge(self) -> None:
        self.badge.object = badge_html(self.ws)

    # -- addresses ----------------------------------------------------------------------
    def navigate(self, route: Route) -> None:
        """Go to ``route``: shown at once, and its address enters the browser's
        history (Back returns here)."""
        if route.record_id is None and route.page.title() in URL_PARAMS and not route.params:
            route = Route(route.page, None, self._params_of(route.page.title()))
        fragment = route.to_hash()
        if fragment != self.shown:
            self.route(fragment)
        self.address.go(fragment)

    def open_record(self, kind: str, record_id: int) -> None:
        """Open a record's page (a link in a list, a search result, a card)."""
        self.navigate(Route(RECORD_PATHS[kind], int(record_id)))

    def _followed(self, fragment: str) -> None:
        """The browser's address changed (a link, Back, an address typed)."""
        if fragment != self.shown:
            self.route(fragment)

    def route(self, fragment: str | None) -> None:
        """Show what the address ``fragment`` names (the first page when it names
        nothing the app has)."""
        self.shown = fragment or ""
        route = parse(fragment)
        if self.search.model.query:
            self.search.model.clear()  # a result was opened, or the user went elsewhere
        titles = {page_path(t): t for t, _m, _c in self.pages}
        self.notice.param.update(object="", visible=False)
        if route is not None and route.kind is not None:
            self.show_record(route.kind, route.record_id)
            return
        if route is None or route.page not in titles:
            if self.pages:
                self.show(self.pages[0][0])
            withheld = {page_path(t): t for t, _m, _c in PAGES if t in RESTRICTED_PAGES}
            if route is not None and route.page in withheld:
                # a page of another role, by its address: said, not silently replaced
                self.notice.param.update(
                    object=md_text(
                        _("The page {page!r} is for managers and admins.").format(
                            page=_(withheld[route.page])
                        )
                    ),
                    visible=True,
                )
            return
        title = titles[route.page]
        self.show(title)
        self._apply_params(title, route.params)

    def _params_of(self, title: str) -> dict[str, str]:
        component = self._built.get(title)
        if component is None:
            return {}
        model, defaults = component.model, self._defaults[title]
        return {
            key: _to_text(getattr(model, name))
            for key, name in URL_PARAMS.get(title, {}).items()
            if name in defaults and getattr(model, name) != defaults[name]
        }

    def _apply_params(self, title: str, params: dict[str, str]) -> None:
        model, defaults = self.page(title).model, self._defaults[title]
        values = {}
        for key, name in URL_PARAMS.get(title, {}).items():
            if name not in defaults:
                continue
            if key in params:
                ok, value = _from_text(model.param[name], params[key])
                allowed = getattr(model, f"may_filter_{name}", None)
                if ok and callable(allowed) and not allowed(value):
                    # not the user's to ask for (a sales user: another owner): as if
                    # the address did not name it
                    ok, value = True, defaults[name]
                if ok:
                    values[name] = value
            else:
                values[name] = defaults[name]
        changed = {k: v for k, v in values.items() if getattr(model, k) != v}
        if changed:
            model.param.update(**changed)

    def _keep_in_address(self, title: str, component: Any) -> None:
        """Put the page's filters into the address when they change (after a pause)."""
        names = [n for n in URL_PARAMS.get(title, {}).values() if n in component.model.param]
        if not names:
            return

        def changed(*_events: Any) -> None:
            doc = pn.state.curdoc
            if self.current != title or doc is None or doc.session_context is None:
                return
            if self._pending_url is not None:
                with contextlib.suppress(ValueError):  # it ran already
                    doc.remove_timeout_callback(self._pending_url)
            self._pending_url = doc.add_timeout_callback(self._write_address, URL_DELAY_MS)

        component.model.param.watch(changed, names)

    def _write_address(self) -> None:
        self._pending_url = None
        if self.current is None:
            return
        fragment = Route(page_path(self.current), None, self._params_of(self.current)).to_hash()
        if parse(fragment) != parse(self.shown):  # not the address shown, however written
            self.shown = fragment  # already shown: the filters are the page's own
            self.address.go(fragment)

    def template(self) -> pn.template.FastListTemplate:
        """The page layout: navigation on the left; search, the overdue badge, the user
        and a logout button on top."""
        who = self.ws.login or "owner"
        token = (pn.state.headers or {}).get(XSRF_HEADER) if pn.state.curdoc else None
        user = pn.pane.HTML(
            f'<span class="crm-user">{html.escape(who)} ({html.escape(role_word(self.ws.role))})'
            "</span> · " + logout_html(token if isinstance(token, str) else None),
            margin=(10, 20),
            stylesheets=[APP_CSS, LOGOUT_CSS],
        )
        return dress(
            pn.template.FastListTemplate(
                title="crmbook",
                sidebar=list(self.nav.values()),
                # One card: the template draws a card around each item of its main
                # area, and the notice's (empty but for a withheld page) was a blank bar.
                main=[pn.Column(self.notice, self.main, sizing_mode="stretch_both", margin=0)],
                header=[
                    self.search,
                    self.badge,
                    self.language_picker(),
                    user,
                    self.address,
                    PageLanguage(lang=i18n.current_language()),
                ],
                accent="#1f6f8b",
                raw_css=[APP_CSS],
            )
        )

    def close(self) -> None:
        """Let go of every page and view (the session has ended)."""
        for component in self._built.values():
            # What a page keeps outside the process (an uploaded file) goes now, not
            # whenever the page's objects are collected.
            ended = getattr(component.model, "session_ended", None)
            if callable(ended):
                ended()
        for place in self._places.values():
            place[:] = []
        self._views.clear()
        self._built.clear()
        self._record = None

    def language_picker(self) -> pn.widgets.Select:
        """The user's language: kept as their setting, the page reloads in it."""
        picker = pn.widgets.Select(
            options={name: code for code, name in i18n.LANGUAGES.items()},
            value=i18n.current_language(),
            width=110,
            margin=(10, 10, 0, 10),
            css_classes=["crm-language"],
            stylesheets=[HEADER_INPUT_STYLE],
        )

        def chosen(event: Any) -> None:
            if self.ws.login is None or event.new == event.old:
                return
            self.ws.users.set_language(self.ws.login, event.new)
            self.address.reload()

        picker.param.watch(chosen, "value")
        return picker


def _allowed(title: str, ws: Workspace) -> bool:
    """Whether the acting user has page ``title`` (see :data:`RESTRICTED_PAGES`)."""
    check = RESTRICTED_PAGES.get(title)
    if check is None:
        return True
    module, _sep, name = check.partition(":")
    return bool(getattr(importlib.import_module(module), name)(ws))


def _available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:  # an optional page whose dependencies are missing (sync)
        return False
    return True


#: What a page shows when the server closes its connection (its login ended) or stops.
DISCONNECTED = N_("Disconnected: your login has ended or the server stopped. Reload to log in.")


def app_factory(base: Workspace, health: ServerHealth | None = None) -> Callable[[], Any]:
    """The per-session app for ``pn.serve``: acts as the user of the live login session
    the page was opened with (see :mod:`widgets.auth`); ``health`` counts its sessions."""

    def session() -> Any:
        user = base.sessions.check_hash(pn.state.cookies.get(PAGE_COOKIE))
        if user is None:  # the login guards every route; never serve anonymously
            raise PermissionError("not logged in")
        ws = base.as_user(user["id"])
        i18n.start_session(ws)  # the page speaks the user's language from here on
        pn.config.disconnect_notification = _(DISCONNECTED)  # this session's own
        app = StaffApp(ws)
        context = pn.state.curdoc.session_context if pn.state.curdoc else None
        if context is not None:
            if health is not None:
                health.watch(context.server_context.application_context.io_loop)
                health.session_opened(context.id)
            pn.state.on_session_destroyed(lambda ctx: _closed(app, ctx, health))
        return app.template()

    return session


#: Gives ended sessions' memory back to the system, once per burst of them.
RETURNER = memory.Returner()


def _closed(app: StaffApp, context: Any, health: ServerHealth | None) -> None:
    """A session ended: its pages let go of what they hold (their views, the record
    page; the workspace's connections are the engine's and stay), and the memory they
    held goes back to the system shortly after."""
    app.close()
    if health is not None:
        health.session_closed(context.id)
    RETURNER.soon()


def serve_app(
    location: str,
    *,
    address: str = "127.0.0.1",
    port: int = 5006,
    threaded: bool = False,
    threads: int = DEFAULT_THREADS,
    session_linger_s: float = SESSION_LINGER_S,
    cookie_secret: str | None = None,
    origins: list[str] | None = None,
    behind_proxy: bool = False,
    background: bool | None = None,
) -> Any:
    """Serve the staff app for the workspace at ``location``.

    ``threaded=True`` returns the running server thread (for tests; call ``.stop()``);
    otherwise this blocks until interrupted. ``threads``: the worker threads that run
    the sessions' callbacks, each session's in order (:mod:`widgets.session_pool`), so
    that one session's database work never holds the event loop every other session
    is served by; 0 runs them on the loop. A session whose page has closed is let go
    of (its memory returned) ``session_linger_s`` to twice that later. An admin sees
    the process's sessions, memory and slow callbacks at ``/health``
    (:mod:`widgets.server_health`). Cookies are signed with ``cookie_secret``
    (default: ``$CRMBOOK_COOKIE_SECRET``, else the workspace's own, made on first use
    and kept in it, so restarts and every process keep their logins).
    ``behind_proxy``: trust the ``X-Forwarded-For`` and ``X-Forwarded-Proto`` headers
    of a reverse proxy (the client's address for login throttling, HTTPS for Secure
    cookies); only when every request comes through one. A workspace that is missing
    or at another schema raises :class:`crm_core.SchemaError` (naming ``crmbook
    migrate`` or ``crmbook init``): a server never creates or upgrades one.
    ``background``: fetch the mailboxes, send the outbox and, when the environment
    holds an ERP connection, sync with it on the workspace's schedule
    (:mod:`crm_core.background`, :mod:`erp_bridge.scheduled`), shown at ``/health``;
    by default only when
    not ``threaded`` (a test's server leaves the outbox to the test).
    """
    pn.extension("tabulator", notifications=True, disconnect_notification=DISCONNECTED)
    # A Tabulator's click event comes from the browser with the table's whole definition
    # the first time (holoviz/panel#5010): Bokeh keeps its own and says so once per
    # table. Nothing is wrong; a warning per click would bury those that matter.
    warnings.filterwarnings("ignore", "reference already known", BokehUserWarning)
    without_web_fonts()
    without_mathjax()
    base = crm_core.open(location, create=False)
    secret = (
        cookie_secret or os.environ.get("CRMBOOK_COOKIE_SECRET") or base.sessions.cookie_secret()
    )
    base.engine.dispose()  # the server's loop and threads open their own connections
    session_pool.use(threads)
    from crm_core import background as jobs  # fetching and sending on a timer

    on = not threaded if background is None else background
    scheduler = jobs.start(location) if on else None
    if scheduler is not None:  # and the ERP sync, when this server has a connection
        from erp_bridge.scheduled import schedule_sync
        from widgets.sync_panel import adapter_from_env

        schedule_sync(scheduler, adapter_from_env)
    health = ServerHealth(scheduler)
    return pn.serve(
        app_factory(base, health),
        address=address,
        port=port,
        threaded=threaded,
        show=False,
        title="crmbook",
        # Pages opened at these addresses may connect (a proxy's address: --origin).
        websocket_origin=[*(origins or []), f"{address}:{port}", f"localhost:{port}"],
        auth_provider=auth_provider(base),
        cookie_secret=secret,
        # Page sessions signed: an id or token a client makes up is refused.
        sign_sessions=True,
        secret_key=signing_key(secret),
        use_xheaders=behind_proxy,
        # Bokeh copies a page's cookies and headers into the page (its session token):
        # the login's own cookie must not be readable there.
        exclude_cookies=[SESSION_COOKIE, XSRF_COOKIE],
        exclude_headers=["Cookie"],
        # Passed on to tornado's Application: headers on every response.
        transforms=[SecurityHeaders],
        extra_patterns=[
            (HEALTH_URL, HealthHandler, {"ws": base, "health": health}),
            (UNSUBSCRIBE_URL, UnsubscribeHandler, {"ws": base}),
        ],
        # Bokeh keeps a session whose page has gone for this long (a page that reloads
        # or reconnects finds it again), checking every as often.
        unused_session_lifetime_milliseconds=int(session_linger_s * 1000),
        check_unused_sessions_milliseconds=int(session_linger_s * 1000),
        # A file chosen for an import reaches the server in one message, in base64:
        # Bokeh's 20 MB default would drop the page's connection for a 15 MB file
        # instead of letting the wizard say how large a file it takes.
        websocket_max_message_size=UPLOAD_MESSAGE_BYTES,
    )
