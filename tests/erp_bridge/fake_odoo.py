"""An in-memory ERP with Odoo's traits, for sync tests without a network.

It keeps ``write_date`` at full precision but returns it in whole seconds (the start
of the "transaction"), honours ``active_test=False`` semantics (archived records are
returned), evaluates the small domain language the sync uses, and upserts on
external ids the way ``load`` does. ``crash_after_create`` simulates a process killed
right after a remote create succeeded.

Faults for the fault-injection tests: ``fault`` is called with (model, method) before
every call and may raise (an outage: :class:`~erp_bridge.adapter.Unavailable`; a
refusal of one record: :class:`~erp_bridge.adapter.RemoteError`); ``hidden`` holds,
per model, the ids the syncing user may not see (they exist: ``existing`` finds them,
nothing else does), as Odoo's record rules hide other people's deals.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from erp_bridge.adapter import RemoteError
from erp_bridge.cursor import Cursor
from erp_bridge.odoo import matching
from erp_bridge.odoo import rates as odoo_rates
from erp_bridge.odoo.catalogue import ODOO

NAMES = {"res.partner": "name", "crm.stage": "name", "res.country": "name"}


class Crash(BaseException):
    """Stands for the process dying (not an ordinary error the sync would catch)."""


class FakeOdoo:
    backend = "fake:test@localhost"
    #: The Odoo adapter's own catalogue: the same models, fields and domains.
    catalogue = ODOO

    def __init__(self) -> None:
        self.records: dict[str, dict[int, dict[str, Any]]] = {}
        self.xmlids: dict[str, tuple[str, int]] = {}
        self.ids = itertools.count(1)
        self.now = 1_000_000.0  # seconds; each write is a transaction starting "now"
        self.crash_after_create = False
        self.calls: list[tuple[str, str]] = []
        self.refuse: dict[str, str] = {}  # model.field -> error message on write
        # What this "version" of the ERP lacks: model -> its missing fields, or None
        # for a model that is not installed at all.
        self.lacks: dict[str, set[str] | None] = {}
        self.fault: Callable[[str, str], None] | None = None
        self.hidden: dict[str, set[int]] = {}
        #: What :func:`seed` added: the syncing user's id and the stages' ids by name.
        self.user: int | None = None
        self.stage: dict[str, int] = {}
        self.company_id: int | None = None
        #: The database's own identity, and the backend names known to be spellings
        #: of this server's address (see erp_bridge.backends).
        self.uuid: str | None = "0f6b1c2e-fake-odoo-database"
        self.spellings: set[str] = set()
        #: False for a user outside Odoo's Administration / Access Rights group: no
        #: reading of ir.model.data (external ids) or of the database's uuid.
        self.admin = True
        #: Whether a partner's address written goes to its children of type contact,
        #: as in Odoo (off by default: most tests leave Odoo's own writes out).
        self.address_to_children = False

    # -- helpers for tests -------------------------------------------------------------
    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds

    def add(self, model: str, /, **values: Any) -> int:
        rid = next(self.ids)
        self.records.setdefault(model, {})[rid] = {
            "id": rid,
            "active": True,
            **values,
            "_wd": self.now,
        }
        return rid

    def set(self, model: str, rid: int, /, **values: Any) -> None:
        self.records[model][rid].update(values, _wd=self.now)

    def delete(self, model: str, rid: int) -> None:
        del self.records[model][rid]

    def get(self, model: str, rid: int) -> dict[str, Any]:
        return self.records[model][rid]

    def find(self, model: str, /, **values: Any) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records.get(model, {}).values()
            if all(r.get(k) == v for k, v in values.items())
        ]

    # -- reading ---------------------------------------------------------------------------
    def _call(self, model: str, method: str) -> None:
        self.calls.append((model, method))
        if self.fault is not None:
            self.fault(model, method)

    def _visible(self, model: str) -> list[dict[str, Any]]:
        hidden = self.hidden.get(model, set())
        return [r for r in self.records.get(model, {}).values() if r["id"] not in hidden]

    def _out(self, model: str, rec: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": rec["id"]}
        for f in fields:
            if f == "write_date":
                out[f] = _stamp(rec["_wd"])
                continue
            if f == "display_name":
                out[f] = self._display_name(model, rec)
                continue
            value = rec.get(f, False)
            target = _m2o_target(model, f)
            if target and value:
                ref = self.records.get(target, {}).get(value, {})
                value = [value, ref.get("name", "")]
            out[f] = value if value is not None else False
        return out

    def _display_name(self, model: str, rec: dict[str, Any]) -> str:
        """Odoo's display name: a person's or an address's parent comes first, and an
        address without a name is named by its type."""
        name = rec.get("name") or ""
        if model == "res.partner" and not name and rec.get("type") in TYPES:
            name = TYPES[rec["type"]]
        parent = self.records.get(model, {}).get(rec.get("parent_id") or 0)
        if model == "res.partner" and parent and not rec.get("is_company"):
            return f"{parent.get('name')}, {name}" if name else str(parent.get("name"))
        return str(name)

    def _match(self, rec: dict[str, Any], domain: list[Any]) -> bool:
        return _eval(list(domain), rec)

    def changed_since(
        self, model: str, cursor: Cursor, fields: Sequence[str], domain: list[Any], limit: int
    ) -> list[dict[str, Any]]:
        self._call(model, "changed_since")
        full = [*domain, *cursor.domain()]
        by_id = cursor.order == "id asc"
        found = sorted(
            (r for r in self._visible(model) if self._match(r, full)),
            key=lambda r: (0 if by_id else r["_wd"], r["id"]),
        )
        return [self._out(model, r, [*fields, "write_date"]) for r in found[:limit]]

    def read(self, model: str, ids: Sequence[int], fields: Sequence[str]) -> list[dict[str, Any]]:
        self._call(model, "read")
        table = {r["id"]: r for r in self._visible(model)}
        return [self._out(model, table[i], fields) for i in ids if i in table]

    def search_read(
        self, model: str, domain: list[Any], fields: Sequence[str], limit: int | None = None
    ) -> list[dict[str, Any]]:
        self._call(model, "search_read")
        found = [
            self._out(model, r, fields)
            for r in sorted(self._visible(model), key=lambda r: r["id"])
            if self._match(r, domain)
        ]
        return found[:limit] if limit else found

    def match_candidates(
        self,
        model: str,
        keys: Mapping[str, Collection[str]],
        fields: Sequence[str],
        domain: list[Any],
    ) -> list[dict[str, Any]]:
        """The Odoo adapter's search: its domains (``erp_bridge.odoo.matching``),
        evaluated here with Odoo's (I)LIKE semantics."""
        self._call(model, "match_candidates")
        found: dict[int, dict[str, Any]] = {}
        for search in matching.domains(keys, fields, domain):
            for record in self._visible(model):
                if self._match(record, search):
                    found[record["id"]] = self._out(model, record, fields)
        return [found[rid] for rid in sorted(found)]

    def schema(self, wanted: Mapping[str, Collection[str]]) -> dict[str, set[str]]:
        for model in wanted:
            self._call(model, "fields_get")
        return {
            model: set(fields) - (self.lacks.get(model) or set())
            for model, fields in wanted.items()
            if model not in self.lacks or self.lacks[model] is not None
        }

    def exchange_rates(self, since: str | None) -> list[dict[str, Any]]:
        """The Odoo adapter's reading of ``res.currency.rate`` (erp_bridge.odoo.rates),
        over these records."""
        return odoo_rates.exchange_rates(self, since)

    def all_ids(self, model: str, domain: list[Any]) -> set[int]:
        self._call(model, "search")
        return {r["id"] for r in self._visible(model) if self._match(r, domain)}

    def existing(self, model: str, ids: Sequence[int]) -> set[int]:
        self._call(model, "exists")
        return set(ids) & set(self.records.get(model, {}))

    def identity(self) -> str | None:
        """Odoo's ``database.uuid``; None as for a user who may not read it."""
        self._call("ir.config_parameter", "search_read")
        return self.uuid if self.admin else None

    def same_server(self, backend: str) -> bool:
        """The Odoo adapter's comparison of addresses: here, the names in ``spellings``."""
        return backend in self.spellings and self.backend in self.spellings

    def server_time(self) -> str:
        self._call("res.users", "context_get")
        return _stamp(self.now)

    def external_ids(self, model: str, ids: Sequence[int], module: str) -> dict[int, str]:
        self._call("ir.model.data", "search_read")
        if not self.admin:
            # The Odoo adapter's message for Odoo's AccessError there.
            raise RemoteError(
                "the Odoo user 'demo' may not read external ids (ir.model.data: "
                "Administration / Access Rights only)"
            )
        return {
            rid: xid.split(".", 1)[1]
            for xid, (m, rid) in self.xmlids.items()
            if m == model and rid in ids and xid.startswith(module + ".")
        }

    def find_external_id(self, model: str, external_id: str) -> int | None:
        found = self.xmlids.get(external_id)
        return found[1] if found and found[0] == model else None

    # -- writing -----------------------------------------------------------------------------
    def _values(self, values: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in values.items():
            if isinstance(v, list) and v and isinstance(v[0], list):
                v = sorted(i for cmd in v if cmd[0] == 6 for i in cmd[2])
            out[k] = None if v is False and k != "active" else v
        for key, message in self.refuse.items():
            model_field = key.rsplit(".", 1)[1]
            if model_field in out:
                raise RemoteError(message)
        return out

    def create(self, model: str, values: dict[str, Any], external_id: str) -> int:
        self._call(model, "create")
        clean = self._values(values)
        if "res_model_id" in clean:  # Odoo's stored related field
            clean["res_model"] = self.get("ir.model", clean["res_model_id"])["model"]
        if external_id in self.xmlids:  # load() updates the record it registered
            rid = self.xmlids[external_id][1]
            self.set(model, rid, **clean)
        else:
            rid = self.add(model, **clean)
            self.xmlids[external_id] = (model, rid)
        self._address_sync(model, rid, clean)
        if self.crash_after_create:
            raise Crash(f"killed after creating {model} #{rid}")
        return rid

    def write(self, model: str, ids: Sequence[int], values: dict[str, Any]) -> None:
        self._call(model, "write")
        if set(ids) & self.hidden.get(model, set()):
            raise RemoteError(f"{model}.write: access denied (record rules)")
        clean = self._values(values)
        for rid in ids:
            self.set(model, rid, **clean)
            self._address_sync(model, rid, clean)

    def _address_sync(self, model: str, rid: int, values: dict[str, Any]) -> None:
        """Odoo's ``res.partner._fields_sync`` for addresses: a person of type
        ``contact`` given a parent (or that type) takes the parent's address when the
        parent has one; with ``address_to_children``, a partner's address written goes
        to its children of that type."""
        if model != "res.partner":
            return
        rec = self.get(model, rid)
        parent = self.records[model].get(rec.get("parent_id") or 0)
        if (
            ("parent_id" in values or values.get("type") == "contact")
            and parent
            and rec.get("type", "contact") == "contact"
            and any(parent.get(f) for f in ADDRESS_FIELDS)
        ):
            rec.update({f: parent.get(f) for f in ADDRESS_FIELDS})
        changed = {f: values[f] for f in ADDRESS_FIELDS if f in values}
        if changed and self.address_to_children:
            for child in self.records[model].values():
                if child.get("parent_id") == rid and child.get("type", "contact") == "contact":
                    child.update(changed, _wd=self.now)

    def archive(self, model: str, ids: Sequence[int], active: bool = False) -> None:
        self.write(model, ids, {"active": active})

    def execute(self, model: str, ids: Sequence[int], method: str) -> Any:
        """Odoo's mark-as-done: the activity is deleted, or archived when its type keeps
        done activities."""
        self._call(model, method)
        if (model, method) != ("mail.activity", "action_feedback"):
            raise RemoteError(f"{model}.{method}: no such method")
        for rid in ids:
            kind = self.records["mail.activity.type"].get(self.get(model, rid)["activity_type_id"])
            if kind and kind.get("keep_done"):
                self.set(model, rid, active=False)
            else:
                self.delete(model, rid)


def seed(
    erp: FakeOdoo,
    *,
    countries: Sequence[tuple[str, str]] = (("PK", "Pakistan"),),
    partners: bool = True,
) -> FakeOdoo:
    """Give ``erp`` what a fresh Odoo the sync tests talk to holds: ``countries`` (code,
    name), the company Indus Holdings (``erp.company_id``) keeping its amounts in PKR,
    the user Ayesha (``erp.user``), the stages New and Won (``erp.stage``), the models
    deals and partners hang activities on and, with ``partners``, the company Indus
    Textiles and its contact عمران خان."""
    for code, name in countries:
        erp.add("res.country", code=code, name=name)
    erp.company_id = erp.add(
        "res.company", name="Indus Holdings", currency_id=erp.add("res.currency", name="PKR")
    )
    erp.user = erp.add("res.users", name="Ayesha", login="ayesha", email="ayesha@example.com")
    erp.stage = {
        name: erp.add("crm.stage", name=name, sequence=i + 1, is_won=won)
        for i, (name, won) in enumerate([("New", False), ("Won", True)])
    }
    erp.add("ir.model", model="crm.lead")
    erp.add("ir.model", model="res.partner")
    if partners:
        indus = erp.add("res.partner", name="Indus Textiles", is_company=True, category_id=[])
        erp.add(
            "res.partner",
            name="عمران خان",
            is_company=False,
            parent_id=indus,
            email="imran@indus.example.com",
            category_id=[],
        )
    return erp


#: Odoo's address fields, which a partner of type ``contact`` takes from its parent.
ADDRESS_FIELDS = ("street", "street2", "zip", "city", "state_id", "country_id")

#: Odoo's labels of partner address types, as its display names use them.
TYPES = {"invoice": "Invoice Address", "delivery": "Delivery Address", "other": "Other Address"}

M2O = {
    "parent_id": "res.partner",
    "activity_type_id": "mail.activity.type",
    "partner_id": "res.partner",
    "country_id": "res.country",
    "stage_id": "crm.stage",
    "user_id": "res.users",
    "lost_reason_id": "crm.lost.reason",
    "state_id": "res.country.state",
    "currency_id": "res.currency",
    "product_id": "product.product",
    "order_id": "sale.order",
    "company_id": "res.company",
}


def _m2o_target(model: str, field: str) -> str | None:
    return M2O.get(field)


def _stamp(seconds: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(int(seconds), dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _eval(domain: list[Any], rec: dict[str, Any]) -> bool:
    """Evaluate a prefix-notation Odoo domain (implicit AND between terms)."""

    def term(tokens: list[Any]) -> bool:
        tok = tokens.pop(0)
        if tok == "|":
            a, b = term(tokens), term(tokens)
            return a or b
        if tok == "&":
            a, b = term(tokens), term(tokens)
            return a and b
        field, op, value = tok
        have = rec.get(field)
        if field == "write_date":
            have = _stamp(rec["_wd"]) + f".{int((rec['_wd'] % 1) * 1e6):06d}"
            return {">=": have >= value, ">": have > value, "<": have < value, "=": have == value}[
                op
            ]
        if op == "=":
            return bool(have == value or (value is False and not have))
        if op == ">":
            return bool(have > value)
        if op in ("ilike", "=ilike"):
            pattern = value if op == "=ilike" else f"%{value}%"
            return isinstance(have, str) and _like(pattern).fullmatch(have) is not None
        if op == "in":
            return have in value
        if op == "not in":
            return have not in value
        raise NotImplementedError(op)

    tokens = list(domain)
    result = True
    while tokens:
        result = term(tokens) and result
    return result


def _like(pattern: str) -> re.Pattern[str]:
    """PostgreSQL's ILIKE ``pattern`` (``%``, ``_``, ``\\`` escapes) as a regex."""
    out, chars = [], iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(re.escape(next(chars, "")))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def with_one_lead(erp: FakeOdoo) -> FakeOdoo:
    """``erp`` (seeded) holding one open lead, "Pricing for 25 desks" in New."""
    erp.add(
        "crm.lead",
        name="Pricing for 25 desks",
        type="opportunity",
        stage_id=erp.stage["New"],
        expected_revenue=300000.0,
        probability=10.0,
        tag_ids=[],
    )
    return erp
