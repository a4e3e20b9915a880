"""How crmbook talks to Odoo: odoolib's connectors with our timeouts and a faster
XML-RPC reader, one HTTP client for JSON-2, the server's clock from its ``Date``
header, and a filter that keeps the secret out of odoolib's logs. The adapter
(:mod:`erp_bridge.odoo.adapter`) builds on these."""

from __future__ import annotations

import datetime as dt
import email.utils
import gzip
import http.client
import logging
import socket
import xmlrpc.client
from typing import Any

from erp_bridge.adapter import RemoteError, Unavailable
from erp_bridge.cursor import STAMP_FORMAT
from erp_bridge.odoo import fastxml

_TRANSIENT: tuple[type[BaseException], ...] = (
    ConnectionError,
    socket.timeout,
    TimeoutError,
    http.client.HTTPException,
    xmlrpc.client.ProtocolError,
)


def import_odoolib() -> Any:
    try:
        import odoolib
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "Syncing with Odoo needs odoo-client-lib: pip install 'crmbook[odoo]'"
        ) from exc
    return odoolib


def transient_errors() -> tuple[type[BaseException], ...]:
    try:
        import httpx
    except ImportError:  # pragma: no cover
        return _TRANSIENT
    return (*_TRANSIENT, httpx.TransportError)


def timeout_errors() -> tuple[type[BaseException], ...]:
    try:
        import httpx
    except ImportError:  # pragma: no cover
        return (socket.timeout, TimeoutError)
    return (socket.timeout, TimeoutError, httpx.TimeoutException)


class ServerClock:
    """The ``Date`` header of the server's last response: the ERP's own clock, which
    is what its ``write_date`` values are read against (ours may be off)."""

    def __init__(self) -> None:
        self.last: str | None = None

    def seen(self, header: str | None) -> None:
        if header:
            self.last = header

    def now(self) -> str | None:
        """The last time seen, as a ``write_date`` string (None if no header came)."""
        if not self.last:
            return None
        try:
            stamp = email.utils.parsedate_to_datetime(self.last)
        except (TypeError, ValueError):
            return None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC).strftime(STAMP_FORMAT)


def falsify(value: Any) -> Any:
    """Odoo's wire form of a value: ``None`` becomes ``False``, recursively."""
    if value is None:
        return False
    if isinstance(value, dict):
        return {k: falsify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [falsify(v) for v in value]
    return value


class SecretFilter(logging.Filter):
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


class FastResponses(xmlrpc.client.Transport):
    """An ``xmlrpc.client`` transport reading responses with
    :func:`erp_bridge.odoo.fastxml.loads`, and with the standard parser when that
    declines (faults, types it does not read)."""

    clock: ServerClock | None = None

    def parse_response(self, response: http.client.HTTPResponse) -> Any:
        if self.clock is not None:
            self.clock.seen(response.getheader("Date"))
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


def connectors(odoolib: Any, timeout: float, clock: ServerClock) -> dict[str, type]:
    """odoolib connectors with a configurable timeout (the originals have none or 5 s),
    a faster reader of XML-RPC responses, and an eye on the server's clock."""

    class TimeoutTransport(FastResponses):
        def make_connection(self, host: Any) -> http.client.HTTPConnection:
            conn = super().make_connection(host)
            conn.timeout = timeout
            return conn

    class TimeoutSafeTransport(FastResponses, xmlrpc.client.SafeTransport):
        def make_connection(self, host: Any) -> http.client.HTTPSConnection:
            conn = super().make_connection(host)
            conn.timeout = timeout
            return conn

    class XmlRPC(odoolib.XmlRPCConnector):  # type: ignore[misc, name-defined]
        def send(self, service_name: str, method: str, *args: Any) -> Any:
            url = f"{self.url}/{service_name}"
            transport = TimeoutSafeTransport() if url.startswith("https") else TimeoutTransport()
            transport.clock = clock
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
            response = self.client.post(self.url, json=payload)
            clock.seen(response.headers.get("date"))
            if response.status_code in (429, 502, 503, 504):
                raise Busy(f"HTTP {response.status_code}")
            try:
                reply = response.json()
            except ValueError:
                raise Busy(f"HTTP {response.status_code}: not an Odoo answer") from None
            if reply.get("error"):
                raise json_rpc_error(reply["error"])
            return reply.get("result", False)

    class JsonRPCS(JsonRPC):
        def __init__(self, hostname: str, port: int):
            super().__init__(hostname, port)
            self.url = f"https://{hostname}:{port}/jsonrpc"

    return {"xmlrpc": XmlRPC, "xmlrpcs": XmlRPCS, "jsonrpc": JsonRPC, "jsonrpcs": JsonRPCS}


def json_rpc_error(error: Any) -> Exception:
    """Odoo's JSON-RPC ``error`` object as odoolib's ``JsonRPCException`` (in
    ``odoolib.tools``: odoo-client-lib 2 does not export it at the top), saying Odoo's
    own message (``data.message``: "database "x" does not exist", an access error)
    rather than the whole object."""
    from odoolib.tools import JsonRPCException

    class OdooRefused(JsonRPCException):  # type: ignore[misc]
        def __str__(self) -> str:
            data = self.error.get("data") if isinstance(self.error, dict) else None
            message = (data or {}).get("message") if isinstance(data, dict) else None
            if not message and isinstance(self.error, dict):
                message = self.error.get("message")
            return str(message or repr(self.error)).strip().splitlines()[-1][:500]

    return OdooRefused(error)


class Busy(ConnectionError):
    """The server answered "try again later" (HTTP 429, 502, 503 or 504), or something
    that is not Odoo (a proxy's error page): retried, then :class:`Unavailable`."""


class Json2Client:
    """Odoo 19's JSON-2 API (``POST /json/2/<model>/<method>``, named arguments, an API
    key as bearer token) through one HTTP client. odoolib gives the address and the
    headers; its ``JsonModel`` would open a client per call with a fixed timeout."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float, clock: ServerClock):
        import httpx

        self.client = httpx.Client(base_url=url, headers=headers, timeout=timeout)
        self.clock = clock

    def call(self, model: str, method: str, kwargs: dict[str, Any]) -> Any:
        reply = self.client.post(f"{model}/{method}", json=kwargs)
        self.clock.seen(reply.headers.get("date"))
        if reply.status_code == 200:
            return reply.json()
        if reply.status_code in (429, 502, 503, 504):
            raise Busy(f"HTTP {reply.status_code}")
        if reply.status_code == 401:
            raise Unavailable(f"{model}.{method}: the API key was refused")
        try:
            message = reply.json()["message"]
        except (ValueError, KeyError, TypeError):
            message = reply.text[:200]
        raise RemoteError(f"{model}.{method}: HTTP {reply.status_code}: {message}")
