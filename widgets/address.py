"""The browser's address fragment, kept in step with the server both ways.

:class:`Address` is an invisible element of the staff app's page. It reports the
fragment the page was opened (or reloaded) with, then every change the user makes
(a link followed, Back or Forward, an address typed); :meth:`Address.go`
on the server moves the browser to that address, which adds a history entry.

Panel's own ``pn.state.location`` answers every ``hashchange`` event (Back fires one
too) with a second history entry of the same address, cutting off the forward
history; its listener is removed here. This element moves the address with
``history.pushState`` (which fires no ``hashchange``), follows Back and Forward
through ``popstate``, and takes over clicks on the app's ``#/...`` links: one history
entry per page visited, and Back and Forward walk them.
"""

from __future__ import annotations

import param
from panel.reactive import ReactiveHTML


class Address(ReactiveHTML):
    """The page's ``#/...`` address: what the user opened, and where the app sends them."""

    fragment = param.String(
        default="", doc="The browser's address fragment, such as '#/deals/45' (set by the browser)."
    )
    target = param.String(default="", doc="Where :meth:`go` last sent the browser.")
    sent = param.Integer(default=0, doc="Counts :meth:`go` calls (each moves the browser).")
    reloads = param.Integer(default=0, doc="Counts :meth:`reload` calls.")
    ready = param.Integer(
        default=0, doc="Counts the browser's reports of its address (1 once the page loaded)."
    )

    _template = '<div id="address" style="display: none"></div>'
    _scripts = {  # noqa: RUF012 - ReactiveHTML reads this class attribute
        "render": """
            state.follow = () => {
              state.quiet()
              if (data.fragment !== window.location.hash) { data.fragment = window.location.hash }
            }
            // Panel sends a ReactiveHTML's text parameters through its HTML sanitizer,
            // which writes "&" as "&amp;": read back as text, or the address would
            // carry "&amp;" between its filters (and only the first survive a reload).
            state.text = (escaped) => {
              const box = document.createElement("textarea")
              box.innerHTML = escaped
              return box.value
            }
            state.go = (target) => {
              const fragment = state.text(target)
              if (fragment && fragment !== window.location.hash) {
                window.history.pushState(null, "", fragment)
              }
              state.follow()
            }
            // A link to another page of the app (in any shadow root) moves the address
            // with pushState: no hashchange event, which Panel's own Location would
            // answer with a second history entry of the same address.
            state.click = (event) => {
              if (event.defaultPrevented || event.button !== 0 || event.ctrlKey ||
                  event.metaKey || event.shiftKey || event.altKey) { return }
              const link = event.composedPath().find(
                (el) => el.tagName === "A" && (el.getAttribute("href") || "").startsWith("#/"))
              if (link === undefined) { return }
              event.preventDefault()
              state.go(link.getAttribute("href"))
            }
            // Panel's Location (part of every template) answers hashchange, which Back
            // and Forward fire too, with a pushState of its own: a duplicate entry that
            // cuts off the forward history. Its listener is removed; this element keeps
            // the address instead.
            state.quiet = () => {
              for (const other of window.Bokeh.index) {
                if (other._hash_listener !== undefined && other.model.type.endsWith(".Location")) {
                  window.removeEventListener("hashchange", other._hash_listener)
                }
              }
            }
            state.quiet()
            document.addEventListener("click", state.click, true)
            window.addEventListener("popstate", state.follow)
            window.addEventListener("hashchange", state.follow)
            state.follow()
            data.ready = data.ready + 1
        """,
        # Only what the server asks for moves the browser: an echo of the browser's own
        # report, arriving after the user went on, must not pull them back.
        "sent": "state.go(data.target)",
        "reloads": "window.location.reload()",
        "remove": """
            document.removeEventListener("click", state.click, true)
            window.removeEventListener("popstate", state.follow)
            window.removeEventListener("hashchange", state.follow)
        """,
    }

    def __init__(self, **params: object):
        super().__init__(width=0, height=0, margin=0, **params)

    def reload(self) -> None:
        """Load the page again at the same address (a new language, say)."""
        self.reloads += 1

    def go(self, fragment: str) -> None:
        """Move the browser to ``fragment`` (a new history entry if it differs).

        ``fragment`` is set here too: the browser does not report a change the server
        itself asked for, and Back to the address before must read as a change."""
        self.param.update(target=fragment, fragment=fragment, sent=self.sent + 1)
