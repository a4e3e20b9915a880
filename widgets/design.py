"""The staff app's look: its own fonts for every script it shows, the direction of
the page, and nothing loaded from the internet.

Fonts. Panel's Fast design (the staff app's template) links the Open Sans web font from
Google Fonts on every page: a page opened with no internet waits for it, the app's
Content-Security-Policy would have to allow that origin, and a Latin font never drew
Urdu, Bengali or Tamil anyway. :func:`without_web_fonts` leaves that link out and puts
the app's own fonts in its place: Noto subsets shipped in the wheel (``fonts/``, SIL
Open Font License, ``fonts/OFL.txt``) for Latin and Cyrillic, Arabic script (Urdu,
Sindhi: Noto Naskh Arabic), Bengali and Tamil, declared as one family ``crmbook``
(:data:`FONT_STACK`) whose faces each cover one script (``unicode-range``: a page
downloads only the scripts it shows). A user's machine needs no font installed.

They are served by Panel's own component-resource route, which every ``pn.serve``
server has and which serves only the files a class lists (:class:`AppFonts`):
``components/widgets.design/AppFonts/__css__/fonts/fonts.css`` (:data:`FONT_CSS_PATH`)
and the ``.woff2`` files beside it, from the app's own origin, before login too (the
login page uses them). tests/widgets/test_offline_browser.py blocks every request to
another origin and fails if a Panel release loads something new from outside.

Direction. Urdu and Sindhi pages read right to left: :func:`page_attributes` gives
the ``<html>`` attributes and :func:`page_css` the styles that mirror the page (the
navigation on the right) for a language; :func:`dress` applies both and the fonts to
a Panel template.

Panel offers no parameter for "no web font": a design lists its files in the class
attribute ``_resources``, read both by the template and by Panel's page resources. The
staff app's server process empties the font entry of the Fast design, here and
nowhere else.
"""

from __future__ import annotations

from typing import Any, ClassVar

from widgets import i18n

#: The fonts of every page, first the app's own (one family, every script).
FONT_STACK = '"crmbook", "Noto Sans", system-ui, sans-serif'
_FONT_FILES = [
    "fonts/fonts.css",
    *(
        f"fonts/{script}-{weight}.woff2"
        for script in ("latin-cyrillic", "arabic", "bengali", "tamil")
        for weight in ("regular", "bold")
    ),
]
#: The fonts' stylesheet, relative to the app's root (behind a prefix too).
FONT_CSS_PATH = "components/widgets.design/AppFonts/__css__/fonts/fonts.css"


#: The app's logo (the login page shows it), relative to the app's root.
LOGO_PATH = "components/widgets.design/AppFonts/__css__/templates/logo.svg"


class AppFonts:
    """The files Panel's ``/components/`` route may serve from this module's folder:
    the fonts' stylesheet, the fonts and the logo (it serves nothing a class does not
    list)."""

    __css__: ClassVar[list[str]] = [*_FONT_FILES, "templates/logo.svg"]


#: The page's text in the app's fonts; Bokeh's and the Fast design's widgets (in
#: shadow roots) read the font from these inherited variables. The charts draw on a
#: canvas, which uses a web font only once it is loaded and never asks for one: a
#: letter of each script, out of sight, has the browser load every face with the page
#: (names of any script can be on a chart, whatever the user's language).
FONT_CSS = f"""
html, body {{ font-family: {FONT_STACK}; }}
body {{ --body-font: {FONT_STACK}; --bokeh-base-font: {FONT_STACK}; --base-font: {FONT_STACK}; }}
body::after {{ content: "a\\42F\\627\\995\\BA4"; font-family: {FONT_STACK};
  position: absolute; left: 0; top: 0; width: 1px; height: 1px; overflow: hidden; opacity: 0;
  pointer-events: none; }}
"""

#: Right-to-left pages: text starts on the right, rows and the navigation are mirrored
#: (flex rows follow the direction), numbers and codes keep their own order.
RTL_CSS = """
html[dir="rtl"] body { direction: rtl; text-align: right; }
html[dir="rtl"] #sidebar { border-right: none; border-left: 2px solid var(--neutral-fill-rest);
                           transform-origin: center right; }
html[dir="rtl"] #header .title { margin-left: 0; margin-right: 0.5em; }
html[dir="rtl"] input[type="number"], html[dir="rtl"] input[type="email"],
html[dir="rtl"] input[type="tel"] { direction: ltr; text-align: right; }
"""


def without_web_fonts() -> None:
    """Stop Panel's Fast design linking Google Fonts, and link the app's own fonts on
    every page instead (in this process: the server's)."""
    import panel as pn
    from panel.theme import Fast

    if Fast._resources.get("font"):
        Fast._resources = {**Fast._resources, "font": {}}
    if FONT_CSS_PATH not in pn.config.css_files:
        pn.config.css_files = [*pn.config.css_files, FONT_CSS_PATH]
    if FONT_CSS not in pn.config.raw_css:
        pn.config.raw_css = [*pn.config.raw_css, FONT_CSS]


def without_mathjax() -> None:
    """Leave Bokeh's MathJax bundle (1.8 MB of script, a quarter of a page's weight) off
    the app's pages (in this process: the server's).

    Panel 1.9 ships it with any page holding an HTML pane, in case its text is LaTeX
    (holoviz/panel#8424); the app writes none: its HTML panes have ``disable_math`` on,
    and its alerts escape ``$``. Without the bundle Panel shows such text as it is."""
    from panel.io import resources

    if hasattr(resources, "_panel_use_mathjax"):
        resources._panel_use_mathjax = lambda _roots: False


def page_attributes(language: str | None = None) -> str:
    """The ``<html>`` attributes for a page in ``language`` (default: the session's):
    ``dir="rtl"`` or ``dir="ltr"``."""
    return f'dir="{i18n.direction(language)}"'


#: The page's width is the device's (the login pages say the same).
VIEWPORT = "width=device-width, initial-scale=1"


def page_css(language: str | None = None) -> list[str]:
    """The styles a page in ``language`` needs besides the fonts: the mirrored layout
    of a right-to-left language (none for the others)."""
    return [RTL_CSS] if i18n.direction(language) == "rtl" else []


def dress(template: Any, language: str | None = None) -> Any:
    """Give a Panel template (``pn.template.FastListTemplate``) the direction and
    styles of ``language`` (default: the session's) and the app's fonts; returns it."""
    # Panel's page template writes ``html_attrs`` into ``<html ...>``; a served page's
    # Bokeh document carries the template's variables (public: template_variables).
    import panel as pn

    doc = pn.state.curdoc
    if doc is not None:
        doc.template_variables["html_attrs"] = page_attributes(language)
    else:  # shown later (``.servable()``, ``.save()``): kept with the template's own
        template._render_variables["html_attrs"] = page_attributes(language)
    template.config.raw_css = [*template.config.raw_css, FONT_CSS, *page_css(language)]
    if hasattr(template.param, "font"):
        template.font = FONT_STACK
    if hasattr(template.param, "meta_viewport"):
        # Without it a phone lays the page out 980 px wide and shrinks it: the
        # navigation would never stack.
        template.meta_viewport = VIEWPORT
    return template
