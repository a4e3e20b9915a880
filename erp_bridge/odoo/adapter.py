"""The Odoo adapter, over odoo-client-lib (``odoolib``).

Designed around the library's traits:

- XML-RPC cannot marshal ``None``: every value sent is converted (``None`` -> ``False``).
- Its ``Model.search_read`` is two calls (search, then read): we call the server's
  own ``search_read`` through ``execute_kw``, one round trip per page.
- Its JSON-RPC transport has a fixed 5 s timeout, its JSON-2 one a fixed 60 s and its
  XML-RPC none at all: the connectors are replaced by subclasses whose timeout is
  configurable. Its JSON transports also build a new HTTP client for every call
  (about 50 ms each here): ours keep one per adapter, shared by the reader threads.
- Its JSON-2 errors carry the whole response, server traceback included: we keep
  Odoo's message, and treat 429/502/503/504 as transient (retried).
- It never retries: reads and idempotent writes are retried here with backoff;
  creates go through Odoo's ``load`` with an external id, which inserts or, if the
  external id exists already, updates, so a retried create never duplicates.
- At DEBUG its loggers print every argument, the password included: a filter on the
  ``odoolib`` logger masks the secret in every record it emits.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import socket
import time
import xmlrpc.client
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from erp_bridge.adapter import Domain, Record, RemoteError
from erp_bridge.cursor import Cursor
from erp_bridge.odoo import fastxml

log = logging.getLogger(__name__)
PROTOCOLS = ("xmlrpc", "jsonrpc", "json2")
_TRANSIENT: tuple[type[BaseException], ...] = (
    ConnectionError,
    socket.timeout,
    TimeoutError,
    http.client.HTTPException,
    xmlrpc.client.ProtocolError,
)


def _import_odoolib() -> Any:
    try:
        import odoolib
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "Syncing with Odoo needs odoo-client-lib: pip install 'crmbook[odoo]'"
        ) from exc
    return odoolib


def _transient_errors() -> tuple[type[BaseException], ...]:
    try:
        import httpx
    except ImportError:  # pragma: no cover
        return _TRANSIENT
    return (*_TRANSIENT, httpx.TransportError)


def falsify(value: Any) -> Any:
    """Odoo's wire form of a value: ``None`` becomes ``False``, recursively."""
    if value is None:
        return False
    if isinstance(value, dict):
        return {k: falsify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [falsify(v) for v in value]
    return value


class _SecretFilter(logging.Filter):
    """Masks a secret in every log record of the ``odoolib`` loggers."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            record.msg = _mask(record.msg, self.secret)
            if isinstance(record.args, tuple):
                record.args = tuple(_mask(a, self.secret) for a in record.args)
            elif isinstance(record.args, dict):
                record.args = {k: _mask(a, self.secret) for k, a in record.args.items()}
        return True


def _mask(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        return value.replace(secret, "***")
    if isinstance(value, tuple | list):
        return type(value)(_mask(v, secret) for v in value)
    if isinstance(value, dict):
        return {k: _mask(v, secret) for k, v in value.items()}
    return value


class _FastResponses(xmlrpc.client.Transport):
    """An ``xmlrpc.client`` transport reading responses with
    :func:`erp_bridge.odoo.fastxml.loads`, and with the standard parser when that
    declines (faults, types it does not read)."""

    def parse_response(self, response: http.client.HTTPResponse) -> Any:
        data = response.read()
        if response.getheader("Content-Encoding", "") == "gzip":
            data = gzip.decompress(data)
        parsed = fastxml.loads(data)
        if parsed is not None:
            return parsed
        parser, unmarshaller = self.getparser()
        parser.feed(data)
        parser.close()
        return unmarshaller.close()


def _connectors(odoolib: Any, timeout: float) -> dict[str, type]:
    """odoolib connectors with a configurable timeout (the originals have none or 5 s)
    and a faster reader of XML-RPC responses."""

    class TimeoutTransport(_FastResponses):
        def make_connection(self, host: Any) -> http.client.HTTPConnection:
            conn = super().make_connection(host)
            conn.timeout = timeout
            return conn

    class TimeoutSafeTransport(_FastResponses, xmlrpc.client.SafeTransport):
        def make_connection(self, host: Any) -> http.client.HTTPSConnection:
            conn = super().make_connection(host)
            conn.timeout = timeout
            return conn

    class XmlRPC(odoolib.XmlRPCConnector):  # type: ignore[misc, name-defined]
        def send(self, service_name: str, method: str, *args: Any) -> Any:
            url = f"{self.url}/{service_name}"
            transport = TimeoutSafeTransport() if url.startswith("https") else TimeoutTransport()
            proxy = xmlrpc.client.ServerProxy(url, transport=transport, allow_none=False)
            return getattr(proxy, method)(*args)

    class XmlRPCS(XmlRPC):
        def __init__(self, hostname: str, port: int):
            super().__init__(hostname, port)
            self.url = f"https://{hostname}:{port}/xmlrpc"

    class JsonRPC(odoolib.JsonRPCConnector):  # type: ignore[misc, name-defined]
        def __init__(self, hostname: str, port: int):
            import httpx

            super().__init__(hostname, port)
            self.client = httpx.Client(timeout=timeout)

        def send(self, service_name: str, method: str, *args: Any) -> Any:
            payload = {
                "jsonrpc": "2.0",
                "method": "call",
                "id": 1,
                "params": {"service": service_name, "method": method, "args": args},
            }
            reply = self.client.post(self.url, json=payload).json()
            if reply.get("error"):
                raise odoolib.JsonRPCException(reply["error"])
            return reply.get("result", False)

    class JsonRPCS(JsonRPC):
        def __init__(self, hostname: str, port: int):
            super().__init__(hostname, port)
            self.url = f"https://{hostname}:{port}/jsonrpc"

    return {"xmlrpc": XmlRPC, "xmlrpcs": XmlRPCS, "jsonrpc": JsonRPC, "jsonrpcs": JsonRPCS}


class _Unavailable(ConnectionError):
    """The server answered "try again later" (HTTP 429, 502, 503 or 504)."""


class _Json2:
    """Odoo 19's JSON-2 API (``POST /json/2/<model>/<method>``, named arguments, an API
    key as bearer token) through one HTTP client. odoolib gives the address and the
    headers; its ``JsonModel`` would open a client per call with a fixed timeout."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float):
        import httpx

        self.client = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def call(self, model: str, method: str, kwargs: dict[str, Any]) -> Any:
        reply = self.client.post(f"{model}/{method}", json=kwargs)
        if reply.status_code == 200:
            return reply.json()
        if reply.status_code in (429, 502, 503, 504):
            raise _Unavailable(f"HTTP {reply.status_code}")
        if reply.status_code == 401:
            raise RemoteError(f"{model}.{method}: the API key was refused")
        try:
            message = reply.json()["message"]
        except (ValueError, KeyError, TypeError):
            message = reply.text[:200]
        raise RemoteError(f"{model}.{method}: HTTP {reply.status_code}: {message}")


class OdooAdapter:
    """An :class:`~erp_bridge.adapter.Adapter` for Odoo 16-19.

    ``url`` is the server's address (``http://host:8069``); ``secret`` the password or,
    for ``protocol="json2"`` (Odoo 19 and later), an API key. ``timeout`` is per call in
    seconds; transient failures are retried ``retries`` times with exponential backoff.
    """

    def __init__(
        self,
        url: str,
        db: str,
        login: str,
        secret: str,
        *,
        protocol: str = "xmlrpc",
        timeout: float = 60.0,
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
        self._transient = _transient_errors()
        odoolib = _import_odoolib()
        logging.getLogger("odoolib").addFilter(_SecretFilter(secret))
        for name in ("odoolib.rpc", "odoolib.json2", "odoolib.tools"):
            logging.getLogger(name).addFilter(_SecretFilter(secret))
        if protocol == "json2":
            name = "json2s" if secure else "json2"
            conn = odoolib.get_connection(
                hostname=parts.hostname, protocol=name, port=port, database=db, password=secret
            )
            self._json2: _Json2 | None = _Json2(conn.connector.url, conn.bearer_header, timeout)
            self._conn = None
        else:
            connector = _connectors(odoolib, timeout)[protocol + ("s" if secure else "")]
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

        Transient transport errors are retried when ``idempotent``; server-side
        errors (access, validation) are raised at once as :class:`RemoteError`.
        """
        attempts = self.retries + 1 if idempotent else 1
        for attempt in range(attempts):
            try:
                return self._send(model, method, ids, args, kwargs)
            except self._transient as exc:
                if attempt + 1 >= attempts:
                    raise RemoteError(f"{model}.{method}: {type(exc).__name__}: {exc}") from exc
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
                raise RemoteError(f"{model}.{method}: {_fault_text(exc.faultString)}") from exc
            except Exception as exc:
                if type(exc).__name__ in ("JsonRPCException", "AuthenticationError", "ValueError"):
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
        self._conn.check_login(False)
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

    def search_read(self, model: str, domain: Domain, fields: Sequence[str]) -> list[Record]:
        """All records matching ``domain``, archived included, in id order."""
        return list(
            self.call(
                model,
                "search_read",
                domain=domain,
                fields=list(fields),
                order="id asc",
                context={"active_test": False},
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
        rows = self.call(
            "ir.model.data",
            "search_read",
            domain=[["module", "=", module], ["model", "=", model], ["res_id", "in", sorted(ids)]],
            fields=["name", "res_id"],
        )
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
        """Every id matching ``domain``, archived included."""
        return set(self.call(model, "search", domain=domain, context={"active_test": False}))

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
            except RemoteError as exc:
                log.info("%s is left out: %s", model, exc)
                continue
            out[model] = set(fields) & set(found)
        return out


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


def _fault_text(text: str) -> str:
    # Odoo puts the whole server traceback in the fault; its last line says why.
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else str(text)
