"""Several ``crmbook serve`` processes behind one address: the reverse proxy's
configuration (nginx), with every request of a login sent to the process that holds
its pages' sessions (see ``templates/nginx.conf``).

A Bokeh session lives in the process that made it: the page's first request makes
it, and its websocket must reach the same process. Tornado's own ``--num-procs``
hands each connection to whichever process accepts it first, so the proxy chooses
instead, by the login's cookie.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from widgets.auth import SESSION_COOKIE

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=False,  # a configuration file, not HTML: values are checked instead
    keep_trailing_newline=True,
)

#: An address nginx can proxy to or listen on: ``host:port`` or a port.
_ADDRESS = re.compile(r"^(?:[A-Za-z0-9.\-]+:|\[[0-9A-Fa-f:]+\]:)?[0-9]{1,5}$")
#: A server name (or ``_``, any name).
_NAME = re.compile(r"^(?:_|[A-Za-z0-9*][A-Za-z0-9.\-*]*)$")
#: A file path without what would end an nginx directive.
_PATH = re.compile(r"^/[^;{}\s'\"#$]+$")


#: An address a page is opened at: a host name or address, and a port or not.
_ORIGIN = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9.\-]*|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$")


def checked_origin(value: str) -> str:
    """``value`` (``host`` or ``host:port``, what ``--origin`` takes), or ValueError."""
    if not _ORIGIN.match(value):
        raise ValueError(f"--origin {value!r}: give the host users open, as host or host:port")
    return value


def nginx_config(
    upstreams: list[str],
    *,
    listen: str = "80",
    server_name: str = "_",
    certificate: str | None = None,
    key: str | None = None,
    command: str = "",
) -> str:
    """The nginx configuration for the app served at ``upstreams`` (``host:port`` of
    each ``crmbook serve``, or a port on 127.0.0.1), listening on ``listen``.

    With ``certificate`` and ``key`` it listens with TLS (``listen`` gets ``ssl``).
    Raises ValueError naming the value that is not an address, name or path."""
    if not upstreams:
        raise ValueError("give the address of at least one `crmbook serve` (host:port)")
    for value in [*upstreams, listen]:
        if not _ADDRESS.match(value) or not 0 < int(value.rsplit(":", 1)[-1]) < 65536:
            raise ValueError(f"{value!r} is not a port or host:port")
    chosen = [u if ":" in u else f"127.0.0.1:{u}" for u in upstreams]
    if not _NAME.match(server_name):
        raise ValueError(f"{server_name!r} is not a server name")
    if (certificate is None) != (key is None):
        raise ValueError("give both the certificate and its key, or neither")
    for path in (certificate, key):
        if path is not None and not _PATH.match(path):
            raise ValueError(f"{path!r} is not an absolute file path nginx can read")
    if len(set(chosen)) != len(chosen):
        raise ValueError("the same `crmbook serve` is given twice")
    return _TEMPLATES.get_template("nginx.conf").render(
        upstreams=chosen,
        listen=f"{listen} ssl" if certificate else listen,
        server_name=server_name,
        certificate=certificate,
        key=key,
        command=command,
        cookie=SESSION_COOKIE,
    )
