"""Blocking: what each record is compared by, and the pairs worth scoring.

Comparing every record with every other is n²/2 pairs: 5 billion for 100,000 contacts.
Instead each record gets a few *blocking keys*, and only records sharing a key are
paired: one name's consonant skeleton in any script and word order, one name word with
the initials of the others (a typo elsewhere in the name), a company's or an e-mail
domain's people by one name word, a phone number however it was written. The exact
keys that the database stores (e-mail, phone, VAT) are grouped by the database itself
(see :mod:`crm_core.duplicates.service`).

A block larger than :data:`CAP` records (every "Muhammad Khan" of a big customer
base) is not paired all with all: its records are sorted by name and each is paired
with the :data:`WINDOW` records after it (the sorted-neighbourhood method), so the work
stays linear in the number of records.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import numpy as np
import pandas as pd
from anyascii import anyascii

from crm_core import text
from crm_core.keys import vat_key

#: Blocks up to this many records are paired all with all.
CAP = 40
#: In a larger block, how many following records (in name order) each one is paired with.
WINDOW = 8
#: The digits of a phone number that identify it however it is written: the national
#: number's end, the same in "+92 300 1234567", "0300-1234567" and "3001234567".
PHONE_DIGITS = 9
#: Fewer digits than this are an extension or a typo, not a number to match on.
MIN_PHONE_DIGITS = 7

_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")
_NOT_LATIN = re.compile("[^a-z ]+")
_NOT_DIGIT = re.compile(r"\D+")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


@dataclass(frozen=True)
class Rules:
    """Word lists of ``rules.toml``, folded as names are."""

    free_mail: frozenset[str]
    legal_forms: frozenset[str]
    titles: frozenset[str]
    placeholders: frozenset[str]


@cache
def rules() -> Rules:
    """The word lists of ``rules.toml`` beside this module (read once)."""
    raw = files("crm_core.duplicates").joinpath("rules.toml").read_text(encoding="utf-8")
    data = tomllib.loads(raw)

    def folded(name: str) -> frozenset[str]:
        return frozenset(" ".join(text.words(w)) for w in data[name])

    return Rules(
        free_mail=frozenset(text.fold(d) for d in data["free_mail"]),
        legal_forms=folded("legal_forms"),
        titles=folded("titles"),
        placeholders=folded("placeholders"),
    )


def name_words(name: str | None, entity: str) -> list[str]:
    """The folded words a name is compared by: a person's without titles (Dr, جناب), a
    company's without its legal form (Ltd, GmbH, ООО); all of them when nothing else is
    left. A placeholder ("N/A", "unknown") has none."""
    words = text.words(name)
    r = rules()
    if " ".join(words) in r.placeholders:
        return []
    noise = r.legal_forms if entity == "companies" else r.titles
    kept = [w for w in words if w not in noise]
    return kept or words


def phone_tail(phone: str | None) -> str | None:
    """The end of a phone number's digits (:data:`PHONE_DIGITS`), how two numbers
    written differently are recognised as one; None for no number."""
    if not isinstance(phone, str):  # None, or pandas' NaN for a column of no numbers
        return None
    digits = _NOT_DIGIT.sub("", phone)
    return digits[-PHONE_DIGITS:] if len(digits) >= MIN_PHONE_DIGITS else None


def features(frame: pd.DataFrame, entity: str) -> pd.DataFrame:
    """Per record, what blocking and scoring compare: ``words`` (the folded name),
    ``latin`` (its ASCII transliteration), ``skeleton`` (its consonant skeleton, words
    sorted), ``script`` (of its first letter), ``abjad`` (written in Arabic script,
    which writes no short vowels), ``phones`` (:func:`phone_tail` of each number) and
    ``phone_counts`` (how many records have each), ``email_count`` (how many records
    have the e-mail), ``domain`` (a company's own e-mail domain, not a free mail
    service's) and ``vat_key``.

    ``frame`` has the columns read by the service: id, name, email_key, phone, city_key,
    and mobile and company_id (contacts) or vat (companies).
    """
    free = rules().free_mail
    out = pd.DataFrame(index=frame.index)
    words = [" ".join(name_words(n, entity)) for n in frame["name"]]
    out["words"] = words
    latin = [_NOT_LATIN.sub("", anyascii(w).lower()) if not w.isascii() else w for w in words]
    out["latin"] = [" ".join(w.split()) for w in latin]
    out["skeleton"] = [" ".join(sorted(text.latin_skeleton(w).split())) for w in words]
    out["script"] = [_script(w) for w in words]
    out["abjad"] = [bool(_ARABIC_SCRIPT.search(w)) for w in words]
    numbers = [frame["phone"]] + ([frame["mobile"]] if "mobile" in frame else [])
    out["phones"] = [
        tuple(dict.fromkeys(k for k in map(phone_tail, row) if k))
        for row in zip(*numbers, strict=True)
    ]
    # How many records have each number and address: one that many have (a
    # switchboard, info@) identifies no one.
    phone_counts = Counter(k for keys in out["phones"] for k in keys)
    out["phone_counts"] = [tuple(phone_counts[k] for k in keys) for keys in out["phones"]]
    out["email_count"] = frame["email_key"].map(frame["email_key"].value_counts()).fillna(0)
    domains = [e.rpartition("@")[2] if isinstance(e, str) else "" for e in frame["email_key"]]
    out["domain"] = [d if d and d not in free else None for d in domains]
    out["vat_key"] = [vat_key(v) for v in frame["vat"]] if "vat" in frame else None
    return out


def _script(words: str) -> str:
    """The script of the first letter of ``words`` (LATIN, ARABIC, CYRILLIC, ...)."""
    for ch in words:
        if ch.isalpha():
            return unicodedata.name(ch, "?").split(" ")[0]
    return ""


def name_keys(frame: pd.DataFrame, feats: pd.DataFrame) -> pd.DataFrame:
    """The computed blocking keys, one row per (key, id): a name's sorted skeleton; each
    name word with the initials of the others; each name word's skeleton with the
    record's company (contacts) or own e-mail domain; and the phone key of a number
    kept as its source wrote it (one stored in E.164 is grouped by the database)."""
    keys: list[str] = []
    ids: list[int] = []
    company: list[int | None] = [None] * len(frame)
    if "company_id" in frame:
        company = [None if pd.isna(c) else int(c) for c in frame["company_id"]]
    for record_id, skeleton, latin, domain, company_id in zip(
        frame["id"], feats["skeleton"], feats["latin"], feats["domain"], company, strict=True
    ):
        own: list[str] = []
        parts = skeleton.split()
        if len(skeleton) > 1:
            own.append("s" + skeleton)
        tokens = latin.split()
        for i, token in enumerate(tokens):
            if len(token) > 1:
                initials = "".join(sorted(t[0] for j, t in enumerate(tokens) if j != i))
                own.append(f"t{token}|{initials}")
        for part in parts:
            if isinstance(domain, str):  # not None (pandas may hold it as NaN)
                own.append(f"d{domain}|{part}")
            if company_id is not None:
                own.append(f"c{company_id}|{part}")
        keys.extend(own)
        ids.extend([record_id] * len(own))
    found = pd.DataFrame({"key": keys, "id": np.asarray(ids, dtype=np.int64)})
    return pd.concat([found, _written_phones(frame, feats)], ignore_index=True)


def _written_phones(frame: pd.DataFrame, feats: pd.DataFrame) -> pd.DataFrame:
    """Phone keys of numbers stored as written (not E.164), with the records of every
    number ending in the same digits."""
    columns = ["phone"] + (["mobile"] if "mobile" in frame else [])
    written = set()
    for column in columns:
        for phone in frame[column]:
            if isinstance(phone, str) and not _E164.fullmatch(phone):
                key = phone_tail(phone)
                if key:
                    written.add(key)
    keys = [
        ("p" + key, record_id)
        for record_id, phones in zip(frame["id"], feats["phones"], strict=True)
        for key in phones
        if key in written
    ]
    return pd.DataFrame(keys, columns=["key", "id"]).astype({"id": np.int64})


def block_pairs(keys: pd.DataFrame, order: pd.Series) -> np.ndarray:
    """Candidate pairs ``[[id_a, id_b], ...]`` (id_a < id_b, each pair once) of records
    sharing a key in ``keys`` (columns key, id): all pairs of a block of up to
    :data:`CAP` records, neighbours within :data:`WINDOW` in ``order`` (a sort key per
    id, the folded name) in a larger one."""
    if keys.empty:
        return np.empty((0, 2), dtype=np.int64)
    keyed = keys.drop_duplicates(["key", "id"]).copy()
    keyed["order"] = order.reindex(keyed["id"]).to_numpy()
    keyed = keyed.sort_values(["key", "order", "id"], kind="stable")
    group = pd.factorize(keyed["key"])[0]
    ids = keyed["id"].to_numpy(dtype=np.int64)
    size = np.bincount(group)[group]
    # Two ids in one int64 sort and de-duplicate several times faster, in half the
    # memory, than pairs of rows (ids of 31 bits: two thousand million records).
    packed = len(ids) == 0 or (int(ids.min()) >= 0 and int(ids.max()) < 2**31)
    found = []
    # Rows k apart in the same block: every pair of a small block is some k < its size.
    longest = int(size.max()) - 1
    for k in range(1, min(longest, CAP - 1) + 1):
        same = group[:-k] == group[k:]
        same &= (size[:-k] <= CAP) | (k <= WINDOW)
        if same.any():
            a, b = ids[:-k][same], ids[k:][same]
            low, high = np.minimum(a, b), np.maximum(a, b)
            keep = low != high
            if packed:
                found.append(np.unique((low[keep] << 32) | high[keep]))
            else:
                found.append(np.column_stack((low[keep], high[keep])))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    if packed:
        both = np.unique(np.concatenate(found))
        return np.column_stack((both >> 32, both & 0xFFFFFFFF)).astype(np.int64)
    return np.unique(np.concatenate(found), axis=0).astype(np.int64)


__all__ = [
    "CAP",
    "WINDOW",
    "Rules",
    "block_pairs",
    "features",
    "name_keys",
    "name_words",
    "phone_tail",
    "rules",
]
