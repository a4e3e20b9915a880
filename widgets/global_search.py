"""The search box in the staff app's header: one box for every kind of record.

Type a name in any script, an e-mail, a phone number as people write it (national
formats read with the record's country, then the workspace's region), a company or a
deal name: the matches come back grouped by kind (``ws.search.everything`` in
crm_core, index-backed), each a link to its record page. The results are links: Down
from the box (or Tab) reaches the first, Up and Down move through them, Enter opens
one, Escape empties the box.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import panel as pn
import param
from panel.reactive import ReactiveHTML

from crm_core import Workspace
from widgets.base import ComponentView, ViewModel
from widgets.i18n import N_, _
from widgets.routes import record_hash

#: The groups of results, in the order shown: (kind in crm_core's answer, record kind,
#: heading).
GROUPS = (
    ("contacts", "contact", N_("Contacts")),
    ("companies", "company", N_("Companies")),
    ("deals", "deal", N_("Deals")),
)
#: Results per kind.
PER_KIND = 5


class GlobalSearchModel(ViewModel):
    """What was typed in the header's search box and what it found."""

    query = param.String(default="", doc="The text being searched for.")
    results = param.Dict(default={}, doc="Kind -> list of hits (id, title, subtitle).")

    def __init__(self, ws: Workspace, **params: Any):
        super().__init__(ws, **params)
        self.param.watch(lambda _e: self.search(), "query")

    def search(self) -> bool:
        """Search for :attr:`query` (nothing for a blank one)."""
        if not self.query.strip():
            self.param.update(results={}, message="")
            return True
        found = self.attempt(lambda: self.ws.search.everything(self.query, PER_KIND))
        self.results = dict(found or {})
        return found is not None

    def clear(self) -> None:
        """Empty the box and the results (a result was opened)."""
        self.param.update(query="", results={}, message="")


def results_html(results: Mapping[str, Any], query: str, message: str = "") -> str:
    """The grouped results as links to the records' pages; every value escaped."""
    if message:
        return (
            f'<div class="crm-search-results"><p class="crm-error">{html.escape(message)}</p></div>'
        )
    if not query.strip():
        return ""
    groups = []
    for key, kind, heading in GROUPS:
        hits = results.get(key) or []
        if not hits:
            continue
        items = "".join(
            f'<li><a class="crm-search-hit" href="{record_hash(kind, hit["id"])}" dir="auto">'
            f"{html.escape(str(hit.get('title') or ''))}</a>"
            f'<span class="crm-search-sub" dir="auto">{html.escape(str(hit.get("subtitle") or ""))}'
            "</span></li>"
            for hit in hits
        )
        title = html.escape(_(heading))
        groups.append(f'<h5>{title}</h5><ul class="crm-search-{key}">{items}</ul>')
    if not groups:
        nothing = html.escape(_("Nothing found for “{query}”.")).format(
            query=html.escape(query.strip())
        )
        body = f'<p class="crm-empty">{nothing}</p>'
    else:
        body = "".join(groups)
    return f'<div class="crm-search-results" role="listbox">{body}</div>'


#: The results' look (a drop-down under the box, readable in light and dark mode).
STYLE = (Path(__file__).parent / "static" / "search.css").read_text(encoding="utf-8")
#: An input in the coloured header (this box, the language picker): dark text on a
#: light field, in either theme.
HEADER_INPUT_STYLE = ".bk-input { color: #1b1b1b; background-color: #fff; }"


class SearchKeys(ReactiveHTML):
    """The keyboard of the header search (an invisible element): see search_keys.js."""

    _template = '<div id="keys" style="display: none"></div>'
    _scripts = {  # noqa: RUF012 - ReactiveHTML reads this class attribute
        "render": (Path(__file__).parent / "static" / "search_keys.js").read_text(encoding="utf-8"),
        "remove": 'document.removeEventListener("keydown", state.keys, true); '
        'document.removeEventListener("click", state.links, true)',
    }

    def __init__(self, **params: object):
        super().__init__(width=0, height=0, margin=0, **params)


class GlobalSearch(ComponentView):
    """The header's search box and its grouped results."""

    model = param.ClassSelector(class_=GlobalSearchModel, doc="The view-model shown.")
    model_class = GlobalSearchModel

    def _build(self) -> pn.viewable.Viewable:
        m = self.model
        box = pn.widgets.TextInput(
            placeholder=_("Search names, e-mail, phone, deals…"),
            css_classes=["crm-global-search"],
            stylesheets=[HEADER_INPUT_STYLE],
            width=260,
            margin=(8, 10, 0, 10),
        )
        box.param.watch(lambda e: m.param.update(query=e.new), "value_input")
        m.param.watch(
            # both: ``value`` alone leaves ``value_input`` (what the box shows, and
            # what this compares with) at the old query, and a query emptied later
            # (an address without one) then looked already shown
            lambda e: (
                None
                if box.value_input == e.new
                else box.param.update(value=e.new, value_input=e.new)
            ),
            "query",
        )
        results = pn.pane.HTML(
            pn.bind(results_html, m.param.results, m.param.query, m.param.message),
            stylesheets=[STYLE],
            css_classes=["crm-global-results"],
            margin=(0, 10),
            width=0,
            height=0,
        )
        return pn.Column(box, results, SearchKeys(), css_classes=["crm-header-search"], margin=0)
