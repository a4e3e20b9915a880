"""Duplicate detection at scale: ``ws.duplicates.find`` beside an all-pairs rapidfuzz peer.

    python bench/dedupe.py [--contacts 100000] [--subset 5000] [--seed N] [--db PATH]

Generates a customer base the way our users have one, deterministic from ``--seed``:
names from crm_core.demo's locales (Urdu, Sindhi, Tamil, Hindi, Bengali, Sinhala,
Russian, German, French, English, Spanish, US; written in the local script or in Latin
letters, sometimes with a second given name), e-mails at free mail services and at the
companies' own domains, mobile and landline numbers of ten countries written in E.164,
in national format or not valid at all (kept as written: ``keep_invalid``), records
with no e-mail, no phone, no country, and "names" such as "N/A"; a quarter of the
contacts work at one of the generated companies (never two people of one name at one
company: the catalogue's few names would make namesake colleagues hundreds of times
likelier than real names do, and a person reviewing duplicates would rightly take them
for one). Then 2% of the records are planted
duplicates of another, one kind each, in equal shares:

- ``typo``: one letter deleted, swapped, doubled or replaced, in any script;
- ``swapped``: the name's words in another order;
- ``phone_format``: the same number written in another format;
- ``letter_forms``: an Arabic-script name typed with the other keyboard's letter forms
  (Urdu ی ک ہ as Arabic ي ك ه, Sindhi's the other way);
- ``other_script``: the same person in Latin letters and in their own script
  (Imran Khan / عمران خان, Иван Петров / Ivan Petrov), or without accents
  (Jürgen Müller / Jurgen Muller);
- ``email_case``: the same e-mail in another case.

A duplicate shares at least one contact detail with its original (the e-mail, the phone
or the company), as records of one person entered twice do; the rest may differ or be
missing. The records are shuffled and loaded through ``crm_core.bulk`` into a fresh
SQLite workspace; then, in the same run:

- **crmbook**: ``ws.duplicates.find("contacts", limit=None)`` at its default threshold
  on all records: its time, pairs, recall (planted pairs found) and precision (found
  pairs that were planted);
- **peer**: all pairs of a ``--subset`` of the records (every planted pair inside it,
  2% of it, and others drawn at random), scored with rapidfuzz's token-sort ratio of
  the case-folded names (``process.cdist``, cutoff 90): its time, recall, precision;
  and crmbook on a workspace holding that same subset.

Targets (PASS/FAIL): crmbook under 60 s for 100,000 contacts; recall and precision at
least 0.95. Figures also go to ``bench/out/dedupe.json``. Quick run: ``--contacts
20000 --subset 2000``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import phonenumbers
from rapidfuzz import fuzz, process
from sqlalchemy import text as sql

import crm_core
from crm_core import bulk
from crm_core.demo import LOCALES

OUT = Path(__file__).with_name("out")
TIME_TARGET_S = 60.0
QUALITY_TARGET = 0.95
PEER_CUTOFF = 90
SEED = 20261210
DUPLICATE_SHARE = 0.02
KINDS = ("typo", "swapped", "phone_format", "letter_forms", "other_script", "email_case")
N_COMPANIES = 3000

# Mobile and landline shapes per country (# a digit, [..] one of); numbers drawn from
# them are kept only when phonenumbers finds them valid.
PHONES = {
    "PK": ("+923[0-4]########", "+9221########", "+9242########"),
    "IN": ("+91[6-9]#########", "+9122########"),
    "BD": ("+8801[3-9]########",),
    "LK": ("+947[0-8]#######", "+9411#######"),
    "RU": ("+79#########", "+7495#######"),
    "DE": ("+4915[12579]########", "+4917[0-9]#######", "+4930#######"),
    "FR": ("+33[67]########", "+331########"),
    "ES": ("+346########", "+3491#######"),
    "GB": ("+447[4-9]########", "+44207#######"),
    "US": ("+1[2-9][0-8][0-9][2-9]######",),
}
FREE_MAIL = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "mail.ru", "yandex.ru")
NO_NAMES = ("N/A", "-", "unknown", "?", "na")
INVALID_PHONES = ("12345", "0000", "+92 300", "123-45", "n/a", "0300-12345678901")
# Urdu letters as an Arabic keyboard types them, and Sindhi's (Arabic forms) as an
# Urdu keyboard does.
TO_ARABIC = str.maketrans({"ی": "ي", "ک": "ك", "ہ": "ه", "ھ": "ه", "ے": "ي"})
TO_URDU = str.maketrans({"ي": "ی", "ك": "ک", "ڪ": "ک", "ه": "ہ", "ى": "ی"})


@dataclass
class Person:
    """An original record and what its duplicates are made from."""

    row: dict[str, Any]
    locale: Any
    parts: list[tuple[str, str]]  # (native, romanised) per word of the name
    native: bool
    email_user: str | None = None
    phone_number: Any = None  # phonenumbers.PhoneNumber of a valid phone
    extra: dict[str, Any] = field(default_factory=dict)


def fill(pattern: str, rng: random.Random) -> str:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "#":
            out.append(str(rng.randrange(10)))
        elif ch == "[":
            end = pattern.index("]", i)
            low, high = pattern[i + 1], pattern[end - 1]
            out.append(chr(rng.randint(ord(low), ord(high))))
            i = end
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def valid_number(country: str, rng: random.Random) -> Any:
    for _ in range(100):
        number = phonenumbers.parse(fill(rng.choice(PHONES[country]), rng), None)
        if phonenumbers.is_valid_number(number):
            return number
    raise RuntimeError(f"no valid {country} number")


def written(number: Any, rng: random.Random, has_country: bool) -> str:
    """A phone number as some person would type it (a national form only when the
    record says which country it is in)."""
    formats = [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL]
    if has_country:
        formats.append(phonenumbers.PhoneNumberFormat.NATIONAL)
    shown = phonenumbers.format_number(number, rng.choice(formats))
    if rng.random() < 0.3:
        shown = shown.replace(" ", "-")
    return shown


def ascii_name(name: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", name) if ch.isascii() and (ch.isalnum())
    ).lower()


def strip_accents(name: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch)
    )


class Generator:
    """Deterministic contacts, companies and planted duplicates."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.locales = list(LOCALES)
        self.weights = [loc.weight for loc in LOCALES]
        self.serial = 0
        self.companies: list[dict[str, Any]] = []
        self.by_locale: dict[str, list[int]] = {}
        self.colleagues: set[tuple[int, frozenset[str]]] = set()

    def company_rows(self, n: int) -> list[dict[str, Any]]:
        rng = self.rng
        for i in range(n):
            loc = rng.choices(self.locales, self.weights)[0]
            root, kind = rng.choice(loc.roots), rng.choice(loc.kinds)
            native = rng.random() < loc.native_share
            pattern = rng.choice(loc.company_formats)[0 if native else 1]
            name = pattern.format(root=root[0 if native else 1], kind=kind[0 if native else 1])
            domain = f"{ascii_name(root[1])[:12] or 'firm'}{i}.example.{loc.country.lower()}"
            self.companies.append({"name": f"{name} {i}", "domain": domain, "locale": loc.key})
            self.by_locale.setdefault(loc.key, []).append(i)
        return [{"name": c["name"], "country": None} for c in self.companies]

    def person(self) -> Person:
        rng = self.rng
        loc = rng.choices(self.locales, self.weights)[0]
        female = rng.random() < 0.4
        given = list(loc.female if female and loc.female else loc.male)
        surnames = list(loc.female_surnames if female and loc.female_surnames else loc.surnames)
        parts = [rng.choice(given)]
        if rng.random() < 0.3:
            second = rng.choice(given)
            if second != parts[0]:
                parts.append(second)
        parts.append(rng.choice(surnames))
        native = rng.random() < loc.native_share
        name = " ".join(p[0 if native else 1] for p in parts)
        if rng.random() < 0.01:
            name = rng.choice(NO_NAMES)
        has_country = rng.random() < 0.9
        country = loc.country if has_country else None
        row: dict[str, Any] = {"name": name, "country": country}
        city = rng.choice(loc.cities)
        row["city"] = city.name[0 if native else 1] if rng.random() < 0.8 else None
        person = Person(row, loc, parts, native)
        company = None
        if rng.random() < 0.25 and self.by_locale.get(loc.key):
            company = rng.choice(self.by_locale[loc.key])
            # Two people of one name at one company: the catalogue's few names would
            # make that hundreds of times likelier than real names do (and a person
            # reviewing duplicates would take them for one, rightly).
            same_name = (company, frozenset(p[1] for p in parts))
            if same_name in self.colleagues:
                company = None
            else:
                self.colleagues.add(same_name)
                row["company_id"] = company + 1
        if rng.random() < 0.7:
            self.serial += 1
            user = ".".join(ascii_name(p[1]) for p in parts) or "contact"
            person.email_user = f"{user}{self.serial}"
            if company is not None and rng.random() < 0.6:
                domain = self.companies[company]["domain"]
            else:
                domain = rng.choice(FREE_MAIL)
            row["email"] = f"{person.email_user}@{domain}"
        roll = rng.random()
        if roll < 0.8:
            person.phone_number = valid_number(loc.country, rng)
            row["phone"] = written(person.phone_number, rng, has_country)
        elif roll < 0.83:
            row["phone"] = rng.choice(INVALID_PHONES)
        if rng.random() < 0.2:
            row["mobile"] = written(valid_number(loc.country, rng), rng, has_country)
        return person

    # -- planted duplicates ---------------------------------------------------------------
    def duplicate(self, person: Person, kind: str) -> dict[str, Any] | None:
        """A second record of ``person`` of ``kind``, or None when the kind does not
        apply to them."""
        rng = self.rng
        row = person.row
        name = row["name"]
        if kind == "typo":
            name = typo(name, rng)
        elif kind == "swapped":
            words = name.split()
            if len(words) < 2:
                return None
            name = " ".join([words[-1], *words[:-1]])
        elif kind == "letter_forms":
            changed = name.translate(TO_ARABIC)
            if changed == name:
                changed = name.translate(TO_URDU)
            if changed == name:
                return None
            name = changed
        elif kind == "other_script":
            other = " ".join(p[1 if person.native else 0] for p in person.parts)
            if other == name:
                other = strip_accents(name)
            if other == name:
                return None
            name = other
        elif (kind == "phone_format" and person.phone_number is None) or (
            kind == "email_case" and "email" not in row
        ):
            return None
        copy: dict[str, Any] = {"name": name, "country": row["country"]}
        if rng.random() < 0.7:
            copy["city"] = row.get("city")
        # What the copy shares: the detail its kind is about, or one or more at random.
        share = {"phone_format": ["phone"], "email_case": ["email"]}.get(kind)
        if share is None:
            have = [f for f in ("email", "phone", "company_id") if row.get(f)]
            if person.phone_number is None and "phone" in have:
                have.remove("phone")  # an invalid number is no detail to share
            if not have:
                return None
            share = rng.sample(have, rng.randint(1, len(have)))
        for f in share:
            copy[f] = row[f]
        if "phone" in share and person.phone_number is not None:
            copy["phone"] = written(person.phone_number, rng, row["country"] is not None)
        if kind == "email_case":
            user, _, domain = row["email"].partition("@")
            copy["email"] = f"{user.title()}@{domain.upper()}"
        return copy


def typo(name: str, rng: random.Random) -> str:
    """``name`` with one slip of the finger in a word of at least four letters (not its
    first letter, which people rarely get wrong)."""
    words = name.split()
    long = [i for i, w in enumerate(words) if len(w) >= 4]
    if not long:
        return name + name[-1]
    i = rng.choice(long)
    w = words[i]
    at = rng.randrange(1, len(w) - 1)
    how = rng.randrange(4)
    if how == 0:
        w = w[:at] + w[at + 1 :]
    elif how == 1:
        w = w[:at] + w[at + 1] + w[at] + w[at + 2 :]
    elif how == 2:
        w = w[:at] + w[at] + w[at:]
    else:
        pool = [c for c in w if c != w[at]] or [w[at]]
        w = w[:at] + rng.choice(pool) + w[at + 1 :]
    words[i] = w
    return " ".join(words)


def generate(n: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set]:
    """Company rows, contact rows (shuffled) and the planted pairs as row numbers."""
    gen = Generator(seed)
    companies = gen.company_rows(N_COMPANIES)
    n_dup = round(n * DUPLICATE_SHARE)
    people = [gen.person() for _ in range(n - n_dup)]
    rows: list[dict[str, Any]] = [p.row for p in people]
    planted: list[tuple[int, int]] = []
    order = list(range(len(people)))
    gen.rng.shuffle(order)
    used: set[int] = set()
    k = 0
    for index in order:
        if len(planted) == n_dup:
            break
        if index in used:
            continue
        copy = gen.duplicate(people[index], KINDS[k % len(KINDS)])
        if copy is None:
            continue
        used.add(index)
        rows.append(copy)
        planted.append((index, len(rows) - 1))
        k += 1
    shuffle = list(range(len(rows)))
    gen.rng.shuffle(shuffle)
    position = {old: new for new, old in enumerate(shuffle)}
    rows = [rows[old] for old in shuffle]
    pairs = {tuple(sorted((position[a], position[b]))) for a, b in planted}
    kinds = {
        tuple(sorted((position[a], position[b]))): KINDS[i % len(KINDS)]
        for i, (a, b) in enumerate(planted)
    }
    return companies, rows, {"pairs": pairs, "kinds": kinds}


def load(path: Path, companies: list[dict[str, Any]], rows: list[dict[str, Any]]) -> Any:
    """A fresh workspace holding ``rows`` (contact i has the i-th id)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    ws = crm_core.open(path)
    ws.set_setting("phone_region", "PK")
    report = bulk.import_companies(ws, companies)
    assert report.rejected == report.failed == 0, report.messages[:3]
    report = bulk.import_contacts(ws, iter(rows), keep_invalid=True)
    assert report.rejected == report.failed == 0, report.messages[:3]
    with ws.engine.connect() as conn:
        ids = [i for (i,) in conn.execute(sql("SELECT id FROM contacts ORDER BY id"))]
    assert len(ids) == len(rows) and ids == list(range(ids[0], ids[0] + len(rows)))
    ws.first_id = ids[0]
    return ws


def quality(found: set, truth: set) -> tuple[float, float]:
    hit = len(found & truth)
    recall = hit / len(truth) if truth else 1.0
    precision = hit / len(found) if found else 1.0
    return recall, precision


def crmbook_run(ws: Any) -> tuple[float, set, Any]:
    start = time.perf_counter()
    frame = ws.duplicates.find("contacts", limit=None)
    seconds = time.perf_counter() - start
    first = ws.first_id
    found = {
        (int(a) - first, int(b) - first) for a, b in zip(frame["id_a"], frame["id_b"], strict=True)
    }
    return seconds, found, frame


def peer_run(rows: list[dict[str, Any]]) -> tuple[float, set]:
    """All pairs of ``rows`` by rapidfuzz's token-sort ratio of the case-folded names."""
    start = time.perf_counter()
    names = [r["name"].casefold() for r in rows]
    matrix = process.cdist(
        names, names, scorer=fuzz.token_sort_ratio, score_cutoff=PEER_CUTOFF, dtype=np.uint8
    )
    a, b = np.nonzero(np.triu(matrix, k=1))
    seconds = time.perf_counter() - start
    return seconds, set(zip(a.tolist(), b.tolist(), strict=True))


def subset(rows: list[dict[str, Any]], truth: dict[str, Any], size: int, rng: random.Random):
    """``size`` rows holding 2% of them as planted pairs (both records), renumbered."""
    planted = sorted(truth["pairs"])
    chosen = rng.sample(planted, max(1, round(size * DUPLICATE_SHARE / 2)))
    members = {i for pair in chosen for i in pair}
    in_pairs = {i for pair in planted for i in pair}
    others = [i for i in range(len(rows)) if i not in in_pairs]
    picked = sorted(members | set(rng.sample(others, size - len(members))))
    number = {old: new for new, old in enumerate(picked)}
    pairs = {(number[a], number[b]) for a, b in chosen}
    return [rows[i] for i in picked], pairs


def by_kind(found: set, truth: dict[str, Any]) -> dict[str, str]:
    out: dict[str, list[int]] = {}
    for pair, kind in truth["kinds"].items():
        tally = out.setdefault(kind, [0, 0])
        tally[0] += pair in found
        tally[1] += 1
    return {kind: f"{hit}/{total}" for kind, (hit, total) in sorted(out.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--subset", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    fig: dict[str, Any] = {
        "contacts": args.contacts,
        "subset": args.subset,
        "seed": args.seed,
        "python": platform.python_version(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.db.parent if args.db else Path(tmp)
        db = args.db or folder / "dedupe.sqlite"
        start = time.perf_counter()
        companies, rows, truth = generate(args.contacts, args.seed)
        print(
            f"generated {len(rows):,} contacts with {len(truth['pairs']):,} planted duplicates"
            f" in {time.perf_counter() - start:.1f} s"
        )
        start = time.perf_counter()
        ws = load(db, companies, rows)
        print(f"loaded them through crm_core.bulk in {time.perf_counter() - start:.1f} s")

        seconds, found, _ = crmbook_run(ws)
        recall, precision = quality(found, truth["pairs"])
        fig["crmbook"] = {
            "seconds": seconds,
            "pairs": len(found),
            "recall": recall,
            "precision": precision,
            "recall_by_kind": by_kind(found, truth),
        }
        print(
            f"crmbook  {len(rows):>7,} contacts: {seconds:6.1f} s, {len(found):,} pairs,"
            f" recall {recall:.3f}, precision {precision:.3f}"
        )
        print(f"         found per kind: {fig['crmbook']['recall_by_kind']}")
        missed = sorted(truth["pairs"] - found)[:5]
        wrong = sorted(found - truth["pairs"])[:5]
        for label, sample in (("missed", missed), ("not planted", wrong)):
            for a, b in sample:
                print(f"         {label}: {rows[a]} | {rows[b]}")
        ws.close()

        small, small_truth = subset(rows, truth, args.subset, random.Random(args.seed + 1))
        peer_seconds, peer_found = peer_run(small)
        peer_recall, peer_precision = quality(peer_found, small_truth)
        ws_small = load(folder / "dedupe_subset.sqlite", companies, small)
        small_seconds, small_found, _ = crmbook_run(ws_small)
        ws_small.close()
        small_recall, small_precision = quality(small_found, small_truth)
        fig["subset"] = {
            "planted": len(small_truth),
            "peer": {
                "seconds": peer_seconds,
                "pairs": len(peer_found),
                "recall": peer_recall,
                "precision": peer_precision,
            },
            "crmbook": {
                "seconds": small_seconds,
                "pairs": len(small_found),
                "recall": small_recall,
                "precision": small_precision,
            },
        }
        print(
            f"peer     {len(small):>7,} contacts: {peer_seconds:6.1f} s, {len(peer_found):,}"
            f" pairs, recall {peer_recall:.3f}, precision {peer_precision:.3f}"
            f"  (all {len(small) * (len(small) - 1) // 2:,} pairs,"
            f" token-sort ratio >= {PEER_CUTOFF})"
        )
        print(
            f"crmbook  {len(small):>7,} contacts: {small_seconds:6.1f} s, {len(small_found):,}"
            f" pairs, recall {small_recall:.3f}, precision {small_precision:.3f}"
        )
        # The peer compares all pairs: its time grows with the square of the records.
        projected = peer_seconds * (len(rows) / len(small)) ** 2
        fig["peer_projected_seconds"] = projected
        print(
            f"ratios: crmbook/peer time on {len(small):,}: {small_seconds / peer_seconds:.2f}x;"
            f" crmbook on {len(rows):,} vs the peer projected to them ({projected:,.0f} s):"
            f" {seconds / projected:.3f}x"
        )
    fig["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak memory of this run (generating and loading included): {fig['peak_memory_mb']:.0f} MB"
    )
    checks = {
        f"time < {TIME_TARGET_S:.0f} s": seconds < TIME_TARGET_S,
        f"recall >= {QUALITY_TARGET}": recall >= QUALITY_TARGET,
        f"precision >= {QUALITY_TARGET}": precision >= QUALITY_TARGET,
    }
    fig["checks"] = checks
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    (OUT / "dedupe.json").write_text(json.dumps(fig, indent=2, default=str), encoding="utf-8")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
