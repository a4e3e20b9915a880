"""The keys a company or contact is recognised by: its e-mail, VAT number and phones.

Another copy of a record (a row of a file, a partner in an ERP) is the same company or
person when one of these keys is equal, whatever way each side wrote it: an e-mail in
any case, a VAT number with or without spaces and dots, a phone in national or
international format. Each key is the value as crm_core stores and compares it, so
a value from elsewhere is put through crm_core's own validation first; a value that
validation refuses (kept as written, marked as not validated) has no key and never
matches. File imports (:mod:`crm_core.imports.matching`) and the ERP sync's first
match (``erp_bridge.matching``) both compare by these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm_core import text
from crm_core import validation as v
from crm_core.services.parties import EMAIL_KEY

#: The fields of a company or contact that hold a phone number.
PHONE_FIELDS = ("phone", "mobile")

__all__ = [
    "PHONE_FIELDS",
    "WEAK",
    "RowKeys",
    "contradicts",
    "email_key",
    "party_keys",
    "phone_key",
    "vat_key",
]

_VAT_NOISE = re.compile(r"[\s.\-/]")


#: Keys that several people may share (an office's phone, a common name): they do not
#: find a record whose e-mail says it is someone else.
WEAK = ("phone", "name")


def contradicts(row: RowKeys, email: str | None) -> bool:
    """Whether a record with ``email`` (its folded key) is someone other than ``row``
    by its e-mail: both have one and they differ."""
    return row.email is not None and email is not None and email != row.email


def vat_key(value: Any) -> str | None:
    """A VAT number as compared: upper case, without spaces, dots, dashes, slashes."""
    if not isinstance(value, str):
        return None
    key = _VAT_NOISE.sub("", value).upper()
    return key or None


@dataclass(frozen=True)
class RowKeys:
    """The values a row can be matched by (None or empty: the row has no such key)."""

    erp_id: int | None = None
    email: str | None = None
    vat: str | None = None
    phones: tuple[str, ...] = ()
    name: str | None = None
    #: The company a contact's or deal's name is looked for in.
    company_id: Any = None

    def values(self, key: str) -> tuple[Any, ...]:
        """The row's values for ``key`` (the name is keyed with the company)."""
        if key == "phone":
            return self.phones
        if key == "name":
            return () if self.name is None else ((self.name, self.company_id),)
        value = getattr(self, key)
        return () if value is None else (value,)


def email_key(value: Any) -> str | None:
    """The key an e-mail address is compared by: the address as crm_core stores it,
    folded like the ``email_key`` column (so ``Imran@Indus.Example.com`` and
    ``imran@indus.example.com`` share one). None for no address or one crm_core
    refuses."""
    try:
        address = v.email(value)
    except v.Reject:
        return None
    if address is None:
        return None
    return text.fold(address)[:EMAIL_KEY] or None


def phone_key(value: Any, *regions: str | None) -> str | None:
    """A phone number's key: its E.164 form, a national number read in ``regions`` in
    turn (the record's country first, then the workspace's phone region), as
    :func:`crm_core.validation.phone` stores it. None for no number or one that is no
    valid number in any of them."""
    try:
        return v.phone(value, *regions)
    except v.Reject:
        return None


def party_keys(values: Mapping[str, Any], region: str | None) -> RowKeys:
    """The keys of a company's or contact's field values (``email``, ``vat``,
    ``phone``, ``mobile`` and ``country``, any of them missing): a national-format
    phone is read in the record's own country, then in ``region`` (the workspace's
    phone region)."""
    country = values.get("country")
    phones = (phone_key(values.get(f), country, region) for f in PHONE_FIELDS)
    return RowKeys(
        email=email_key(values.get("email")),
        vat=vat_key(values.get("vat")),
        phones=tuple(dict.fromkeys(p for p in phones if p)),
    )
