"""Login for the staff app: crm_core's login sessions (``ws.sessions``) wired to the
web server, through Bokeh's public auth-provider hooks.

- ``/login`` shows the form (with an XSRF token) and checks it in a worker thread:
  the same work for a known and an unknown login, refused with "too many attempts,
  try again in N s" while guessing is being slowed down (crm_core decides both). On
  success the browser gets the session's random token as the ``crmbook_session``
  cookie: signed with the cookie secret, HttpOnly, SameSite=Lax, and Secure over
  HTTPS (or behind a trusted proxy that says the client used HTTPS). ``next`` is
  followed only when it is a path of this app.
- Every request for a page, Bokeh's endpoints and the page's websocket passes through
  :meth:`CrmAuth.get_user`, which checks the session in the workspace (worker thread):
  a page without a live session redirects to the login, anything else gets 401.
- A page's Bokeh session is told only the *hash* of the login's token (the
  ``crmbook_page`` value in its token), never the cookie itself, which Bokeh would
  otherwise copy into the page where scripts can read it. The page's websocket must
  come with the cookie of that same login, and is held by :class:`OpenPages`, which
  closes it as soon as the login ends.
- A page's Bokeh session is made and signed by the server (``sign_sessions`` with
  :func:`signing_key`), so its id and token cannot be forged; a request for a page
  that names a session id or token of its own is refused, so that a link cannot put
  a visitor in a session whose id someone else knows (session fixation).
- ``/logout`` ends every session of the user (every device and page of theirs), on a
  POST with the XSRF token only: the app's "Log out" button posts it, and a GET (a
  link, which any other site can make a browser follow) shows a page asking to
  confirm with that same form, logging no one out. A page learns its XSRF token
  through its Bokeh session (:data:`XSRF_HEADER`), never the cookie itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import jinja2
from bokeh.server.auth_provider import AuthProvider
from bokeh.server.views.doc_handler import DocHandler
from bokeh.server.views.root_handler import RootHandler
from bokeh.util.token import check_token_signature, get_token_payload
from markupsafe import Markup
from tornado.ioloop import IOLoop
from tornado.web import HTTPError, RequestHandler
from tornado.websocket import WebSocketHandler

from crm_core import Workspace
from crm_core.services.throttle import MAX_WAIT
from widgets import design, i18n
from widgets.i18n import N_
from widgets.open_pages import OpenPages

log = logging.getLogger(__name__)

#: The cookie holding the login session's token (signed).
SESSION_COOKIE = "crmbook_session"
#: Tornado's XSRF cookie, which the login form's token is checked against.
XSRF_COOKIE = "_xsrf"
#: The name under which a page's Bokeh session knows its login: the token's hash.
PAGE_COOKIE = "crmbook_page"
#: The request header under which a page's Bokeh session learns the XSRF token of its
#: browser (masked, as a form carries it): the app's logout form posts it.
XSRF_HEADER = "X-Crmbook-Xsrf"
#: The cookie signature's own age limit; when a session ends is the workspace's call.
COOKIE_DAYS = 366
LOGIN_URL = "/login"
LOGOUT_URL = "/logout"
#: What the login page may say (a code in its address, never text from it); shown in
#: the page's language.
ERRORS = {
    "invalid": N_("Invalid username or password!"),
    "wait": N_("Too many attempts, try again in {wait} s."),
}
NOTICES = {"logout": N_("You are logged out.")}
#: How long a language chosen on the login page is remembered (its cookie).
LANGUAGE_DAYS = 365
#: Logins checked at once per process: each check holds ~19 MiB for ~20 ms, so a
#: flood of logins queues instead of exhausting memory or the default worker threads.
LOGIN_THREADS = 2

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True
)


def safe_next(value: Any, root: str = "/") -> str:
    """``value`` when it is a path of this app (``/contacts?x=1``), else ``root``.

    Refused: anything with a scheme or a host (``https://evil.example``), ``//host``,
    backslashes (``/\\evil.example``, which browsers read as ``//``), and spaces or
    control characters (a browser drops a tab or newline: ``/\\t/evil`` is ``//evil``).
    """
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return root
    if "\\" in value or any(not ("!" <= ch <= "~") for ch in value):
        return root
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return root
    return value


def signing_key(cookie_secret: str) -> bytes:
    """The key Bokeh signs the pages' session ids and tokens with (``sign_sessions``),
    derived from the cookie secret: the same in every process serving the workspace,
    and never the cookie secret itself."""
    return (
        hmac.new(cookie_secret.encode(), b"crmbook page sessions", hashlib.sha256)
        .hexdigest()
        .encode()
    )


def chosen_session(handler: RequestHandler) -> bool:
    """Whether a request for a page names the Bokeh session (or token) it wants.

    The app's pages never do: the server makes each page's session and signs it. A
    link that names one is an attempt to put its visitor in a session someone else
    knows the id of (session fixation), and is refused."""
    asked = handler.request.arguments
    return (
        "bokeh-session-id" in asked
        or "bokeh-token" in asked
        or "Bokeh-Session-Id" in handler.request.headers
    )


def page_session(handler: Any) -> str | None:
    """The login (token hash) that the Bokeh token a websocket connects with was made
    for: its ``crmbook_page`` value, or None (also for a token the server did not
    sign: only the server writes which login a page belongs to)."""
    header = handler.request.headers.get("Sec-WebSocket-Protocol", "")
    offered = [part.strip() for part in header.split(",")]
    if len(offered) != 2:
        return None
    app = handler.application
    try:
        if not check_token_signature(
            offered[1], secret_key=app.secret_key, signed=app.sign_sessions
        ):
            return None
        cookies = get_token_payload(offered[1]).get("cookies") or {}
    except Exception:  # not a Bokeh token at all
        return None
    found = cookies.get(PAGE_COOKIE)
    return found if isinstance(found, str) else None


async def cookie_user(handler: RequestHandler, ws: Workspace) -> dict[str, Any] | None:
    """The user of the live login session in ``handler``'s signed session cookie, or
    None (checked on a worker thread: the database is not read on the event loop)."""
    token = handler.get_signed_cookie(SESSION_COOKIE, max_age_days=COOKIE_DAYS)
    if not token:
        return None
    return await IOLoop.current().run_in_executor(
        None, ws.sessions.check, token.decode(errors="replace")
    )


class _LoginPages(RequestHandler):
    """What the login and logout pages share: their cookies and their workspace."""

    auth: CrmAuth

    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        """Every cookie these pages set (the session's, the XSRF token's, and their
        clearing) is HttpOnly and SameSite=Lax, and Secure when the client uses HTTPS."""
        kwargs.setdefault("httponly", True)
        kwargs.setdefault("samesite", "Lax")
        if self.request.protocol == "https":
            kwargs.setdefault("secure", True)
        super().set_cookie(name, value, *args, **kwargs)

    def root(self) -> str:
        """The app's own root path (behind a prefix, the prefix)."""
        return urljoin(self.request.path, ".")

    def render_page(self, name: str, language: str, **fields: Any) -> None:
        """Write the page ``name`` (templates/, extending auth_page.html) in
        ``language``, never cached, with what every such page shows and ``fields``."""
        gettext, ngettext = i18n.translator(language)
        page = _TEMPLATES.get_template(name).render(
            _=gettext,
            ngettext=ngettext,
            lang=language,
            dir=i18n.direction(language),
            font_stack=Markup(design.FONT_STACK),
            fonts_css=self.root() + design.FONT_CSS_PATH,
            logo=self.root() + design.LOGO_PATH,
            action=self.request.path,
            xsrf=Markup(self.xsrf_form_html()),
            **fields,
        )
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Language", language)
        self.write(page)


class LoginHandler(_LoginPages):
    """``/login``: the form, and checking what it sends."""

    def get(self) -> None:
        language = self.language()
        gettext, _ngettext = i18n.translator(language)
        code = self.get_argument("error", "")
        error = gettext(ERRORS[code]) if code in ERRORS else ""
        wait = self.get_argument("wait", "")
        if "{wait}" in error:
            seconds = int(wait) if wait.isdigit() else 1
            error = error.format(wait=min(max(seconds, 1), int(MAX_WAIT)))
        notice = NOTICES.get(self.get_argument("notice", ""), "")
        target = safe_next(self.get_argument("next", ""), self.root())
        self.render_page(
            "login.html",
            language,
            languages=[
                (
                    code,
                    name,
                    f"{self.request.path}?{urlencode({'lang': code, 'next': target})}",
                    i18n.direction(code),
                )
                for code, name in i18n.LANGUAGES.items()
            ],
            error=error,
            notice=gettext(notice) if notice else "",
            next=target,
        )

    def language(self) -> str:
        """The page's language: ``?lang=`` (then kept in a cookie, which the app's pages
        read too), else the cookie, else the browser's ``Accept-Language``."""
        asked = i18n.known(self.get_argument("lang", ""))
        if asked:
            self.set_cookie(i18n.LANGUAGE_COOKIE, asked, expires_days=LANGUAGE_DAYS, path="/")
        return i18n.choose(
            asked=asked,
            cookie=self.get_cookie(i18n.LANGUAGE_COOKIE),
            accept_language=self.request.headers.get("Accept-Language"),
        )

    async def post(self) -> None:
        # Without the form's token a login is refused (403): a page elsewhere cannot
        # log a visitor in to an account of its choosing.
        self.check_xsrf_cookie()
        target = safe_next(self.get_argument("next", ""), self.root())
        result = await IOLoop.current().run_in_executor(
            self.auth.login_pool,
            partial(
                self.auth.ws.sessions.log_in,
                self.get_argument("username", ""),
                self.get_argument("password", ""),
                address=self.request.remote_ip,
                user_agent=self.request.headers.get("User-Agent"),
            ),
        )
        if result.token is None:
            query = {"error": "wait", "wait": result.wait} if result.wait else {"error": "invalid"}
            self.redirect(f"{self.request.path}?{urlencode({**query, 'next': target})}")
            return
        self.set_signed_cookie(
            SESSION_COOKIE, result.token, expires_days=None, expires=result.expires_at, path="/"
        )
        self.redirect(target)


class LogoutHandler(_LoginPages):
    """``/logout``: a POST with the XSRF token ends every session of the user, then
    back to the login page; a GET only shows the form asking to confirm."""

    def get(self) -> None:
        if not self.get_signed_cookie(SESSION_COOKIE, max_age_days=COOKIE_DAYS):
            self.redirect(urljoin(self.request.path, "." + LOGIN_URL))  # nobody to log out
            return
        language = i18n.choose(
            cookie=self.get_cookie(i18n.LANGUAGE_COOKIE),
            accept_language=self.request.headers.get("Accept-Language"),
        )
        self.render_page("logout.html", language, back=self.root())

    async def post(self) -> None:
        # Without the form's token nobody is logged out (403): a page elsewhere cannot
        # end a visitor's sessions.
        self.check_xsrf_cookie()
        token = self.get_signed_cookie(SESSION_COOKIE, max_age_days=COOKIE_DAYS)
        if token:
            await IOLoop.current().run_in_executor(
                None, self.auth.ws.sessions.log_out, token.decode(errors="replace")
            )
        self.clear_cookie(SESSION_COOKIE, path="/")
        self.set_header("Cache-Control", "no-store")
        self.redirect(urljoin(self.request.path, "." + LOGIN_URL) + "?notice=logout")


class CrmAuth(AuthProvider):  # type: ignore[misc]
    """Bokeh's auth provider for the staff app on ``ws`` (see the module's notes)."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.pages = OpenPages(ws.sessions)
        self._login = type("Login", (LoginHandler,), {"auth": self})
        self._logout = type("Logout", (LogoutHandler,), {"auth": self})
        self._pool: ThreadPoolExecutor | None = None
        super().__init__()

    @property
    def login_pool(self) -> ThreadPoolExecutor:
        """The worker threads that check passwords (made in the serving process)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(LOGIN_THREADS, thread_name_prefix="crmbook-login")
        return self._pool

    @property
    def get_user_async(self) -> Any:
        return self.get_user_of

    async def get_user_of(self, handler: RequestHandler) -> str | None:
        """The login acting through ``handler``'s request, from its session cookie.

        None for a page without a live session (Bokeh then redirects to the login);
        :class:`HTTPError` 401 for anything else without one, and for a websocket that
        is not the page of this very login."""
        socket = isinstance(handler, WebSocketHandler)
        if not socket and chosen_session(handler):
            raise HTTPError(403, reason="A page's session is made by the server")
        user = await cookie_user(handler, self.ws)
        if user is not None and socket and page_session(handler) != user["session"]:
            user = None  # a page made for another login (or none): never attach to it
        if user is None:
            if socket or not isinstance(handler, DocHandler | RootHandler):
                raise HTTPError(401)
            return None
        if socket:
            self.pages.add(user["session"], handler)
        else:
            # What the page's Bokeh session (pn.state.cookies) will know of this login.
            handler.request.cookies[PAGE_COOKIE] = user["session"]
            # ... and the XSRF token its logout form posts (pn.state.headers): only when
            # the browser has the XSRF cookie already (it logged in with it), so this
            # response sets no cookie of its own.
            if handler.get_cookie(XSRF_COOKIE):
                handler.request.headers[XSRF_HEADER] = handler.xsrf_token.decode()
        return str(user["login"])

    @property
    def login_url(self) -> str:
        return LOGIN_URL

    @property
    def login_handler(self) -> type[RequestHandler]:
        return self._login

    @property
    def logout_url(self) -> str:
        return LOGOUT_URL

    @property
    def logout_handler(self) -> type[RequestHandler]:
        return self._logout


def auth_provider(ws: Workspace) -> CrmAuth:
    """The auth provider for ``pn.serve(auth_provider=...)`` checking ``ws``'s logins."""
    return CrmAuth(ws)
