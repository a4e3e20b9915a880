"""The Odoo adapter, over odoo-client-lib (``odoolib``).

Designed around the library's traits:

- XML-RPC cannot marshal ``None``: every value sent is converted (``None`` -> ``False``).
- Its ``Model.search_read`` is two calls (search, then read): we call the server's
  own ``search_read`` through ``execute_kw``, one round trip per page.
- Its JSON-RPC transport has a fixed 5 s timeout, its JSON-2 one a fixed 60 s and its
  XML-RPC none at all: the connectors are replaced by subclasses whose timeout is
  configurable (30 s by default, not retried: a silent server fails a run in half a
  minute, not after retries of every call). Its JSON transports also build a new HTTP
  client for every call (about 50 ms each here): ours keep one per adapter, shared by
  the reader threads.
- Its JSON-2 errors carry the whole response, server traceback included: we keep
  Odoo's message, and treat 429/502/503/504 as transient (retried).
- It tells no "cannot reach" from "refused": failures to connect, a refused login or
  API key and servers failing after retries raise :class:`Unavailable` (the run
  stops), an error about one call raises :class:`RemoteError` (that record fails).
- It never retries: reads and idempotent writes are retried here with backoff;
  creates go through Odoo's ``load`` with an external id, which inserts or, if the
  external id exists already, updates, so a retried create never duplicates.
- At DEBUG its loggers print every argument, the password included: a filter on the
  ``odoolib`` logger masks the secret in every record it emits.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import time
import xmlrpc.client
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from erp_bridge.adapter import Domain, Record, RemoteError, Unavailable
from erp_bridge.cursor import STAMP_FORMAT, Cursor
from erp_bridge.odoo import matching, rates
from erp_bridge.odoo.catalogue import ODOO
from erp_bridge.odoo.transport import (
    Json2Client,
    SecretFilter,
    ServerClock,
    connectors,
    falsify,
    import_odoolib,
    timeout_errors,
    transient_errors,
)

log = logging.getLogger(__name__)
PROTOCOLS = ("xmlrpc", "jsonrpc", "json2")


class OdooAdapter:
    """An :class:`~erp_bridge.adapter.Adapter` for Odoo 16-19.

    ``url`` is the server's address (``http://host:8069``); ``secret`` the password or,
    for ``protocol="json2"`` (Odoo 19 and later), an API key. ``timeout`` is per call in
    seconds, and a call that times out is not retried; other transient failures
    (connection refused or reset, 429 and 502-504) are retried ``retries`` times with
    exponential backoff. What still fails raises :class:`Unavailable`.
    """

    #: Odoo's models as the sync reads them.
    catalogue = ODOO

    def __init__(
        self,
        url: str,
        db: str,
        login: str,
        secret: str,
        *,
        protocol: str = "xmlrpc",
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if not parts.hostname:
            raise ValueError(f"not a server address: {url!r} (use http://host:8069)")
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 8069)
        self.backend = f"odoo:{db}@{parts.hostname}:{port}"
        self.protocol = protocol
        self.db = db
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self._transient = transient_errors()
        self._timeouts = timeout_errors()
        self._timeout = timeout
        self._where = f"{parts.scheme or 'http'}://{parts.hostname}:{port}"
        self._login = login
        self._clock = ServerClock()
        self._exists_is_private = False  # Odoo 19 refuses ``exists`` over RPC
        odoolib = import_odoolib()
        logging.getLogger("odoolib").addFilter(SecretFilter(secret))
        for name in ("odoolib.rpc", "odoolib.json2", "odoolib.tools"):
            logging.getLogger(name).addFilter(SecretFilter(secret))
        if protocol == "json2":
            name = "json2s" if secure else "json2"
            conn = odoolib.get_connection(
                hostname=parts.hostname, protocol=name, port=port, database=db, password=secret
            )
            self._json2: Json2Client | None = Json2Client(
                conn.connector.url, conn.bearer_header, timeout, self._clock
            )
            self._conn = None
        else:
            connector = connectors(odoolib, timeout, self._clock)[
                protocol + ("s" if secure else "")
            ]
            self._conn = odoolib.Connection(connector(parts.hostname, port), db, login, secret)
            self._json2 = None
        self._secret = secret

    def sync(self, ws: Any, **options: Any) -> Any:
        """Run :func:`erp_bridge.sync` for ``ws`` with this adapter (``ws.sync(odoo)``)."""
        from erp_bridge.run import sync

        return sync(ws, self, **options)

    def __repr__(self) -> str:  # never show the secret
        return f"<OdooAdapter {self.backend} via {self.protocol}>"

    # -- transport ----------------------------------------------------------------
    def call(
        self,
        model: str,
        method: str,
        ids: Sequence[int] | None = None,
        *,
        idempotent: bool = True,
        args: Sequence[Any] = (),
        **kwargs: Any,
    ) -> Any:
        """Call ``model.method`` on the server with keyword arguments, in one round trip.

        Transient transport errors are retried when ``idempotent``; a timeout is not
        (the server is silent, or too slow to help). What cannot reach the server
        raises :class:`Unavailable`; server-side errors about the call (access,
        validation) are raised at once as :class:`RemoteError`.
        """
        attempts = self.retries + 1 if idempotent else 1
        for attempt in range(attempts):
            try:
                return self._send(model, method, ids, args, kwargs)
            except Unavailable:
                raise
            except self._timeouts as exc:
                raise Unavailable(
                    f"{model}.{method}: no answer from {self._where} within {self._timeout:g} s"
                ) from exc
            except self._transient as exc:
                if attempt + 1 >= attempts:
                    raise Unavailable(
                        f"{model}.{method}: cannot reach {self._where}: {type(exc).__name__}: {exc}"
                    ) from exc
                delay = self.backoff * 2**attempt
                log.warning(
                    "%s.%s failed (%s); retry %d in %.1fs",
                    model,
                    method,
                    type(exc).__name__,
                    attempt + 1,
                    delay,
                )
                self.sleep(delay)
            except xmlrpc.client.Fault as exc:
                raise RemoteError(f"{model}.{method}: {_fault_text(exc)}") from exc
            except Exception as exc:
                if _refusal(exc):
                    raise RemoteError(f"{model}.{method}: {exc}") from exc
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        model: str,
        method: str,
        ids: Sequence[int] | None,
        args: Sequence[Any],
        kwargs: dict[str, Any],
    ) -> Any:
        kwargs = falsify(kwargs)
        if self._json2 is not None:
            if ids is not None:
                kwargs["ids"] = list(ids)
            if args:
                raise ValueError("JSON-2 takes named arguments only")
            return self._json2.call(model, method, kwargs)
        assert self._conn is not None
        self._check_login()
        positional = [list(ids)] if ids is not None else []
        return self._conn.get_service("object").execute_kw(
            self.db,
            self._conn.user_id,
            self._secret,
            model,
            method,
            falsify([*positional, *args]),
            kwargs,
        )

    def _check_login(self) -> None:
        """Log in once; a refusal (wrong password, login or database) is not about any
        record: :class:`Unavailable`. Transport errors go to the caller's retries."""
        assert self._conn is not None
        try:
            self._conn.check_login(False)
        except (*self._transient, *self._timeouts):
            raise
        except xmlrpc.client.Fault as exc:
            raise Unavailable(
                f"{self._where} refused the login {self._login!r} on database {self.db!r}: "
                f"{_fault_text(exc)}"
            ) from exc
        except Exception as exc:
            if type(exc).__name__ == "AuthenticationError" or _refusal(exc, value=False):
                raise Unavailable(
                    f"{self._where} refused the login {self._login!r} on database "
                    f"{self.db!r}: {exc}"
                ) from exc
            raise

    # -- the Adapter protocol -------------------------------------------------------
    def changed_since(
        self, model: str, cursor: Cursor, fields: Sequence[str], domain: Domain, limit: int
    ) -> list[Record]:
        """The next page after ``cursor`` in the cursor's order, archived included."""
        full = [*domain, *cursor.domain()]
        return list(
            self.call(
                model,
                "search_read",
                domain=full,
                fields=sorted({*fields, "write_date"}),
                limit=limit,
                order=cursor.order,
                context={"active_test": False},
            )
        )

    def read(self, model: str, ids: Sequence[int], fields: Sequence[str]) -> list[Record]:
        """Records by id, archived included."""
        if not ids:
            return []
        return list(
            self.call(
                model,
                "search_read",
                domain=[["id", "in", list(ids)]],
                fields=list(fields),
                context={"active_test": False},
            )
        )

    def search_read(
        self, model: str, domain: Domain, fields: Sequence[str], limit: int | None = None
    ) -> list[Record]:
        """Records matching ``domain``, archived included, in id order (the first
        ``limit``, if given)."""
        extra: dict[str, Any] = {"limit": limit} if limit else {}
        return list(
            self.call(
                model,
                "search_read",
                domain=domain,
                fields=list(fields),
                order="id asc",
                context={"active_test": False},
                **extra,
            )
        )

    def create(self, model: str, values: Record, external_id: str) -> int:
        """Insert-or-update through ``load`` under ``external_id`` (idempotent)."""
        columns = ["id", *values]
        row = [external_id, *(_load_value(v) for v in values.values())]
        result = self.call(
            model,
            "load",
            idempotent=True,
            fields=[_load_column(c, values.get(c)) for c in columns],
            data=[row],
        )
        errors = [
            m.get("message", str(m)) for m in result.get("messages", []) if m.get("type") == "error"
        ]
        if errors or not result.get("ids"):
            raise RemoteError(f"{model}.load {external_id}: {'; '.join(errors) or result}")
        return int(result["ids"][0])

    def external_ids(self, model: str, ids: Sequence[int], module: str) -> dict[int, str]:
        """For those of ``ids`` registered under ``module``: id -> external name."""
        if not ids:
            return {}
        try:
            rows = self.call(
                "ir.model.data",
                "search_read",
                domain=[
                    ["module", "=", module],
                    ["model", "=", model],
                    ["res_id", "in", sorted(ids)],
                ],
                fields=["name", "res_id"],
            )
        except RemoteError as exc:
            if "AccessError" not in str(exc) and "not allowed" not in str(exc):
                raise
            # Odoo lets only Administration / Access Rights read external ids.
            raise RemoteError(
                f"the Odoo user {self._login!r} may not read external ids (ir.model.data: "
                "Administration / Access Rights only); run the sync once as an Odoo user "
                "with Administration / Access Rights (or Settings), then this user can "
                "sync again"
            ) from exc
        return {int(r["res_id"]): str(r["name"]) for r in rows}

    def find_external_id(self, model: str, external_id: str) -> int | None:
        """The id registered under ``module.name``, or None."""
        module, _, name = external_id.partition(".")
        found = self.call(
            "ir.model.data",
            "search_read",
            domain=[["module", "=", module], ["name", "=", name], ["model", "=", model]],
            fields=["res_id"],
            limit=1,
        )
        return int(found[0]["res_id"]) if found else None

    def write(self, model: str, ids: Sequence[int], values: Record) -> None:
        """Write the same values to records (idempotent, so retried)."""
        if ids and values:
            # Positionally over RPC: overrides name it differently (mail.activity's is
            # ``values``, BaseModel's ``vals``); JSON-2 has names only.
            if self._json2 is not None:
                self.call(model, "write", list(ids), vals=values)
            else:
                self.call(model, "write", list(ids), args=[values])

    def archive(self, model: str, ids: Sequence[int], active: bool = False) -> None:
        """Set ``active`` on records."""
        self.write(model, ids, {"active": active})

    def execute(self, model: str, ids: Sequence[int], method: str) -> Any:
        """Run a public record method, e.g. ``mail.activity.action_feedback``."""
        return self.call(model, method, list(ids), idempotent=False)

    def all_ids(self, model: str, domain: Domain) -> set[int]:
        """Every id matching ``domain`` the user may see, archived included."""
        return set(self.call(model, "search", domain=domain, context={"active_test": False}))

    def existing(self, model: str, ids: Sequence[int]) -> set[int]:
        """Those of ``ids`` still in the database, visible to the user or not.

        Odoo's ``exists`` reads the table itself, past the record rules that hide other
        people's records from a user: one call per thousand ids. Odoo 19 made it
        private; there each id is asked with ``has_access`` (True or False: it exists;
        "does not exist": it was deleted). Only records the user no longer finds are
        asked, so there are few."""
        wanted = sorted(set(ids))
        out: set[int] = set()
        if not self._exists_is_private:
            try:
                for start in range(0, len(wanted), 1000):
                    out |= set(self.call(model, "exists", wanted[start : start + 1000]))
                return out
            except Unavailable:
                raise
            except RemoteError as exc:
                if "Private methods" not in str(exc):
                    raise
                self._exists_is_private = True
        for rid in wanted:
            try:
                self.call(model, "has_access", [rid], operation="read")
            except Unavailable:
                raise
            except RemoteError as exc:
                if "does not exist" in str(exc) or "has been deleted" in str(exc):
                    continue
                raise
            out.add(rid)
        return out

    def identity(self) -> str | None:
        """Odoo's ``database.uuid`` (a system parameter, readable by an administrator);
        None when this user may not read it."""
        try:
            found = self.search_read(
                "ir.config_parameter", [["key", "=", "database.uuid"]], ["value"]
            )
        except Unavailable:
            raise
        except RemoteError as exc:
            log.info("database.uuid not readable: %s", exc)
            return None
        return str(found[0]["value"]) if found and found[0].get("value") else None

    def same_server(self, backend: str) -> bool:
        """``backend`` names this database on this port, on a host that resolves to an
        address this one resolves to (``localhost`` and ``127.0.0.1``)."""
        other = parse_backend(backend)
        mine = parse_backend(self.backend)
        if other is None or mine is None or other[0] != mine[0] or other[2] != mine[2]:
            return False
        return bool(addresses(other[1]) & addresses(mine[1]))

    def server_time(self) -> str:
        """Odoo's clock, from the ``Date`` header of a small call (``context_get``, which
        also checks the login); our own clock if no header comes back."""
        self.call("res.users", "context_get")
        seen = self._clock.now()
        if seen is None:
            log.warning("%s sent no Date header; using this machine's clock", self._where)
            return dt.datetime.now(dt.UTC).strftime(STAMP_FORMAT)
        return seen

    def match_candidates(
        self,
        model: str,
        keys: Mapping[str, Collection[str]],
        fields: Sequence[str],
        domain: Domain,
    ) -> list[Record]:
        """Records within ``domain`` that may hold one of ``keys``, archived included:
        searched loosely (see :mod:`erp_bridge.odoo.matching`), one ``search_read``
        per batch of terms; the caller compares the keys of what comes back."""
        found: dict[int, Record] = {}
        for search in matching.domains(keys, fields, domain):
            for record in self.search_read(model, search, fields):
                found[int(record["id"])] = record
        return [found[rid] for rid in sorted(found)]

    def exchange_rates(self, since: str | None) -> list[Record]:
        """The company's ``res.currency.rate`` rows changed at or after ``since``,
        relative to its currency (see :mod:`erp_bridge.odoo.rates`)."""
        return rates.exchange_rates(self, since)

    def schema(self, wanted: Mapping[str, Collection[str]]) -> dict[str, set[str]]:
        """Of the wanted fields, those Odoo has: ``fields_get`` per model, which any
        user may call (``ir.model.fields`` is for administrators only). A model Odoo
        refuses to describe is not installed here (or, at worst, not usable by this
        user): it is left out, and the run says so."""
        out: dict[str, set[str]] = {}
        for model, fields in wanted.items():
            try:
                found = self.call(
                    model, "fields_get", allfields=sorted(fields), attributes=["type"]
                )
            except Unavailable:
                raise  # an ERP that cannot be asked is not one without models
            except RemoteError as exc:
                log.info("%s is left out: %s", model, exc)
                continue
            out[model] = set(fields) & set(found)
        return out


def parse_backend(backend: str) -> tuple[str, str, int] | None:
    """(database, host, port) of an Odoo backend name ``odoo:db@host:port``."""
    kind, _, rest = backend.partition(":")
    db, at, where = rest.rpartition("@")
    host, colon, port = where.rpartition(":")
    if kind != "odoo" or not at or not colon or not port.isdigit():
        return None
    return db, host.strip("[]").lower(), int(port)


def addresses(host: str) -> set[str]:
    """The addresses ``host`` resolves to (itself when it does not resolve)."""
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)} | {host}
    except OSError:
        return {host}


def _load_column(name: str, value: Any) -> str:
    # load() reads relations by database id through the "/.id" sub-field.
    relational = name.endswith(("_id", "_ids"))
    if (
        name != "id"
        and relational
        and not isinstance(value, bool)
        and isinstance(value, list | int)
    ):
        return f"{name}/.id"
    return name


def _load_value(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], list | tuple):
        # A write command such as [(6, 0, ids)]: load() takes the ids themselves.
        value = [i for command in value if command[0] == 6 for i in command[2]]
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _refusal(exc: Exception, value: bool = True) -> bool:
    """Whether ``exc`` is Odoo refusing a call over JSON-RPC (odoolib's
    ``JsonRPCException``, whatever module it is defined in), or, with ``value``, a
    ``ValueError`` (a value this transport cannot send)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "JsonRPCException" in names or (value and isinstance(exc, ValueError))


def _fault_text(fault: xmlrpc.client.Fault) -> str:
    """What an Odoo XML-RPC fault says, in one line. A server error carries the whole
    traceback in its string, whose last line says why; a user-facing warning (Odoo
    refusing an action) comes as "warning -- Warning" and the message in the fault
    code, with an empty string."""
    text = str(fault.faultString or "").strip()
    if not text:
        text = str(fault.faultCode).removeprefix("warning -- Warning").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return str(fault.faultCode)
    if lines[0].startswith("Traceback"):
        return lines[-1]
    return " ".join(lines)[:500]
