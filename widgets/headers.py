"""Security headers on every response of the staff app.

A tornado output transform (``transforms=[SecurityHeaders]`` on the application) sees
the headers of every response any handler writes: pages, the login and logout pages,
static files, Bokeh's and Panel's own endpoints, errors and redirects alike, so no
handler can forget them.

The Content-Security-Policy is what the app's pages need, measured in Chromium (see
tests/widgets/test_security_browser.py, which fails on any CSP report in the console):

- scripts: Bokeh and Panel write inline ``<script>`` blocks (the document and its
  session token differ on every page, so no hash can name them), build model code
  with ``new Function``, and Panel loads its ES-module components from ``blob:`` URLs;
- styles: inline styles everywhere;
- everything else, the websocket and the fonts included, comes from the app's own
  origin (the app links no web font: :mod:`widgets.design`).

No other origin may frame the app, receive its forms or be its ``<base>``.
"""

from __future__ import annotations

from tornado.httputil import HTTPHeaders
from tornado.web import OutputTransform

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # For browsers older than CSP's frame-ancestors.
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

#: Bokeh's autoload.js answers every origin, with credentials; the staff app is never
#: embedded in another site, so no cross-origin reads are allowed.
DROPPED = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Headers",
    "Access-Control-Allow-Methods",
)


class SecurityHeaders(OutputTransform):
    """Add :data:`HEADERS` to (and drop :data:`DROPPED` from) every response."""

    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        for name in DROPPED:
            headers.pop(name, None)
        for name, value in HEADERS.items():
            headers[name] = value
        return status_code, headers, chunk
