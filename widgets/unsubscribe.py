"""``/unsubscribe``: the public page an unsubscribe link opens, no login needed.

The link (``ws.mail.unsubscribe_link``; the ``List-Unsubscribe`` header of campaign
mail) carries a signed token naming the contact and their address: the token is the
only authority, so the page works for anyone who has the link and for nobody else.

- ``GET``: a small page in the contact's language (else the browser's, else English)
  saying they will no longer receive marketing e-mail, with a button that confirms.
  A GET changes nothing: mail scanners and link previews open every link.
- ``POST`` (the button, or a mail client's RFC 8058 one-click
  ``List-Unsubscribe=One-Click``): unsubscribes at once, journaled
  (``ws.mail.unsubscribe``), and says so.
- An altered, expired or outdated token gets a 400 page saying why, never a
  traceback. The database is read and written on a worker thread, never on the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jinja2
from markupsafe import Markup
from tornado.ioloop import IOLoop
from tornado.web import RequestHandler

from crm_core import Workspace
from crm_core.errors import ValidationError
from widgets import design, i18n
from widgets.i18n import N_

#: Where the staff app answers unsubscribe links (the default ``unsubscribe_url`` of
#: crm_core.mail.smtp_config is ``http://localhost:5006/unsubscribe?token=``).
UNSUBSCRIBE_URL = r"/unsubscribe"

TEXTS = {
    "title": N_("Unsubscribe"),
    "ask": N_("You will no longer receive marketing e-mail from us at {email}."),
    "button": N_("Unsubscribe"),
    "still": N_("Messages about your orders and questions you ask us still reach you."),
    "done_title": N_("You are unsubscribed"),
    "done": N_("You will no longer receive marketing e-mail from us at {email}."),
    "already": N_("You are already unsubscribed: you receive no marketing e-mail from us."),
    "bad_title": N_("This unsubscribe link does not work"),
    "expired": N_("The link is too old. Use the link in a newer e-mail from us."),
    "moved": N_("The link was made for an e-mail address we no longer have for you."),
    "invalid": N_(
        "The link is incomplete or altered. Open it again from the e-mail, or copy all of it."
    ),
}

_PAGE = jinja2.Environment(autoescape=True).from_string(
    """<!DOCTYPE html>
<html lang="{{ lang }}" dir="{{ dir }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }}</title>
<style>
body { font-family: {{ font_stack }}; margin: 0; background: #f5f6f8; color: #1f2933; }
main { max-width: 34rem; margin: 4rem auto; padding: 2rem; background: #fff;
       border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.12); }
h1 { font-size: 1.4rem; margin-top: 0; }
button { font: inherit; padding: .6rem 1.4rem; border: 0; border-radius: 6px;
         background: #1f5fbf; color: #fff; cursor: pointer; }
.note { color: #52606d; font-size: .9rem; }
</style>
</head>
<body>
<main class="crm-unsubscribe-{{ state }}">
<h1>{{ title }}</h1>
{% for line in lines %}<p>{{ line }}</p>
{% endfor %}
{% if token %}<form method="post" action="unsubscribe">
<input type="hidden" name="token" value="{{ token }}">
<button type="submit">{{ button }}</button>
</form>{% endif %}
{% if note %}<p class="note">{{ note }}</p>{% endif %}
</main>
</body>
</html>
"""
)


def _why(exc: ValidationError) -> str:
    """Which of :data:`TEXTS` says why a token was refused (crm_core.mail.tokens)."""
    reasons = " ".join(e.reason for e in exc.errors)
    if "older than" in reasons:
        return "expired"
    if "no contact has now" in reasons:
        return "moved"
    return "invalid"


class UnsubscribeHandler(RequestHandler):
    """``/unsubscribe?token=...``: GET asks, POST unsubscribes (see the module doc)."""

    def initialize(self, ws: Workspace) -> None:
        self.ws = ws

    def check_xsrf_cookie(self) -> None:
        """The signed token is what authorises a POST: a mail client's one-click POST
        (RFC 8058) comes with no cookie and no form token."""

    def _language(self, contact_language: str | None = None) -> str:
        return i18n.choose(
            user_setting=contact_language,
            cookie=self.get_cookie(i18n.LANGUAGE_COOKIE),
            accept_language=self.request.headers.get("Accept-Language"),
        )

    def _page(self, language: str, state: str, status: int = 200, **parts: Any) -> None:
        gettext, _ngettext = i18n.translator(language)
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Language", language)
        self.set_header("X-Robots-Tag", "noindex")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            _PAGE.render(
                lang=language,
                dir=i18n.direction(language),
                font_stack=Markup(design.FONT_STACK),
                state=state,
                title=gettext(parts.pop("title")),
                lines=[gettext(text).format(**parts) for text in parts.pop("lines")],
                note=gettext(parts["note"]) if parts.get("note") else "",
                button=gettext(TEXTS["button"]),
                token=parts.get("token"),
            )
        )

    async def _run(self, call: Callable[[str], dict[str, Any]]) -> dict[str, Any] | None:
        """``call(token)`` on a worker thread; None after answering 400 when refused."""
        token = self.get_argument("token", "")
        try:
            return await IOLoop.current().run_in_executor(None, call, token)
        except ValidationError as exc:
            self._page(
                self._language(),
                "refused",
                400,
                title=TEXTS["bad_title"],
                lines=[TEXTS[_why(exc)]],
            )
            return None

    async def get(self) -> None:
        seen = await self._run(self.ws.mail.unsubscribe_preview)
        if seen is None:
            return
        language = self._language(seen["language"])
        if seen["no_marketing"]:
            self._page(language, "already", title=TEXTS["done_title"], lines=[TEXTS["already"]])
            return
        self._page(
            language,
            "ask",
            title=TEXTS["title"],
            lines=[TEXTS["ask"]],
            note=TEXTS["still"],
            email=seen["email"],
            token=self.get_argument("token"),
        )

    async def post(self) -> None:
        done = await self._run(self._unsubscribe)
        if done is None:
            return
        self._page(
            self._language(done["language"]),
            "done",
            title=TEXTS["done_title"],
            lines=[TEXTS["done"]],
            email=done["email"],
        )

    def _unsubscribe(self, token: str) -> dict[str, Any]:
        seen = self.ws.mail.unsubscribe_preview(token)
        self.ws.mail.unsubscribe(token)
        return seen
