"""Odoo domains that find partners by e-mail, VAT number and phone.

Odoo stores these as typed: ``0300 1234567``, ``+92 300 123-4567``, ``PK 1234567-8``,
``Imran@Indus.Example.com``. A domain cannot normalise them, so it asks loosely and the
sync compares what comes back in Python (:mod:`erp_bridge.matching`):

- an e-mail with ``=ilike`` (the whole address, any case; ``%`` and ``_`` escaped);
- a VAT number with ``ilike`` on its characters joined by ``%``, so any spaces, dots
  or dashes between them match;
- a phone with ``ilike`` on its last :data:`PHONE_DIGITS` digits joined by ``%``, in
  each phone field: any way of writing a number ends with its subscriber digits,
  whether the country code is written (``+92 300``) or its trunk prefix (``0300``).

ILIKE cannot use a B-tree index, but the searches are batched (:data:`TERMS` terms a
call), so a first sync makes one pass over the partners per batch of records.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

#: The phone fields searched, those of them that are read (Odoo 19 has no mobile).
PHONE_FIELDS = ("phone", "mobile")
#: Trailing digits a phone is looked for by: enough to be selective, few enough to be
#: the subscriber number in every numbering plan.
PHONE_DIGITS = 7
#: Terms per search: the domain stays small enough for one fast round trip.
TERMS = 120


def _like_escaped(value: str) -> str:
    """``value`` matched literally by (I)LIKE: its wildcards escaped."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _spread(chars: str) -> str:
    """``chars`` with ``%`` between them: any separators in between match."""
    return "%".join(_like_escaped(ch) for ch in chars)


def terms(keys: Mapping[str, Collection[str]], fields: Sequence[str]) -> list[list[Any]]:
    """One domain term per key value (and per phone field for a phone)."""
    out: list[list[Any]] = []
    for email in sorted(set(keys.get("email", ()))) if "email" in fields else ():
        if email:
            out.append(["email", "=ilike", _like_escaped(email)])
    if "vat" in fields:
        for vat in sorted(set(keys.get("vat", ()))):
            if vat:
                out.append(["vat", "ilike", _spread(vat)])
    phones = [f for f in PHONE_FIELDS if f in fields]
    for number in sorted(set(keys.get("phone", ()))):
        digits = "".join(ch for ch in number if ch.isdigit())[-PHONE_DIGITS:]
        if len(digits) >= 4:  # shorter is no number (E.164 numbers have more)
            out += [[field, "ilike", _spread(digits)] for field in phones]
    return out


def domains(
    keys: Mapping[str, Collection[str]], fields: Sequence[str], domain: Sequence[Any]
) -> Iterator[list[Any]]:
    """The search domains for ``keys`` within ``domain``: each ORs at most
    :data:`TERMS` terms."""
    found = terms(keys, fields)
    for start in range(0, len(found), TERMS):
        chunk = found[start : start + TERMS]
        yield [*domain, *(["|"] * (len(chunk) - 1)), *chunk]
