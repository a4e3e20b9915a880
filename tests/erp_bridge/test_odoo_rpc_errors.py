"""Odoo's refusals over XML-RPC and JSON-RPC, from a loopback server answering as Odoo
18 does: a wrong database is "refused the login" (not a traceback), a refused call is a
:class:`RemoteError` naming the call and Odoo's message (not an AttributeError: the
JSON-RPC exception lives in ``odoolib.tools`` in odoo-client-lib 2)."""

from __future__ import annotations

import json
import threading
import xmlrpc.client
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from erp_bridge.adapter import RemoteError, Unavailable
from erp_bridge.odoo.adapter import OdooAdapter

NO_DB = 'FATAL:  database "nope" does not exist'
DENIED = "You are not allowed to access 'Lead/Opportunity' (crm.lead) records."


class Odoo18:
    """Answers ``common.login`` (uid 2 on the database ``crm``, a server error on any
    other) and refuses every ``object`` call with an access error."""

    def answer(self, service: str, method: str, args: list[Any]) -> tuple[Any, str | None]:
        if service == "common" and method == "login":
            return (2, None) if args[0] == "crm" else (None, NO_DB)
        return None, DENIED


@pytest.fixture
def server() -> Iterator[str]:
    odoo = Odoo18()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/jsonrpc":
                params = json.loads(body)["params"]
                result, error = odoo.answer(params["service"], params["method"], params["args"])
                reply = {"jsonrpc": "2.0", "id": 1}
                if error:
                    reply["error"] = {
                        "code": 200,
                        "message": "Odoo Server Error",
                        "data": {"name": "odoo.exceptions.AccessError", "message": error},
                    }
                else:
                    reply["result"] = result
                data = json.dumps(reply).encode()
                kind = "application/json"
            else:
                args, method = xmlrpc.client.loads(body)
                result, error = odoo.answer(self.path.rsplit("/", 1)[-1], method, list(args))
                fault = xmlrpc.client.Fault(1, f"Traceback (most recent call last):\n...\n{error}")
                data = xmlrpc.client.dumps(
                    fault if error else (result,), methodresponse=True
                ).encode()
                kind = "text/xml"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("protocol", ["xmlrpc", "jsonrpc"])
def test_a_wrong_database_is_a_refused_login(server, protocol):
    odoo = OdooAdapter(server, "nope", "admin", "pw", protocol=protocol, retries=0)
    with pytest.raises(Unavailable) as refused:
        odoo.server_time()
    assert str(refused.value) == (f"{server} refused the login 'admin' on database 'nope': {NO_DB}")


@pytest.mark.parametrize("protocol", ["xmlrpc", "jsonrpc"])
def test_a_refused_call_is_a_remote_error_with_odoos_message(server, protocol):
    odoo = OdooAdapter(server, "crm", "admin", "pw", protocol=protocol, retries=0)
    with pytest.raises(RemoteError) as refused:
        odoo.read("crm.lead", [1], ["name"])
    assert not isinstance(refused.value, Unavailable)  # about this call: the run goes on
    assert str(refused.value) == f"crm.lead.search_read: {DENIED}"
