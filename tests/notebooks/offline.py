"""What a notebook's saved outputs would fetch from the internet when opened.

A notebook works offline when its outputs name no other origin for a script, a
stylesheet, a module, an image or a font: the HTML tags that fetch (``<script src>``,
``<link href>``, ``<img src>``, ...), CSS ``url(...)`` and ``@import``, ES ``import``
of a URL, a Bokeh document's imported stylesheets (``"url": ...``) and the URL lists of
the Panel/Bokeh loader (``js_urls``, ``js_modules``, ``js_exports``, ``css_urls``).

Plain text that merely mentions a URL (a licence header or an error message inside an
inlined library, an SVG namespace) is not a reference and is not reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import nbformat

#: The outputs a browser runs or renders (JupyterLab runs Panel's loader from the
#: holoviews/bokehjs load types, a page exported by nbconvert from the JavaScript).
MIMES = (
    "text/html",
    "application/javascript",
    "application/vnd.holoviews_load.v0+json",
    "application/vnd.bokehjs_load.v0+json",
)
_URL = r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'`<>()\\]*"
_TAG = re.compile(
    r"<(?:script|link|img|iframe|source|embed|object|audio|video|image|use|track|input)\b"
    r"[^>]*?\b(?:src|href|srcset|poster|data|xlink:href)\s*=\s*\\?[\"']?\s*(" + _URL + ")",
    re.I,
)
_CSS = re.compile(r"(?:url\(\s*\\?[\"']?|@import\s+\\?[\"'])\s*(" + _URL + ")", re.I)
_ESM = re.compile(r"(?:\bfrom\s*|\bimport\s*\(?\s*)\\?[\"'](" + _URL + ")")
_STYLESHEET = re.compile(r"\"url\"\s*:\s*\"(" + _URL + ")")
_LOADER = re.compile(
    r"const (?:js_urls|js_modules|css_urls) = \[(.*?)\];|const js_exports = \{(.*?)\};", re.S
)
#: Panel's loader tells RequireJS where a library lives, for pages that have RequireJS
#: (the classic Notebook 6). JupyterLab, Notebook 7 and an exported page opened offline
#: have none and run the inlined copy; see :func:`requirejs_paths`.
_REQUIREJS = re.compile(r"requirejs\.config\((.*?)\);", re.S)


def references(text: str) -> set[str]:
    """The URLs ``text`` (an output's HTML or JavaScript) would fetch."""
    found: set[str] = set()
    for pattern in (_TAG, _CSS, _ESM, _STYLESHEET):
        found.update(m.group(1) for m in pattern.finditer(text))
    for m in _LOADER.finditer(text):
        found.update(re.findall(_URL, "".join(g or "" for g in m.groups())))
    return found


def requirejs_paths(text: str) -> set[str]:
    """The URLs Panel's loader gives RequireJS (used only on a page that has RequireJS)."""
    return {url for m in _REQUIREJS.finditer(text) for url in re.findall(_URL, m.group(1))}


def outputs(nb: nbformat.NotebookNode) -> Iterator[tuple[int, str, str]]:
    """(cell index, mime type, text) of every output a browser would run or render."""
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            for mime in MIMES:
                value = out.get("data", {}).get(mime)
                if value:
                    yield index, mime, value if isinstance(value, str) else "".join(value)


def external(nb: nbformat.NotebookNode) -> list[str]:
    """Every reference to another origin in ``nb``'s outputs, as 'cell N (mime): URL'."""
    return sorted(
        f"cell {index} ({mime}): {url}"
        for index, mime, text in outputs(nb)
        for url in references(text)
    )
