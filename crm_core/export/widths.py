"""How wide text is drawn in a cell, per character, by script (``widths.toml``): the
workbook fits its columns with it, so Bengali, Tamil and Urdu titles and names fit
their columns instead of being cut as a count of characters would cut them."""

from __future__ import annotations

import bisect
import tomllib
import unicodedata
from functools import cache
from importlib.resources import files


@cache
def _ranges() -> tuple[list[int], list[tuple[int, float]]]:
    text = files("crm_core.export").joinpath("widths.toml").read_text(encoding="utf-8")
    rows = sorted(
        (int(s["first"]), int(s["last"]), float(s["width"])) for s in tomllib.loads(text)["scripts"]
    )
    return [first for first, _l, _w in rows], [(last, width) for _f, last, width in rows]


@cache
def char_width(ch: str) -> float:
    """The drawn width of one character, in Excel's width unit (a digit = 1)."""
    if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0.0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 2.0
    firsts, rest = _ranges()
    code = ord(ch)
    i = bisect.bisect_right(firsts, code) - 1
    if i >= 0 and code <= rest[i][0]:
        return rest[i][1]
    return 1.0
