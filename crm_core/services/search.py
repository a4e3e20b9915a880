"""The global search: one query across contacts, companies and deals.

What the staff app's header search box calls (``ws.search.everything``). Every query it
runs reads a page from an index (the word index of names, the e-mail, phone and mobile
indexes, the deal-name indexes) with a LIMIT, so its time does not grow with the
number of records.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import select

from crm_core import access, db, text
from crm_core import validation as v
from crm_core.errors import FieldError, ValidationError
from crm_core.models import Company, Contact, Opportunity, Stage
from crm_core.services.base import Service
from crm_core.services.parties import EMAIL_KEY, Companies, Contacts, phone_query

#: The kinds of records found, in the order a result lists them.
KINDS = ("contacts", "companies", "deals")
#: The longest query, in characters: nobody types more into a search box.
MAX_QUERY = 200
#: The most hits of one kind a query may ask for.
MAX_PER_KIND = 50
#: Length of a deal's name key (its column).
DEAL_KEY = 300
#: What separates the parts of a hit's subtitle.
SEP = " · "

Hit = dict[str, Any]


class Search(Service):
    """Find any record by what people type into one search box."""

    def everything(self, query: str | None, limit_per_kind: int = 5) -> dict[str, list[Hit]]:
        """The records ``query`` finds, grouped by kind, at most ``limit_per_kind`` of each.

        Returns ``{"contacts": [...], "companies": [...], "deals": [...]}`` (every kind
        present, in that order; a kind with no match has an empty list). Each hit is a
        dict:

        - ``id``: the record's id (``ws.contacts.get(id)``, ``ws.companies.get(id)``,
          ``ws.pipeline.get(id)``);
        - ``kind``: its group, ``"contacts"``, ``"companies"`` or ``"deals"``;
        - ``title``: the record's name;
        - ``subtitle``: a contact's company, e-mail and phone; a company's city,
          e-mail and phone; a deal's stage, amount and currency, and its company
          (or contact); the parts that are set, joined by ``" · "``;
        - ``matched``: the field the query matched: ``"name"``, ``"email"``,
          ``"phone"`` or ``"mobile"``.

        What ``query`` matches:

        - a name (contacts and companies): every word of the query starts a word of
          the name, in any script and case, with or without accents and in either
          keyboard's Arabic-script letter forms (:func:`crm_core.text.fold`:
          ``"muller"`` finds "Müller", ``"كريم"`` "کریم"; ``"imr kh"`` finds "Imran Khan",
          ``"عمران"``, ``"রহিম"``, ``"முருகன்"``, ``"иван"`` their owners), in name order;
        - an e-mail, whole or its beginning, any case (``"Imran.K"``,
          ``"imran.khan@example.pk"``); a single word also finds e-mails starting
          with it after the names it finds;
        - a phone number as people write it (``"0318 8895048"``, ``"+92 318-8895048"``,
          ``"(212) 555-0100"``): a national number is read with each record's country,
          then the workspace's phone region, and matched to the stored number (phone,
          or a contact's mobile);
        - a deal whose name starts with the query (any case and script).

        Archived records are not found. A sales user finds only the deals they own (as
        in every other list, crm_core.access); contacts and companies are everyone's.
        A blank query (None, empty, only spaces) finds nothing. Raises
        :class:`ValidationError` for a query that is not text, longer than
        :data:`MAX_QUERY` characters or holding characters no database stores, and
        for ``limit_per_kind`` not a whole number 1..:data:`MAX_PER_KIND`.
        """
        typed = _checked(query, limit_per_kind)
        found: dict[str, list[Hit]] = {kind: [] for kind in KINDS}
        if typed is None:
            return found
        n = limit_per_kind
        parties: tuple[tuple[str, Contacts | Companies], ...] = (
            ("contacts", self.ws.contacts),
            ("companies", self.ws.companies),
        )
        _, phone = phone_query(typed, None)
        if phone is not None:
            for kind, service in parties:
                found[kind] = self._by_phone(service, kind, phone, n)
        elif "@" in typed:
            for kind, service in parties:
                found[kind] = self._by_email(service, kind, typed, n)
        elif text.words(typed):
            for kind, service in parties:
                hits = self._by_name(service, kind, typed, n)
                if len(hits) < n and len(typed.split()) == 1:
                    # A single word may be the start of an e-mail address.
                    seen = {hit["id"] for hit in hits}
                    more = self._by_email(service, kind, typed, n)
                    hits += [hit for hit in more if hit["id"] not in seen][: n - len(hits)]
                found[kind] = hits
        else:
            return found  # punctuation only: no word, no number, no address
        found["deals"] = self._deals(typed, n)
        return found

    # -- contacts and companies ---------------------------------------------------------
    def _by_name(self, service: Contacts | Companies, kind: str, typed: str, n: int) -> list[Hit]:
        """Records whose name has a word starting with each word typed, in name order:
        the parties' own type-ahead search (one page from the word index)."""
        frame = service.search(typed, limit=n)
        return [_party_hit(kind, row, "name") for row in _rows(frame)]

    def _by_phone(self, service: Contacts | Companies, kind: str, phone: str, n: int) -> list[Hit]:
        """Records whose phone or mobile is ``phone`` as the parties' search reads it
        (each reading on records of its region, the workspace region's on any)."""
        frame = service.search(phone=phone, limit=n)
        numbers = set(v.phone_readings(phone)) | {phone, phone.strip()}
        hits = []
        for row in _rows(frame):
            by_mobile = row.get("phone") not in numbers and row.get("mobile") in numbers
            hits.append(_party_hit(kind, row, "mobile" if by_mobile else "phone"))
        return hits

    def _by_email(self, service: Contacts | Companies, kind: str, typed: str, n: int) -> list[Hit]:
        """Records whose e-mail starts with ``typed`` (any case), in e-mail order: a
        range of the e-mail index, so the exact address comes first."""
        m = service.model
        key = text.fold(typed)[:EMAIL_KEY]
        if not key:
            return []
        columns = [m.id, m.name, m.email, m.phone]
        query = select(*columns)
        if m is Contact:
            query = select(*columns, Contact.mobile, Company.name.label("company")).outerjoin(
                Company, Company.id == Contact.company_id
            )
        else:
            query = select(*columns, Company.city)
        query = (
            query.where(
                # Not "active": the planner must take the e-mail index (db.not_indexed).
                db.not_indexed(m.active).is_(True),
                m.email_key >= key,
                m.email_key < key + text.PREFIX_END,
            )
            .order_by(m.email_key, m.id)
            .limit(n)
        )
        with self._tx() as s:
            rows = [dict(row) for row in s.execute(query).mappings()]
        return [_party_hit(kind, row, "email") for row in rows]

    # -- deals ---------------------------------------------------------------------------
    def _deals(self, typed: str, n: int) -> list[Hit]:
        """Deals the acting user may see whose name starts with ``typed`` (any case),
        in name order: a range of the deal-name index (a sales user's: of the index of
        their own deals)."""
        key = text.fold(typed)[:DEAL_KEY]
        if not key:
            return []
        o = Opportunity
        query = (
            select(
                o.id,
                o.name,
                o.expected_revenue,
                o.currency,
                Stage.name.label("stage"),
                Company.name.label("company"),
                Contact.name.label("contact"),
            )
            .join(Stage, Stage.id == o.stage_id)
            .outerjoin(Company, Company.id == o.company_id)
            .outerjoin(Contact, Contact.id == o.contact_id)
            .where(
                o.active.is_(True),
                o.name_key >= key,
                o.name_key < key + text.PREFIX_END,
                *access.deal_clauses(self.ws, o),
            )
            .order_by(o.name_key, o.id)
            .limit(n)
        )
        with self._tx() as s:
            rows = list(s.execute(query).mappings())
        hits = []
        for row in rows:
            amount = Decimal(row["expected_revenue"] or 0)
            parts = [row["stage"], f"{amount:,.2f} {row['currency']}"]
            parts.append(row["company"] or row["contact"])
            hits.append(_hit("deals", row["id"], row["name"], parts, "name"))
        return hits


def _checked(query: Any, limit_per_kind: Any) -> str | None:
    """The query as searched (stripped), None when blank; refuses what is no query."""
    errors = []
    typed: str | None = None
    try:
        raw = v.query_text(query)
    except v.Reject as exc:
        errors.append(FieldError("search", "query", query, str(exc)))
    else:
        typed = text.clean(raw)
        if typed is not None and len(typed) > MAX_QUERY:
            reason = f"is {len(typed)} characters long; a search takes at most {MAX_QUERY}"
            errors.append(FieldError("search", "query", query, reason))
    if not (type(limit_per_kind) is int and 0 < limit_per_kind <= MAX_PER_KIND):
        reason = f"must be a whole number 1..{MAX_PER_KIND}"
        errors.append(FieldError("search", "limit_per_kind", limit_per_kind, reason))
    if errors:
        raise ValidationError(errors)
    return typed


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A listing's rows as dicts, pandas' missing values as None."""
    return [
        {k: (None if _missing(x) else x) for k, x in row.items()}
        for row in frame.to_dict("records")
    ]


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array: a value
        return False


def _party_hit(kind: str, row: Mapping[str, Any], matched: str) -> Hit:
    """A contact's or company's hit from a row of its listing."""
    phone = row.get("phone") or row.get("mobile")
    if matched == "mobile":
        phone = row.get("mobile")
    shown_phone = v.format_phone(phone) if phone else None
    where = row.get("company") if kind == "contacts" else row.get("city")
    return _hit(kind, row["id"], row["name"], [where, row.get("email"), shown_phone], matched)


def _hit(kind: str, record_id: Any, title: Any, parts: list[Any], matched: str) -> Hit:
    return {
        "id": int(record_id),
        "kind": kind,
        "title": title,
        "subtitle": SEP.join(str(p) for p in parts if p),
        "matched": matched,
    }


__all__ = ["KINDS", "MAX_PER_KIND", "MAX_QUERY", "Search"]
