"""Scoring: how likely two records are one, as a score 0..100 with the reasons a person
reads before merging them.

A score adds up evidence, capped at 0..100:

- the names: nothing below 70% alike, then 2.5 points per percent up to 65 points
  (96% alike and more); 40 when either record has no name (none, or "N/A"): a
  missing name neither says the records are one nor that they are not. Names are
  compared by rapidfuzz's token-sort ratio (word order does not count) and plain ratio
  (a typo can move a word in the sorted order) after folding
  (letter forms, accents, titles and legal forms gone), and by their ASCII
  transliterations (not for Arabic script, which writes no short vowels: its
  transliteration is half a skeleton); names in two different scripts also by their
  consonant skeletons (``crm_core.text.latin_skeleton``): "Imran Khan", "Имран Хан"
  and "عمران خان" are 100% alike. Consonants a script does not tell apart are made one when a
  name in it is compared with another script's (Tamil's voicing, Bengali's z and j).
- what identifies a party: same VAT number 70, same e-mail 40, same phone (however
  written) 35; an e-mail or phone that more than :data:`SHARED_BY_MANY` records have
  (a switchboard, info@, a junk value such as 0000000) identifies no one and gives
  nothing (the reasons still say it);
- what makes a namesake less likely: same company 25, else the same e-mail domain of
  a company's own (not gmail.com) 15, same city 5;
- what makes it more likely: both have e-mails and they differ, -20; both have phones
  and none is shared, -10 (people change addresses less often than namesakes exist).

So that at the default threshold (:data:`DEFAULT_MIN_SCORE`) one name plus any one
identifying fact, or the company, is a pair, and namesakes living in one city, or
working at one company with addresses of their own, are not; two records sharing an
e-mail and a phone are a pair whatever their names; a name alone, however alike, never
is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from rapidfuzz.process import cpdist

#: Pairs scoring less are not reported unless asked for.
DEFAULT_MIN_SCORE = 75
#: Names less alike than this (percent) add nothing.
NAME_FROM = 70
#: Points per percent above NAME_FROM, and the most a name gives.
NAME_SLOPE = 2.5
NAME_MAX = 65
#: Points when either record has no name.
NAME_UNKNOWN = 40
#: Points of each shared fact, strongest first, with the reason shown for it.
FACTS: dict[str, tuple[int, str]] = {
    "vat": (70, "same VAT number"),
    "email": (40, "same e-mail"),
    "phone": (35, "same phone"),
    "company": (25, "same company"),
    "domain": (15, "same e-mail domain"),
    "city": (5, "same city"),
}
#: An e-mail or phone of more records than this is a shared one (a switchboard, info@),
#: worth nothing.
SHARED_BY_MANY = 5
#: Points of facts the two records disagree on, with the reason shown.
CONFLICTS: dict[str, tuple[int, str]] = {
    "other_email": (-20, "different e-mails"),
    "other_phone": (-10, "different phones"),
}
# Consonants a script does not tell apart, made one when a name in it is compared with
# another script's: Tamil writes no voicing (Murugan/முருகன் is murukan, Selvam/செல்வம்
# celvam), Bengali writes z and j alike (Zahid/জাহিদ is jahid).
_MERGED_CONSONANTS = {
    "TAMIL": str.maketrans("gdbjs", "ktpcc"),
    "BENGALI": str.maketrans("z", "j"),
}


def name_similarity(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """How alike the names of row i of ``a`` and of ``b`` are (percent, for each i; -1
    when either has no name), and whether they were compared across scripts."""

    def ratio(left: list[str], right: list[str]) -> np.ndarray:
        # Word order does not count (token sort), but a typo in a word's first letters
        # moves it in the sorted order: the names as written are compared too.
        return np.maximum(
            cpdist(left, right, scorer=fuzz.token_sort_ratio, dtype=np.float32),
            cpdist(left, right, scorer=fuzz.ratio, dtype=np.float32),
        )

    words_a, words_b = a["words"].tolist(), b["words"].tolist()
    abjad = a["abjad"].to_numpy(dtype=bool) | b["abjad"].to_numpy(dtype=bool)
    latin = ratio(a["latin"].tolist(), b["latin"].tolist())
    # An Arabic-script name's transliteration is a skeleton already (no short vowels):
    # compared as one below, not as a spelling.
    best = np.maximum(ratio(words_a, words_b), np.where(abjad, 0, latin))
    script_a, script_b = a["script"].to_numpy(), b["script"].to_numpy()
    across = script_a != script_b
    # Skeletons drop vowels: fair across scripts, where each transliteration spells
    # vowels its own way (within Arabic script the long vowels are written, and tell
    # Bhutto ڀٽو from Bhatti ڀٽي).
    use = across
    if use.any():
        left, right = a["skeleton"][use].tolist(), b["skeleton"][use].tolist()
        best[use] = np.maximum(best[use], skeleton_similarity(left, right))
    for script, merged in _MERGED_CONSONANTS.items():
        these = across & ((script_a == script) | (script_b == script))
        if these.any():
            left = [x.translate(merged) for x in a["skeleton"][these]]
            right = [x.translate(merged) for x in b["skeleton"][these]]
            best[these] = np.maximum(best[these], skeleton_similarity(left, right))
    named = np.fromiter(
        (bool(x) and bool(y) for x, y in zip(words_a, words_b, strict=True)), bool, len(a)
    )
    return np.where(named, np.rint(best), -1).astype(np.int64), across & named


def skeleton_similarity(left: list[str], right: list[str]) -> np.ndarray:
    """How alike consonant skeletons (words sorted) are: 100 when they are the same;
    otherwise their token-sort ratio with three times the difference, since a skeleton
    is a few letters and one of them is most of what tells two names apart (Kamran and
    Kiran are "kmrn" and "krn": 86% alike as strings)."""
    r = cpdist(left, right, scorer=fuzz.token_sort_ratio, dtype=np.float32)
    equal = np.fromiter((x == y for x, y in zip(left, right, strict=True)), bool, len(left))
    return np.where(equal, 100, np.maximum(3 * r - 200, 0)).astype(np.float32)


def same(a: Any, b: Any) -> np.ndarray:
    """Element-wise: both values set and equal (a missing value equals nothing)."""
    left = pd.Series(np.asarray(a, dtype=object))
    right = pd.Series(np.asarray(b, dtype=object))
    both = (left.notna() & right.notna()).to_numpy(dtype=bool)
    out = np.zeros(len(left), dtype=bool)
    out[both] = left.to_numpy()[both] == right.to_numpy()[both]
    return out


def shared_phone(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise: whether the two records have a phone number (phone or mobile) in
    common, and whether one they share is had by at most :data:`SHARED_BY_MANY`
    records."""
    shared = np.zeros(len(a), dtype=bool)
    rare = np.zeros(len(a), dtype=bool)
    for i in range(2):
        left = np.asarray([p[i] if len(p) > i else None for p in a["phones"]], dtype=object)
        counts = np.asarray([c[i] if len(c) > i else 0 for c in a["phone_counts"]])
        for j in range(2):
            right = np.asarray([p[j] if len(p) > j else None for p in b["phones"]], dtype=object)
            match = same(left, right)
            shared |= match
            rare |= match & (counts <= SHARED_BY_MANY)
    return shared, rare


_COMPARED = [
    "words",
    "latin",
    "skeleton",
    "script",
    "abjad",
    "email_key",
    "email_count",
    "phones",
    "phone_counts",
    "vat_key",
    "company_id",
    "domain",
    "city_key",
]


def score_pairs(records: pd.DataFrame, pairs: np.ndarray, entity: str) -> pd.DataFrame:
    """Score candidate ``pairs`` (``[[id_a, id_b], ...]``) of ``records`` (indexed by
    id: the read columns and :func:`crm_core.duplicates.blocking.features`).

    Returns one row per pair: id_a, id_b, score, name_score (-1: a name is missing),
    across_scripts, a boolean column per fact of :data:`FACTS` and of
    :data:`CONFLICTS`, and ``common`` (facts shared by many records, named).
    """
    # Only what is compared: a row per pair of each side is millions of rows.
    columns = [c for c in _COMPARED if c in records.columns]
    a = records.loc[pairs[:, 0], columns].reset_index(drop=True)
    b = records.loc[pairs[:, 1], columns].reset_index(drop=True)
    n = len(a)
    name_score, across = name_similarity(a, b)
    email = same(a["email_key"], b["email_key"])
    email_rare = email & (a["email_count"].to_numpy() <= SHARED_BY_MANY)
    phone, phone_rare = shared_phone(a, b)
    nothing = np.zeros(n, dtype=bool)
    facts = {
        "vat": same(a["vat_key"], b["vat_key"]) if entity == "companies" else nothing,
        "email": email_rare,
        "phone": phone_rare,
        "company": same(a["company_id"], b["company_id"]) if entity == "contacts" else nothing,
        # The same address, or the same company, says the same domain: counted once.
        "domain": same(a["domain"], b["domain"]) & ~email,
        "city": same(a["city_key"], b["city_key"]),
    }
    facts["domain"] &= ~facts["company"]
    has_email = a["email_key"].notna().to_numpy() & b["email_key"].notna().to_numpy()
    has_phone = np.fromiter(
        (bool(x) and bool(y) for x, y in zip(a["phones"], b["phones"], strict=True)), bool, n
    )
    conflicts = {"other_email": has_email & ~email, "other_phone": has_phone & ~phone}
    out = pd.DataFrame({"id_a": pairs[:, 0], "id_b": pairs[:, 1], "name_score": name_score})
    out["across_scripts"] = across
    points = np.where(
        name_score < 0, NAME_UNKNOWN, np.clip((name_score - NAME_FROM) * NAME_SLOPE, 0, NAME_MAX)
    ).astype(np.float64)
    evidence = {**facts, **conflicts}
    for fact, (worth, _) in (*FACTS.items(), *CONFLICTS.items()):
        found = evidence[fact]
        out[fact] = found
        points += np.where(found, worth, 0)
    out["common_email"] = email & ~email_rare
    out["common_phone"] = phone & ~phone_rare
    out["score"] = np.clip(np.rint(points), 0, 100).astype(np.int64)
    return out


#: Every other reason a pair is given, as a template (``{n}``: a number). A reason is
#: one of these or one of FACTS' and CONFLICTS'; the app translates them by template.
REASONS = {
    "common_email": "same e-mail, as more than {n} records have",
    "common_phone": "same phone, as more than {n} records have",
    "no_name": "no name to compare",
    "same_name": "same name",
    "name_order": "same name, words in another order",
    "across_scripts": "names {n}% alike across scripts",
    "alike": "names {n}% alike",
}
#: What separates a pair's reasons.
REASON_SEPARATOR = "; "


def reasons(row: Any, words_a: str, words_b: str) -> str:
    """Why a scored pair (a row of :func:`score_pairs`) may be one record, strongest
    first, then what speaks against it: "same phone; names 92% alike; different
    e-mails"."""
    found = [reason for fact, (_, reason) in FACTS.items() if row[fact]]
    for fact in ("common_email", "common_phone"):
        if row[fact]:
            found.append(REASONS[fact].format(n=SHARED_BY_MANY))
    n = int(row["name_score"])
    if n < 0:
        found.append(REASONS["no_name"])
    elif n > NAME_FROM:  # names less alike add nothing, and are not a reason
        if words_a == words_b:
            found.append(REASONS["same_name"])
        elif sorted(words_a.split()) == sorted(words_b.split()):
            found.append(REASONS["name_order"])
        else:
            found.append(
                REASONS["across_scripts" if row["across_scripts"] else "alike"].format(n=n)
            )
    found += [reason for fact, (_, reason) in CONFLICTS.items() if row[fact]]
    return REASON_SEPARATOR.join(found)


__all__ = [
    "CONFLICTS",
    "DEFAULT_MIN_SCORE",
    "FACTS",
    "REASONS",
    "REASON_SEPARATOR",
    "name_similarity",
    "reasons",
    "same",
    "score_pairs",
    "shared_phone",
]
