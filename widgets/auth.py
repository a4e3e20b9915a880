"""Login for the staff app: Panel's login page, checked against crm_core's users.

Passwords are verified by ``ws.users.authenticate`` (salted scrypt hashes). A signed,
HttpOnly cookie keeps the user logged in across reloads; ``/logout`` ends it. The
check runs in a worker thread so a slow hash never holds up other sessions.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from panel.auth import BasicAuthProvider, BasicLoginHandler
from tornado.ioloop import IOLoop

from crm_core import Workspace


def auth_provider(ws: Workspace) -> BasicAuthProvider:
    """An auth provider for ``pn.serve(auth_provider=...)`` checking ``ws``'s users."""

    class LoginHandler(BasicLoginHandler):  # type: ignore[misc]
        async def post(self) -> None:
            login = self.get_argument("username", "")
            password = self.get_argument("password", "")
            user = await IOLoop.current().run_in_executor(
                None, ws.users.authenticate, login, password
            )
            if user is None:
                error = urlencode({"error": "Invalid username or password!"})
                self.redirect(f"{self.request.path}?{error}")
                return
            self.set_current_user(user["login"])  # the canonical login, not as typed
            self.redirect(self.get_argument("next", "/"))

    class Provider(BasicAuthProvider):  # type: ignore[misc]
        @property
        def login_handler(self) -> Any:
            LoginHandler._login_endpoint = self._login_endpoint
            LoginHandler._login_template = self._login_template
            return LoginHandler

    return Provider()
