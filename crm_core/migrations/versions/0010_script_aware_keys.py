"""search keys recomputed with the script-aware fold

``crm_core.text.fold`` now also folds the Arabic-script letter forms of Arabic, Persian,
Urdu and Sindhi keyboards (ك/ک, ي/ی/ے, ه/ہ/ھ/ة, ...), drops Arabic harakat and the
tatweel, accents on Latin and Greek letters (Müller/Muller), Russian ё, and reads digits
of every script as ASCII. Every key stored with the old fold is recomputed, so that a
search for "كريم" finds a contact stored as "کریم":

- ``name_key``, ``email_key`` and ``city_key`` of companies and contacts;
- ``name_key`` of deals and of tags;
- the word index of company and contact names (``search_terms``), rebuilt for every
  record whose folded name changed.

Rows are read in pages of ``BATCH`` (keyset on id) and only changed rows are written,
so a workspace of a million contacts migrates in bounded memory.

Tag names are unique by key: two tags whose names were different keys before and are
one now ("Müller" and "Muller") both stay; the older keeps the key, the newer gets
"<key> (tag <id>)" so that nothing is merged behind anyone's back (rename or merge it
in the app).

The downgrade recomputes every key with the fold of 0009's crmbook (NFKC and
case-folding only), written out below since that code is gone.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 09:00:00
"""

import unicodedata
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from crm_core import text

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BATCH = 5000
#: Lengths of the key columns (the models' String(n)).
NAME_KEY, EMAIL_KEY, CITY_KEY, DEAL_KEY, TAG_KEY, TERM = 300, 320, 120, 300, 100, 120
#: Tables with a word index, and the entity name their terms carry.
INDEXED = {"companies": "company", "contacts": "contact"}

Fold = Callable[[str | None], str]

_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff",
    )
)


def _previous_fold(value: str | None) -> str:
    """The fold of crmbook up to revision 0009 (NFKC, case-folded, invisible marks
    removed, whitespace collapsed), for the downgrade."""
    if not value:
        return ""
    cleaned = unicodedata.normalize("NFKC", value).translate(_INVISIBLE).casefold()
    return " ".join(unicodedata.normalize("NFKC", cleaned).split())


def _words(fold: Fold, value: str | None) -> list[str]:
    """The distinct folded words of ``value`` (crm_core.text.words with ``fold``)."""
    seen: dict[str, None] = {}
    current: list[str] = []
    for ch in fold(value) + " ":
        if unicodedata.category(ch)[0] in "LMN":
            current.append(ch)
        elif current:
            seen.setdefault("".join(current), None)
            current = []
    return list(seen)


def _pages(
    conn: sa.Connection, table: sa.TableClause, columns: list[str]
) -> Iterator[Sequence[Any]]:
    """The rows of ``table`` (id first, then ``columns``) in pages of BATCH, by id."""
    last = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, *(table.c[c] for c in columns))
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, sa.column("id", sa.Integer), *(sa.column(c) for c in columns))


def _parties(conn: sa.Connection, fold: Fold, name: str) -> None:
    """Recompute the keys and the word index of companies or contacts."""
    t = _table(name, "name", "email", "city", "active", "name_key", "email_key", "city_key")
    terms = sa.table(
        "search_terms",
        sa.column("entity"),
        sa.column("term"),
        sa.column("record_id"),
        sa.column("sort_key"),
        sa.column("active"),
        sa.column("words"),
    )
    entity = INDEXED[name]
    columns = ["name", "email", "city", "active", "name_key", "email_key", "city_key"]
    for rows in _pages(conn, t, columns):
        changed = []
        reindex = []
        for record_id, nm, email, city, active, name_key, email_key, city_key in rows:
            keys = {
                "k_name": fold(nm)[:NAME_KEY],
                "k_email": fold(email)[:EMAIL_KEY] or None,
                "k_city": fold(city)[:CITY_KEY] or None,
            }
            if (keys["k_name"], keys["k_email"], keys["k_city"]) != (name_key, email_key, city_key):
                changed.append({"k_id": record_id, **keys})
            # A name longer than its key may differ beyond the key: reindex it anyway.
            if keys["k_name"] != name_key or len(nm or "") > TERM:
                reindex.append((record_id, nm, bool(active)))
        if changed:
            conn.execute(
                t.update()
                .where(t.c.id == sa.bindparam("k_id"))
                .values(
                    name_key=sa.bindparam("k_name"),
                    email_key=sa.bindparam("k_email"),
                    city_key=sa.bindparam("k_city"),
                ),
                changed,
            )
        if reindex:
            conn.execute(
                terms.delete().where(
                    terms.c.entity == entity,
                    terms.c.record_id.in_([record_id for record_id, _, _ in reindex]),
                )
            )
            new_terms = []
            for record_id, nm, active in reindex:
                words = _words(fold, nm)
                spelled = f" {' '.join(words)} "
                sort_key = fold(nm)[:TERM]
                for term in dict.fromkeys(w[:TERM] for w in words):
                    new_terms.append(
                        {
                            "entity": entity,
                            "term": term,
                            "record_id": record_id,
                            "sort_key": sort_key,
                            "active": active,
                            "words": spelled,
                        }
                    )
            if new_terms:
                conn.execute(terms.insert(), new_terms)


def _deals(conn: sa.Connection, fold: Fold) -> None:
    t = _table("opportunities", "name", "name_key")
    for rows in _pages(conn, t, ["name", "name_key"]):
        changed = [
            {"k_id": record_id, "k_name": fold(nm)[:DEAL_KEY]}
            for record_id, nm, key in rows
            if fold(nm)[:DEAL_KEY] != key
        ]
        if changed:
            conn.execute(
                t.update()
                .where(t.c.id == sa.bindparam("k_id"))
                .values(name_key=sa.bindparam("k_name")),
                changed,
            )


def _tags(conn: sa.Connection, fold: Fold) -> None:
    """Recompute tag keys, keeping them unique (see the docstring): a workspace has
    few tags, so all are read at once."""
    t = _table("tags", "name", "name_key")
    rows = conn.execute(sa.select(t.c.id, t.c.name, t.c.name_key).order_by(t.c.id)).all()
    taken: set[str] = set()
    wanted: dict[int, str] = {}
    for record_id, nm, _ in rows:
        key = fold(nm)[:TAG_KEY]
        n = 0
        while key in taken:
            n += 1
            suffix = f" (tag {record_id})" + "'" * (n - 1)
            key = fold(nm)[: TAG_KEY - len(suffix)] + suffix
        taken.add(key)
        wanted[record_id] = key
    changed = [
        (record_id, wanted[record_id]) for record_id, _, old in rows if old != wanted[record_id]
    ]
    if not changed:
        return
    update = t.update().where(t.c.id == sa.bindparam("k_id")).values(name_key=sa.bindparam("k_key"))
    # Two steps, so that no row is ever given a key another still holds (unique index):
    # first a placeholder no fold makes (a tab: fold collapses whitespace), then the key.
    conn.execute(update, [{"k_id": i, "k_key": f"\t{i}"} for i, _ in changed])
    conn.execute(update, [{"k_id": i, "k_key": key} for i, key in changed])


def _recompute(fold: Fold) -> None:
    conn = op.get_bind()
    for name in INDEXED:
        _parties(conn, fold, name)
    _deals(conn, fold)
    _tags(conn, fold)


def upgrade() -> None:
    _recompute(text.fold)


def downgrade() -> None:
    _recompute(_previous_fold)
