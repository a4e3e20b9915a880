"""Titles people read: report columns, chart series, sheet and chart titles, in the
reader's language (the data is ``labels.toml`` beside this module).

Why a data file rather than a gettext catalogue: these titles are keyed by the column
identifier (``age_90_plus``), not by an English sentence, one column reads differently
in two reports, and one line holds a title with all its translations, so a missing one
shows; crm_core knows no UI and needs no compiled catalogue for it.

A language without a translation falls back to English; an identifier without a title
is shown as its own words (``weighted_value`` -> "Weighted value"). A report column
``<name>_converted`` (an amount in the reporting currency) is titled from ``<name>``:
"Revenue (USD)".
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files
from typing import Any

from crm_core.errors import FieldError, ValidationError
from crm_core.languages import DEFAULT, NOT_A_LANGUAGE, choices, ui_languages

#: The suffix of a report column holding an amount converted to the reporting currency.
CONVERTED = "_converted"
#: Languages written right to left (their sheets are shown right to left).
RIGHT_TO_LEFT = frozenset({"ar", "fa", "he", "ps", "sd", "ug", "ur", "yi"})


@cache
def _data() -> dict[str, Any]:
    text = files("crm_core.reports").joinpath("labels.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def language_code(language: str | None) -> str:
    """``language`` as one of the app's codes (``ur-PK`` -> ``ur``); English for None or
    an empty one. A language the titles are not written in (``xx``) is refused:
    :class:`~crm_core.errors.ValidationError` naming the languages there are (a
    workbook asked for in it would otherwise come out in English without a word)."""
    if language is None or not str(language).strip():
        return DEFAULT
    code = str(language).strip().replace("-", "_").lower().partition("_")[0]
    if code not in ui_languages():
        reason = NOT_A_LANGUAGE.format(choices=choices())
        raise ValidationError([FieldError("workbook", "language", language, reason)])
    return code


def right_to_left(language: str | None) -> bool:
    """True when ``language`` is written right to left (Urdu, Sindhi)."""
    return language_code(language) in RIGHT_TO_LEFT


def _pick(entry: dict[str, str] | None, language: str | None) -> str | None:
    if not entry:
        return None
    return entry.get(language_code(language)) or entry.get(DEFAULT)


def humanized(identifier: str) -> str:
    """An identifier as words: ``weighted_value`` -> "Weighted value"."""
    words = identifier.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else identifier


def column_label(
    column: str,
    language: str | None = None,
    *,
    report: str | None = None,
    declared: str = "",
    currency: str | None = None,
) -> str:
    """The title of ``column`` (of ``report``, when given) in ``language``: the
    report's own title for it, else the column's title, else ``declared`` (a
    :class:`~crm_core.reports.Column`'s ``label``), else its words. ``currency`` names
    the reporting currency of a ``*_converted`` column."""
    data = _data()
    if report is not None:
        found = _pick(data.get("reports", {}).get(report, {}).get(column), language)
        if found:
            return found
    found = _pick(data["columns"].get(column), language)
    if found:
        return found
    if declared:
        return declared
    if column.endswith(CONVERTED) and len(column) > len(CONVERTED):
        base = column_label(column[: -len(CONVERTED)], language, report=report)
        if currency:
            return word("converted", language, label=base, currency=currency)
        return word("converted_plain", language, label=base)
    return humanized(column)


def value_label(value: str, language: str | None = None) -> str:
    """A value a chart draws as a series or category (a forecast method, an outcome),
    as people read it; other values are returned as they are."""
    return _pick(_data()["values"].get(value), language) or value


def parameter_label(key: str, language: str | None = None) -> str:
    """A cover parameter's name (``contents``, ``period_from``...) in ``language``; in
    English, and without a translation, the identifier itself."""
    if language_code(language) == DEFAULT:
        return key
    return _pick(_data()["parameters"].get(key), language) or key


#: Report columns whose values are words of ``[values]`` (a deal's outcome, "won" or
#: "lost"): written in the workbook's language, as the charts draw them.
WORD_COLUMNS = frozenset({"outcome"})


def cell_value(column: str, value: object, language: str | None = None) -> object:
    """A report cell as a workbook in ``language`` shows it: the value of a
    :data:`WORD_COLUMNS` column in words (:func:`value_label`), any other as it is."""
    if column in WORD_COLUMNS and isinstance(value, str) and language_code(language) != DEFAULT:
        return _pick(_data()["values"].get(value), language) or value
    return value


def title(text: str, language: str | None = None) -> str:
    """A report, sheet, workbook or chart title (its English text) in ``language``;
    the text itself when there is no translation."""
    if language_code(language) == DEFAULT:
        return text
    return _pick(_data()["titles"].get(text), language) or text


def word(key: str, language: str | None = None, **fields: Any) -> str:
    """One of the workbook's own words (``[words]`` in labels.toml), filled in with
    ``fields``."""
    text = _pick(_data()["words"].get(key), language)
    if text is None:
        raise KeyError(f"labels.toml has no word {key!r}")
    return text.format(**fields) if fields else text


def translations(section: str = "columns") -> dict[str, dict[str, str]]:
    """Every entry of a section of labels.toml (for checks and tests)."""
    return {k: dict(v) for k, v in _data()[section].items()}
