"""Which column of a file fills which field: guessed from the headers, overridable.

Headers are recognised in the languages of our users (``headers.toml``), as the
field's own name, or as the name or label of a custom field the workspace defines.
What the guess leaves unmapped is reported and ignored, or, when asked, kept as a
new text custom field. A mapping given by hand (``--map``) wins over the guess.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from crm_core import text
from crm_core.errors import ImportRefused

#: The fields a file may fill, per entity (besides ``custom.<name>``).
FIELDS: dict[str, tuple[str, ...]] = {
    "contact": (
        "name",
        "first_name",
        "last_name",
        "email",
        "phone",
        "mobile",
        "street",
        "street2",
        "city",
        "zip",
        "state",
        "country",
        "notes",
        "job_title",
        "language",
        "birthday",
        "company",
        "owner",
        "tags",
        "erp_id",
    ),
    "company": (
        "name",
        "email",
        "phone",
        "website",
        "vat",
        "street",
        "street2",
        "city",
        "zip",
        "state",
        "country",
        "notes",
        "owner",
        "tags",
        "erp_id",
    ),
    "opportunity": (
        "name",
        "stage",
        "type",
        "expected_revenue",
        "currency",
        "probability",
        "expected_close",
        "closed_at",
        "lost_reason",
        "company",
        "contact",
        "owner",
        "priority",
        "source",
        "description",
        "tags",
        "erp_id",
    ),
    "activity": (
        "kind",
        "subject",
        "note",
        "due_date",
        "assignee",
        "contact",
        "company",
        "opportunity",
    ),
    "interaction": (
        "channel",
        "direction",
        "occurred_at",
        "subject",
        "summary",
        "user",
        "contact",
        "company",
        "opportunity",
    ),
}
#: What a column may be mapped to in order to leave it out.
IGNORE = ("", "-", "ignore")
CUSTOM = "custom."
_CUSTOM_NAME = re.compile(r"[^a-z0-9]+")
# What a custom field's name may be (crm_core.services.custom_fields).
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,59}")


#: Columns of crmbook's own export that no import fills, and why (by header key).
OWN_COLUMNS = {
    "id": "(ignored: crmbook's own record id; an import matches rows by its keys, see --match)",
    "created at": "(ignored: crmbook sets it)",
    "updated at": "(ignored: crmbook sets it)",
    "active": "(ignored: archiving is done in crmbook, not by an import)",
}


class MappingError(ImportRefused):
    """A mapping given by hand names a column the file lacks or a field that does not exist."""


@dataclass
class ColumnMap:
    """Column name -> field, with what was left out and why."""

    entity: str
    fields: dict[str, str]
    #: Columns nobody maps, ignored (or, with ``custom``, new custom fields).
    unknown: list[str] = field(default_factory=list)
    #: Columns mapped to a field another column already fills: ignored.
    repeated: dict[str, str] = field(default_factory=dict)
    #: Columns whose guessed field a column given by hand (``--map``) fills: ignored.
    overridden: dict[str, str] = field(default_factory=dict)
    #: Custom fields to define before the import: column -> field name.
    new_custom: dict[str, str] = field(default_factory=dict)
    #: The columns that hold dates, and the order the file writes them in
    #: (:mod:`crm_core.imports.dates`).
    date_columns: frozenset[str] = frozenset()
    dates: str = "YMD"

    def rows(self) -> list[tuple[str, str]]:
        """(column, what it fills or why not) in file order, for showing before a run."""
        out = [(c, f) for c, f in self.fields.items()]
        given = {f: c for c, f in self.fields.items()}
        out += [
            (c, f"(ignored: {f} is filled by {given[f]!r}, as --map says)")
            for c, f in self.overridden.items()
        ]
        out += [
            (c, f"(ignored: {f} is filled by another column)") for c, f in self.repeated.items()
        ]
        out += [
            (c, OWN_COLUMNS.get(header_key(c), "(ignored: no such field; --custom keeps it)"))
            for c in self.unknown
        ]
        return out


def header_key(header: str) -> str:
    """How headers are compared: folded, Latin accents and punctuation set aside."""
    folded = text.fold(header)
    decomposed = unicodedata.normalize("NFKD", folded)
    stripped = "".join(
        ch
        for i, ch in enumerate(decomposed)
        if not (unicodedata.combining(ch) and i and decomposed[i - 1].isascii())
    )
    cleaned = re.sub(r"[\s_\-./:#()\[\]*'\"،؛]+", " ", unicodedata.normalize("NFC", stripped))
    return " ".join(cleaned.split())


@cache
def _synonyms(entity: str) -> dict[str, str]:
    raw = tomllib.loads(resources.files("crm_core.imports").joinpath("headers.toml").read_text())
    known = FIELDS[entity]
    table: dict[str, str] = {}
    for section in ("common", entity):  # the entity's own names win
        for name, headers in raw.get(section, {}).items():
            if name in known:
                table.update({header_key(h): name for h in headers})
    table.update({header_key(name): name for name in known})
    return table


@cache
def _beside(entity: str) -> dict[str, tuple[str, str, str]]:
    """Header key -> (field, the field beside which it means that, the field it means
    alone), from ``headers.toml``'s ``[[beside]]`` tables."""
    raw = tomllib.loads(resources.files("crm_core.imports").joinpath("headers.toml").read_text())
    known = FIELDS[entity]
    out: dict[str, tuple[str, str, str]] = {}
    for rule in raw.get("beside", []):
        if rule.get("entity") != entity:
            continue
        meaning = (rule["field"], rule["beside"], rule["alone"])
        if not all(f in known for f in meaning):
            raise ValueError(f"headers.toml: [[beside]] {rule}: no such {entity} field")
        out.update({header_key(h): meaning for h in rule["headers"]})
    return out


def guess(
    entity: str,
    columns: Sequence[str],
    custom_fields: Mapping[str, str | None] | None = None,
    *,
    given: Mapping[str, str] | None = None,
    keep_unknown: bool = False,
) -> ColumnMap:
    """Map ``columns`` to fields of ``entity``.

    ``custom_fields`` are the workspace's custom fields of the entity (name -> label);
    a header equal to either maps to ``custom.<name>``. ``given`` maps columns by
    hand (field name, ``custom.<name>``, or "" / "-" / "ignore" to leave a column
    out); it wins over the guess. With ``keep_unknown`` every column left over
    becomes a new text custom field (named from the header) instead of being ignored.
    """
    if entity not in FIELDS:
        raise MappingError(f"cannot import {entity!r}: one of {', '.join(FIELDS)}")
    synonyms = _synonyms(entity)
    customs = {
        header_key(k): f"{CUSTOM}{name}"
        for name, label in (custom_fields or {}).items()
        for k in (name, label or name)
    }
    given = dict(given or {})
    missing = [c for c in given if c not in columns]
    if missing:
        raise MappingError(
            f"the mapping names column(s) the file does not have: {', '.join(map(repr, missing))}"
            f"; its columns are {', '.join(map(repr, columns))}"
        )
    result = ColumnMap(entity, {})
    targets: dict[str, str] = {}
    # The mapping given by hand first: a guessed column never takes its field.
    for column in columns:
        if column in given:
            target = given[column].strip()
            if target.lower() in IGNORE:
                continue
            _check_target(entity, column, target, custom_fields or {})
            name = target[len(CUSTOM) :] if target.startswith(CUSTOM) else None
            if name is not None and name not in (custom_fields or {}):
                if not keep_unknown or not _FIELD_NAME.fullmatch(name):
                    raise MappingError(
                        f"column {column!r} is mapped to {target!r}, but the workspace has "
                        f"no {entity} custom field {name!r}"
                        + (f" (it has {', '.join(custom_fields)})" if custom_fields else "")
                        + (
                            ": a new one is named with lower-case letters, digits and _"
                            if keep_unknown
                            else ": add --custom to define it as a new text field, or "
                            "define it first (ws.custom_fields.define)"
                        )
                    )
                result.new_custom[column] = name
            targets[column] = target
    by_hand = set(targets.values())
    beside = _beside(entity)
    guessed = {
        column: customs.get(key) or synonyms.get(key)
        for column in columns
        if column not in given
        for key in [header_key(column)]
    }
    named = by_hand | {f for f in guessed.values() if f is not None}
    for column in columns:
        if column in given:
            continue
        key = header_key(column)
        found = guessed[column]
        if found is None and key in beside:
            field_, other, alone = beside[key]
            found = field_ if other in named else alone
        if found is None and key.startswith("custom "):
            name = key[7:].replace(" ", "_")
            if name in (custom_fields or {}):
                found = f"{CUSTOM}{name}"
            elif keep_unknown and _FIELD_NAME.fullmatch(name):
                result.new_custom[column] = name
                found = f"{CUSTOM}{name}"
        if found in by_hand:
            result.overridden[column] = found
            result.new_custom.pop(column, None)
            continue
        if found is None:
            if keep_unknown:
                name = custom_name(column)
                result.new_custom[column] = name
                found = f"{CUSTOM}{name}"
            else:
                result.unknown.append(column)
                continue
        targets[column] = found
    filled: dict[str, str] = {}
    for column in columns:
        mapped = targets.get(column)
        if mapped is None:
            continue
        if mapped in filled:
            result.repeated[column] = mapped
            continue
        filled[mapped] = column
        result.fields[column] = mapped
    return result


def custom_name(header: str) -> str:
    """A custom field's name made from a column header: lower-case letters, digits
    and underscores, as custom field names must be (a header in another script gets
    a name from its position in the alphabet of field names: ``field_<hex>``)."""
    ascii_ = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode().lower()
    name = _CUSTOM_NAME.sub("_", ascii_).strip("_")
    if not name or not name[0].isalpha():
        name = "field_" + header.encode("utf-8").hex()[:16]
    return name[:60]


def _check_target(
    entity: str, column: str, target: str, custom_fields: Mapping[str, str | None]
) -> None:
    if target in FIELDS[entity]:
        return
    if target.startswith(CUSTOM) and target[len(CUSTOM) :]:
        return
    raise MappingError(
        f"column {column!r} is mapped to {target!r}, which is no {entity} field; "
        f"fields: {', '.join(FIELDS[entity])}, or custom.<name>"
        + (f" ({', '.join(custom_fields)})" if custom_fields else "")
    )


def parse_map(specs: Iterable[str]) -> dict[str, str]:
    """A mapping given on the command line: each spec is ``"Column=field"`` or the path
    of a TOML file whose ``[columns]`` table (or top level) maps columns to fields."""
    out: dict[str, str] = {}
    for spec in specs:
        path = Path(spec)
        if "=" not in spec or (path.suffix == ".toml" and path.is_file()):
            if not path.is_file():
                raise MappingError(f"--map {spec!r}: give 'Column=field' or a TOML file")
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise MappingError(f"--map {spec}: not a readable TOML file: {exc}") from None
            table: Any = data.get("columns", data)
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise MappingError(
                    f'--map {spec}: expected column = "field" lines (under [columns])'
                )
            out.update({str(k): v for k, v in table.items()})
        else:
            column, _, target = spec.rpartition("=")
            out[column.strip()] = target.strip()
    return out
