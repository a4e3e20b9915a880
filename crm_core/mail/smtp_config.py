"""Where mail out goes: the SMTP server, the sender, the rate limit and the language.

Each value comes from the environment first, then from the workspace's mail settings
(``ws.mail.configure(...)``, stored in the ``settings`` table under ``mail.*`` keys),
then from the default. The password is never stored: it is read from
``$CRMBOOK_SMTP_PASSWORD`` or from the environment variable the settings name.

=================  ==========================  ===========================================
setting            environment variable        meaning (default)
=================  ==========================  ===========================================
smtp_host          CRMBOOK_SMTP_HOST           the SMTP server (none: sending refused)
smtp_port          CRMBOOK_SMTP_PORT           its port (587; 465 for tls, 25 for none)
smtp_security      CRMBOOK_SMTP_SECURITY       starttls, tls (implicit) or none (starttls)
smtp_login         CRMBOOK_SMTP_LOGIN          the login (none: no AUTH)
smtp_password_env  (names the variable)        the variable holding the password
                   CRMBOOK_SMTP_PASSWORD       the password itself
sender             CRMBOOK_MAIL_FROM           the From address, ``Name <a@b.c>``
rate_per_minute    CRMBOOK_MAIL_RATE           most messages sent a minute (60)
language           CRMBOOK_MAIL_LANGUAGE       the workspace's mail language (en)
unsubscribe_url    CRMBOOK_UNSUBSCRIBE_URL     the link's base, the token appended
                   CRMBOOK_UNSUBSCRIBE_SECRET  the secret signing unsubscribe links
attribution_days   CRMBOOK_ATTRIBUTION_DAYS    how long after a campaign message a deal
                                               its reply leads to is the campaign's (90)
allowed_mail_hosts (none)                      IMAP hosts that are not public servers a
                                               non-admin's mailbox may name anyway
                                               (:mod:`crm_core.mail.hosts`; none)
=================  ==========================  ===========================================
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crm_core import validation as v
from crm_core.errors import FieldError, ValidationError
from crm_core.mail import hosts
from crm_core.models import Setting

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

PREFIX = "mail."
SMTP_SECURITY = ("starttls", "tls", "none")
ENV = {
    "smtp_host": "CRMBOOK_SMTP_HOST",
    "smtp_port": "CRMBOOK_SMTP_PORT",
    "smtp_security": "CRMBOOK_SMTP_SECURITY",
    "smtp_login": "CRMBOOK_SMTP_LOGIN",
    "smtp_password_env": None,
    "sender": "CRMBOOK_MAIL_FROM",
    "rate_per_minute": "CRMBOOK_MAIL_RATE",
    "language": "CRMBOOK_MAIL_LANGUAGE",
    "unsubscribe_url": "CRMBOOK_UNSUBSCRIBE_URL",
    "attribution_days": "CRMBOOK_ATTRIBUTION_DAYS",
    "allowed_mail_hosts": None,
}
PASSWORD_ENV = "CRMBOOK_SMTP_PASSWORD"
DEFAULTS = {
    "smtp_security": "starttls",
    "rate_per_minute": "60",
    "language": "en",
    "unsubscribe_url": "http://localhost:5006/unsubscribe?token=",
    "attribution_days": "90",
}
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_CLEANERS: dict[str, Callable[[Any], str | None]] = {
    "smtp_host": lambda x: v.optional_text(x, 255),
    "smtp_port": lambda x: str(v.integer(x, minimum=1, maximum=65535)),
    "smtp_security": lambda x: v.one_of(x, SMTP_SECURITY),
    "smtp_login": lambda x: v.optional_text(x, 300),
    "smtp_password_env": lambda x: v.optional_text(x, 200),
    "sender": lambda x: v.optional_text(x, 300),
    "rate_per_minute": lambda x: str(v.integer(x, minimum=1, maximum=100_000)),
    "language": v.language,
    "unsubscribe_url": lambda x: v.optional_text(x, 300),
    "attribution_days": lambda x: str(v.integer(x, minimum=1, maximum=3650)),
    "allowed_mail_hosts": hosts.clean_list,
}


@dataclass(frozen=True)
class MailSettings:
    """The mail settings in force (see the module docstring)."""

    smtp_host: str | None
    smtp_port: int
    smtp_security: str
    smtp_login: str | None
    smtp_password: str | None
    sender: str | None
    rate_per_minute: int
    language: str
    unsubscribe_url: str
    attribution_days: int
    #: Hosts a non-admin's mailbox may name though they are not public servers.
    allowed_mail_hosts: tuple[str, ...] = ()


def store(ws: Workspace, values: dict[str, Any]) -> None:
    """Validate and store mail settings (None clears one); every refused value is
    named in one ValidationError and nothing is stored then. Access is the caller's."""
    errors: list[FieldError] = []
    clean: dict[str, str | None] = {}
    for key, value in values.items():
        if key not in _CLEANERS:
            errors.append(FieldError("mail settings", key, value, "is not a mail setting"))
            continue
        try:
            clean[key] = None if value is None else _CLEANERS[key](value)
        except v.Reject as exc:
            errors.append(FieldError("mail settings", key, value, str(exc)))
    if errors:
        raise ValidationError(errors)
    with ws.transaction() as s:
        for key, value in clean.items():
            row = s.get(Setting, PREFIX + key)
            if value is None and row is not None:
                s.delete(row)
            elif value is not None and row is None:
                s.add(Setting(key=PREFIX + key, value=value))
            elif value is not None and row is not None:
                row.value = value


def stored(ws: Workspace) -> dict[str, str]:
    """The ``mail.*`` settings stored in the workspace, without the prefix."""
    with ws.transaction() as s:
        rows = s.scalars(select(Setting).where(Setting.key.startswith(PREFIX)))
        return {row.key[len(PREFIX) :]: row.value for row in rows}


def load(ws: Workspace) -> MailSettings:
    """The settings in force: environment, then stored, then defaults."""
    kept = stored(ws)

    def value(key: str) -> str | None:
        env = ENV.get(key)
        if env and os.environ.get(env):
            try:
                return _CLEANERS[key](os.environ[env])
            except v.Reject as exc:
                raise ValidationError(
                    [FieldError("environment", env, os.environ[env], str(exc))]
                ) from None
        return kept.get(key) or DEFAULTS.get(key)

    security = value("smtp_security") or "starttls"
    port = value("smtp_port")
    password = os.environ.get(PASSWORD_ENV)
    named = value("smtp_password_env")
    if named and os.environ.get(named):
        password = os.environ[named]
    return MailSettings(
        smtp_host=value("smtp_host"),
        smtp_port=int(port) if port else DEFAULT_PORTS.get(security, 587),
        smtp_security=security,
        smtp_login=value("smtp_login"),
        smtp_password=password,
        sender=value("sender"),
        rate_per_minute=int(value("rate_per_minute") or 60),
        language=value("language") or "en",
        unsubscribe_url=value("unsubscribe_url") or DEFAULTS["unsubscribe_url"],
        attribution_days=int(value("attribution_days") or DEFAULTS["attribution_days"]),
        allowed_mail_hosts=tuple(filter(None, (kept.get("allowed_mail_hosts") or "").split(","))),
    )
