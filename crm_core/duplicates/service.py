"""``ws.duplicates``: pairs of companies or contacts that are probably one.

What the data-quality review lists and what a merge takes: each pair names both
records, a score 0..100 and the reasons (see :mod:`crm_core.duplicates.scoring`).
Records are read through the workspace, so a user finds pairs only among the records
crm_core lets them see (crm_core.access), and archived records are left out as in every
list. Records linked to an ERP are compared like the others; ``erp_a`` and ``erp_b``
say which are, since merging two linked records also merges them there.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, CompoundSelect, Select, func, literal, select, union_all
from sqlalchemy.orm import Session

from crm_core import access
from crm_core.duplicates import blocking, scoring
from crm_core.errors import FieldError
from crm_core.models import Company, Contact, ExternalLink
from crm_core.services.base import Service, raise_if

#: What can be searched for duplicates: the argument, its model and the entity name
#: ERP links use.
ENTITIES: dict[str, tuple[Any, str]] = {
    "contacts": (Contact, "contact"),
    "companies": (Company, "company"),
}
#: Columns of :meth:`Duplicates.find`'s result.
COLUMNS = ["entity", "id_a", "name_a", "id_b", "name_b", "score", "reasons", "erp_a", "erp_b"]
#: The most pairs one call returns.
MAX_LIMIT = 100_000
#: Candidate pairs scored at once.
SCORE_BATCH = 200_000


class Duplicates(Service):
    """Find companies and contacts that are probably one record: ``ws.duplicates``."""

    entity = "duplicates"

    def find(
        self,
        entity: str = "contacts",
        *,
        min_score: float = scoring.DEFAULT_MIN_SCORE,
        limit: int | None = 1000,
    ) -> pd.DataFrame:
        """Pairs of active ``entity`` records ("contacts" or "companies") scoring at
        least ``min_score`` (0..100), best first, at most ``limit`` (None: all).

        Columns: entity, id_a, name_a, id_b, name_b (``id_a < id_b``; each pair once),
        score (0..100), reasons (``"same phone; names 92% alike"``, strongest first),
        erp_a and erp_b (whether the record is linked to an ERP). Pairs are found by
        blocking keys (e-mail, phone however written, VAT, the name's words and its
        consonant skeleton in any script, a company's or e-mail domain's people) and
        scored with rapidfuzz; see :mod:`crm_core.duplicates.scoring` for the score.
        Raises :class:`~crm_core.errors.ValidationError` for an unknown entity, a score
        outside 0..100 or a limit that is not a whole number 1..:data:`MAX_LIMIT`.
        """
        _check(entity, min_score, limit)
        model, singular = ENTITIES[entity]
        with self._tx() as s:
            frame = self._records(s, model, singular)
            exact = self._shared_values(s, model)
        if frame.empty:
            return pd.DataFrame(columns=COLUMNS)
        feats = blocking.features(frame, entity)
        records = pd.concat([frame, feats], axis=1).set_index("id", drop=False)
        keys = pd.concat([blocking.name_keys(frame, feats), exact], ignore_index=True)
        # Only records read here: the shared values' query ran in the same transaction,
        # but a key must never bring in a record this user cannot see.
        keys = keys[keys["id"].isin(records.index)]
        pairs = blocking.block_pairs(keys, records["words"])
        if len(pairs) == 0:
            return pd.DataFrame(columns=COLUMNS)
        # Scored a slice at a time, keeping what reaches min_score: the pairs of a large
        # base are millions, and a slice's working frames are what takes memory.
        kept = []
        for start in range(0, len(pairs), SCORE_BATCH):
            scored = scoring.score_pairs(records, pairs[start : start + SCORE_BATCH], entity)
            kept.append(scored[scored["score"] >= min_score])
        scored = pd.concat(kept, ignore_index=True)
        scored = scored.sort_values(
            ["score", "id_a", "id_b"], ascending=[False, True, True], kind="stable"
        )
        if limit is not None:
            scored = scored.head(limit)
        return _result(entity, records, scored)

    # -- merging -------------------------------------------------------------------------
    def compare(self, entity: str, id_a: int, id_b: int) -> pd.DataFrame:
        """Two records of ``entity`` ("contacts" or "companies") side by side.

        One row per field a person sees (name, e-mail, phones, address, ..., one
        ``custom.<name>`` per custom value either record has, ``tags`` as a list of
        names) with columns field, a, b, differs and choice: ``"a"`` or ``"b"``, the
        value a merge keeps by default, the most recently changed non-empty one (each
        field's change time from the journal, else the record's ``updated_at``).
        Raises :class:`~crm_core.errors.ValidationError` for an unknown entity or the
        same id twice, :class:`~crm_core.errors.NotFoundError` for an unknown id.
        """
        from crm_core.duplicates import merge

        return merge.compare_records(self.ws, entity, id_a, id_b)

    def merge(
        self, entity: str, keep: int, drop: int, choose: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Merge record ``drop`` of ``entity`` into record ``keep``, in one transaction.

        ``choose`` maps fields of :meth:`compare` to ``"keep"`` or ``"drop"`` (which
        record's value the kept one has); fields not named take compare's choice, and
        tags are both records' unless ``"tags"`` is named. The kept record takes the
        values through the service's validation (values kept as an ERP wrote them stay
        so, marked), everything pointing at the dropped record moves to the kept one
        (deals, activities, interactions, a company's contacts, tag links, campaign
        memberships, the ERP's invoices and orders, any other table with a foreign
        key to it, saved segments filtering on it; ERP links on backends where the kept
        record has none), and the
        dropped record is archived and marked merged into the kept one. When both are
        linked to one ERP, the dropped record keeps its link and the next sync archives
        its twin there (its report says so). Every change is journaled with origin
        ``merge:<merge_id>``. Returns ``{"merge_id", "kept", "dropped", "record"}``
        (the kept record as :meth:`~crm_core.services.parties.Contacts.get` gives it).

        Managers and admins only (:func:`crm_core.access.check_unrestricted`): a merge
        moves everyone's deals. Refuses (naming the ids) an unknown entity or id, the
        same id twice, a record already merged into another, and a bad ``choose``.
        """
        from crm_core.duplicates import merge

        return merge.merge(self.ws, entity, keep, drop, choose)

    def undo(self, merge_id: str) -> dict[str, Any]:
        """Undo merge ``merge_id``: both records and every moved row as they were.

        Refused (naming each change, who made it and when) when anything the merge
        changed has changed since, and for a merge undone already; later changes to
        other fields are kept. Version numbers are not put back (they move forward, so
        an edit based on the merged record cannot pass the version check later).
        Managers and admins only. Returns ``{"merge_id", "entity", "kept", "dropped",
        "changes", "records": {"kept": ..., "dropped": ...}}``.
        """
        from crm_core.duplicates import merge

        return merge.undo(self.ws, merge_id)

    def merges(self, limit: int = 50) -> pd.DataFrame:
        """The latest merges, newest first: merge_id, entity, kept, dropped, at, user
        (login) and undone."""
        from crm_core.duplicates import merge

        return merge.merges(self.ws, limit)

    # -- reading -------------------------------------------------------------------------
    def _visible(self, model: Any) -> list[ColumnElement[bool]]:
        """Active records the acting user may see."""
        return [model.active.is_(True), *access.clauses_for(self.ws, model)]

    def _records(self, s: Session, model: Any, singular: str) -> pd.DataFrame:
        """What blocking and scoring compare of every visible record, and whether it is
        linked to an ERP."""
        linked = select(ExternalLink.local_id).where(
            ExternalLink.entity == singular,
            *access.link_clauses(self.ws, ExternalLink.entity, ExternalLink.local_id),
        )
        columns = [model.id, model.name, model.email_key, model.phone, model.city_key]
        if model is Contact:
            columns += [Contact.mobile, Contact.company_id]
        else:
            columns += [Company.vat]
        query = select(*columns, model.id.in_(linked).label("erp")).where(*self._visible(model))
        rows = s.execute(query.order_by(model.id)).all()
        names = [c.key for c in columns] + ["erp"]
        frame = pd.DataFrame(rows, columns=names)
        frame["erp"] = frame["erp"].astype(bool)
        if "company_id" in frame:
            frame["company_id"] = frame["company_id"].astype("Int64")
        return frame

    def _shared_values(self, s: Session, model: Any) -> pd.DataFrame:
        """Blocking keys of the values the database stores normalised, found by the
        database: (key, id) of every record whose e-mail, phone (in E.164) or VAT
        number another visible record has too (GROUP BY ... HAVING on its indexes)."""
        visible = self._visible(model)
        found: list[pd.DataFrame] = []
        values: list[tuple[str, Select[Any] | CompoundSelect]] = [
            ("e", select(model.id, model.email_key.label("value")).where(*visible)),
        ]
        # Phones as validation stores them (E.164); a number kept as its source wrote it
        # is matched by its digits instead (blocking.name_keys).
        phones = [model.phone] + ([Contact.mobile] if model is Contact else [])
        values.append(
            (
                "P",
                union_all(
                    *(
                        select(model.id, column.label("value")).where(*visible, column.like("+%"))
                        for column in phones
                    )
                ),
            )
        )
        if model is Company:
            vat: Any = Company.vat
            for char in " .-/":
                vat = func.replace(vat, char, "")
            values.append(("v", select(Company.id, func.upper(vat).label("value")).where(*visible)))
        for prefix, query in values:
            rows = query.subquery()
            shared = (
                select(rows.c.value)
                .where(rows.c.value.is_not(None), rows.c.value != "")
                .group_by(rows.c.value)
                .having(func.count(func.distinct(rows.c.id)) > 1)
            )
            keyed = select((literal(prefix) + rows.c.value).label("key"), rows.c.id).where(
                rows.c.value.in_(shared)
            )
            found.append(pd.DataFrame(s.execute(keyed).all(), columns=["key", "id"]))
        out = pd.concat(found, ignore_index=True)
        return out.astype({"id": np.int64})


def _result(entity: str, records: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """The rows of :meth:`Duplicates.find` for the pairs kept."""
    a = records.loc[scored["id_a"]]
    b = records.loc[scored["id_b"]]
    reasons = [
        scoring.reasons(row, words_a, words_b)
        for row, words_a, words_b in zip(
            scored.to_dict("records"), a["words"], b["words"], strict=True
        )
    ]
    return pd.DataFrame(
        {
            "entity": entity,
            "id_a": scored["id_a"].to_numpy(),
            "name_a": a["name"].to_numpy(),
            "id_b": scored["id_b"].to_numpy(),
            "name_b": b["name"].to_numpy(),
            "score": scored["score"].to_numpy(),
            "reasons": reasons,
            "erp_a": a["erp"].to_numpy(dtype=bool),
            "erp_b": b["erp"].to_numpy(dtype=bool),
        },
        columns=COLUMNS,
    )


def _check(entity: Any, min_score: Any, limit: Any) -> None:
    """Refuse arguments :meth:`Duplicates.find` cannot take, naming each."""
    record = "duplicates search"
    errors = []
    if not isinstance(entity, str) or entity not in ENTITIES:
        reason = f"must be one of {', '.join(ENTITIES)}"
        errors.append(FieldError(record, "entity", entity, reason))
    number = isinstance(min_score, numbers.Real) and not isinstance(min_score, bool)
    if not (number and 0 <= min_score <= 100):
        errors.append(FieldError(record, "min_score", min_score, "must be a number 0..100"))
    if limit is not None and not (type(limit) is int and 0 < limit <= MAX_LIMIT):
        reason = f"must be a whole number 1..{MAX_LIMIT} or None"
        errors.append(FieldError(record, "limit", limit, reason))
    raise_if(errors)


__all__ = ["COLUMNS", "ENTITIES", "MAX_LIMIT", "Duplicates"]
