"""Text from a workspace, made safe to print on a terminal.

Names, notes and error messages come from people and from ERPs. Printed raw, a
control character could move the cursor, recolour or retitle the terminal, or hide
text (``\\x1b[2J``, ``\\x1b]0;...\\x07``), and a bidirectional override (U+202E) could
show a line in another order than it is. And ``rich`` reads ``[red]`` in a string as
markup. So every value the command line prints goes through :func:`printable`, and
through :func:`cell` (a table cell or title) or :func:`markup` (inside a markup string):

- C0 controls, DEL and C1 controls are shown as escapes: ``\\x1b``, ``\\x7f``, ``\\x85``
  (tab, newline and carriage return as ``\\t``, ``\\n``, ``\\r``: a cell stays one line);
- bidirectional embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069),
  line and paragraph separators (U+2028, U+2029) and lone surrogates (which cannot be
  encoded for the terminal at all) as ``\\u202e``-style escapes;
- everything else, every script included, is printed as it is.
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape as _escape_markup
from rich.text import Text

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(value: Any) -> str:
    """``value`` as text with every control character, bidirectional override and
    lone surrogate shown as an escape (``\\x1b``, ``\\u202e``); no markup is added or
    removed."""
    return _UNSAFE.sub(_escape, value if isinstance(value, str) else str(value))


def markup(value: Any) -> str:
    """``value`` made :func:`printable` and escaped for rich markup, to place inside a
    markup string such as ``f"[red]{markup(name)}[/]"``: ``[red]`` in it prints as
    written."""
    return _escape_markup(printable(value))


def cell(value: Any, style: str = "") -> Text:
    """``value`` as a rich ``Text`` for a table cell, a title or ``console.print``:
    :func:`printable`, and never read as markup."""
    return Text(printable(value), style=style)
