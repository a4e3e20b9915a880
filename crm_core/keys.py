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

from collections.abc import Mapping
from typing import Any

from crm_core import text
from crm_core import validation as v
from crm_core.imports.matching import RowKeys, vat_key
from crm_core.services.parties import EMAIL_KEY

#: The fields of a company or contact that hold a phone number.
PHONE_FIELDS = ("phone", "mobile")

__all__ = ["PHONE_FIELDS", "email_key", "party_keys", "phone_key", "vat_key"]


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
