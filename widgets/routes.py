"""The staff app's addresses: every page, record and filter state has a URL.

Addresses live in the URL's fragment: ``/#/contacts/123``, ``/#/deals/45``,
``/#/pipeline?owner=bilal&tag=VIP``. The fragment never reaches the server, so one
Bokeh session serves every page (nothing is rebuilt on a visit); the browser keeps
it in its history, so Back and Forward, reload and bookmarks work, and Panel's
``pn.state.location.hash`` follows it both ways (the browser's ``hashchange`` event
updates it; setting it pushes a history entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode

#: Record pages: the address's first part -> the kind of record.
RECORD_PAGES = {"contacts": "contact", "companies": "company", "deals": "deal"}
#: The kind of record -> its address's first part.
RECORD_PATHS = {kind: path for path, kind in RECORD_PAGES.items()}


def page_path(title: str) -> str:
    """The address of a page (and its CSS name) from its English title: lower case,
    words joined by ``-`` (``"Data quality"`` -> ``data-quality``)."""
    return "-".join(title.lower().split())


@dataclass(frozen=True)
class Route:
    """Where the app is: a page (``contacts``), or a record (``deals`` + an id), and the
    page's filters as text."""

    page: str
    record_id: int | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str | None:
        """The kind of record shown (contact, company, deal); None on a list page."""
        return RECORD_PAGES.get(self.page) if self.record_id is not None else None

    def to_hash(self) -> str:
        """This route as a URL fragment (``#/deals/45``)."""
        path = f"#/{quote(self.page)}"
        if self.record_id is not None:
            path += f"/{self.record_id}"
        params = {k: v for k, v in self.params.items() if v not in ("", None)}
        return path + (f"?{urlencode(sorted(params.items()))}" if params else "")


def parse(fragment: str | None) -> Route | None:
    """The route of a URL fragment; None when it names no page (empty, or garbage)."""
    text = (fragment or "").lstrip("#")
    if not text.startswith("/"):
        return None
    path, _, query = text[1:].partition("?")
    parts = [p for p in path.split("/") if p]
    name = parts[0].replace("-", "") if parts else ""
    if not parts or len(parts) > 2 or not name.isascii() or not name.isalpha():
        return None
    page = parts[0].lower()
    record_id = None
    if len(parts) == 2:
        if page not in RECORD_PAGES or not parts[1].isascii() or not parts[1].isdigit():
            return None
        record_id = int(parts[1])
        if not 0 < record_id < 2**62:
            return None
    params = dict(parse_qsl(query, keep_blank_values=False)[:20])
    return Route(page, record_id, params)


def record_hash(kind: str, record_id: int) -> str:
    """The address of a record's page: ``record_hash("deal", 45) == "#/deals/45"``."""
    return f"#/{RECORD_PATHS[kind]}/{int(record_id)}"
