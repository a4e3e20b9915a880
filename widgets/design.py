"""The staff app's look, loading nothing from the internet.

Panel's Fast design (the staff app's template) links the Open Sans web font from Google
Fonts on every page: a page opened with no internet waits for it, and the app's
Content-Security-Policy would have to allow that origin. :func:`without_web_fonts`
leaves that link out; the pages draw with the fonts of the user's own machine, which
are also what draws Urdu, Bengali, Tamil and Cyrillic names (a Latin web font never
did).

Panel offers no parameter for "no web font": a design lists its files in the class
attribute ``_resources``, read both by the template and by Panel's page resources. The
staff app's server process empties the font entry of the Fast design, here and
nowhere else; tests/widgets/test_offline_browser.py blocks every request to another
origin and fails if a Panel release loads something new from outside.
"""

from __future__ import annotations

from panel.theme import Fast


def without_web_fonts() -> None:
    """Stop Panel's Fast design linking Google Fonts (in this process: the server's)."""
    if Fast._resources.get("font"):
        Fast._resources = {**Fast._resources, "font": {}}
