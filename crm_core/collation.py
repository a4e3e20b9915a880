"""Alphabetical order for names in every script our users write: the sort key.

Lists of companies, contacts and deals are ordered by name in the database (paged, on a
million rows), so the order must be a stored column that sorts by its bytes. Code-point
order is wrong for Urdu and Sindhi (ٹ پ چ ڈ ڑ ژ گ after ی, ہ before و) and mixes Latin
and Cyrillic capitals and small letters; the folded search key (:func:`crm_core.text.fold`)
fixes case but not the letters' order. The Unicode Collation Algorithm does, and ICU
(PyICU) is its maintained implementation with CLDR's tailorings. ``collation.toml``
says which: Urdu's, which orders the Arabic-script letters as Urdu's alphabet does
(ا ب پ ت ٹ ث ... ن و ہ ھ ء ی ے) and leaves Latin, Cyrillic (ё beside е), Bengali and
Tamil in CLDR's root order, as their own languages have it; the scripts in root order
(Latin, Cyrillic, Arabic, Bengali, Tamil); the Arabic keyboard's ك ي ه as Urdu's ک ی ہ;
and Sindhi's own letters beside Urdu's (CLDR has no Sindhi collation).

:func:`sort_key` is the ICU sort key in hexadecimal: its bytes compare as the names do,
and hexadecimal digits sort the same under any database collation (SQLite's binary
one, PostgreSQL's C or a locale's).
"""

from __future__ import annotations

import tomllib
from importlib.resources import files

import icu

#: Characters of a stored key (the models' String(n)): the first 200 bytes of ICU's
#: key tell apart names far longer than any list shows.
KEY_LENGTH = 400


def _collator() -> icu.Collator:
    """ICU's collator for ``collation.toml`` (see the module's notes)."""
    spec = tomllib.loads(files("crm_core").joinpath("collation.toml").read_text("utf-8"))
    cldr = icu.Collator.createInstance(icu.Locale(spec["locale"])).getRules()
    return icu.RuleBasedCollator(cldr.replace(spec["drop"], "") + "".join(spec["rules"]))


_COLLATOR = _collator()


def sort_key(name: str | None) -> str:
    """The stored sort key of ``name`` ('' for none): names in alphabetical order have
    their keys in byte order. Case and accents count only between otherwise equal
    names (``adam`` < ``Adam`` < ``Ádam`` < ``Anna``)."""
    if not name:
        return ""
    return bytes(_COLLATOR.getSortKey(name)).hex()[:KEY_LENGTH]


def sorted_names(names: list[str]) -> list[str]:
    """``names`` in the same order as the stored keys put them."""
    return sorted(names, key=sort_key)
