"""The staff app's login, sessions and headers over real HTTP and websockets, against a
server started in this process, on SQLite and PostgreSQL (sessions and throttling live
in the workspace). Each test reproduces an attack of issue 12 and sees it fail."""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from bokeh.util.token import generate_jwt_token, get_session_id, get_token_payload
from tornado.httpclient import HTTPClientError
from tornado.web import decode_signed_value
from tornado.websocket import WebSocketError

import crm_core
from crm_core.services import throttle
from crm_core.services.sessions import token_hash
from tests.widgets.app_server import (
    SESSION,
    add_staff,
    closed_within,
    log_in,
    log_out,
    open_socket,
    page_token,
    run,
    served,
    session_cookie,
    xsrf_of,
)
from tests.widgets.browser import PASSWORD
from widgets.auth import safe_next
from widgets.headers import HEADERS
from widgets.open_pages import CLOSE_CODE

pytestmark = pytest.mark.slow


@pytest.fixture
def staff(backend, monkeypatch):
    """A workspace with bilal, olga (sales) and demo (admin); no secret from outside."""
    monkeypatch.delenv("CRMBOOK_COOKIE_SECRET", raising=False)
    add_staff(backend)
    return backend


@pytest.fixture
def app(staff):
    with served(staff) as url:
        yield url


def _no_traceback(caplog) -> None:
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert "Traceback" not in record.getMessage()
        assert "Uncaught exception" not in record.getMessage()


# -- 3. headers, and no traceback for anyone ------------------------------------------------
def test_every_response_carries_the_security_headers(app):
    client, answer = log_in(app, "bilal")
    assert answer.status_code == 302
    anonymous = httpx.Client(base_url=app, follow_redirects=False, timeout=30)
    responses = {
        "login page": anonymous.get("/login"),
        "page, anonymous": anonymous.get("/"),
        "page": client.get("/"),
        "bokeh static": anonymous.get("/static/js/bokeh.min.js"),
        "panel static": anonymous.get("/static/extensions/panel/panel.min.js"),
        "favicon": anonymous.get("/favicon.ico"),
        "not found": anonymous.get("/no-such-page"),
        "autoload, anonymous": anonymous.get("/autoload.js?bokeh-autoload-element=x"),
        "autoload": client.get(
            "/autoload.js?bokeh-autoload-element=x", headers={"Origin": "https://evil.example"}
        ),
        "login refused": anonymous.post("/login", data={"username": "x", "password": "y"}),
        "health, anonymous": anonymous.get("/health"),
        "health, not an admin": client.get("/health"),
        "logout": client.get("/logout"),
    }
    expected_status = {
        "login page": 200,
        "page, anonymous": 302,
        "page": 200,
        "bokeh static": 200,
        "panel static": 200,
        "favicon": 200,
        "not found": 404,
        "autoload, anonymous": 401,
        "autoload": 200,
        "login refused": 403,
        "health, anonymous": 401,
        "health, not an admin": 403,
        "logout": 200,  # the page asking to confirm: a GET logs no one out
    }
    for name, response in responses.items():
        assert response.status_code == expected_status[name], name
        for header, value in HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
        assert "access-control-allow-origin" not in response.headers, name
    csp = HEADERS["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and HEADERS["X-Frame-Options"] == "DENY"
    assert HEADERS["X-Content-Type-Options"] == "nosniff"
    assert HEADERS["Referrer-Policy"] == "same-origin"
    assert (
        responses["bokeh static"]
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )


def test_anonymous_requests_get_the_login_or_401_and_never_a_traceback(app, caplog):
    caplog.set_level(logging.INFO)
    anonymous = httpx.Client(base_url=app, follow_redirects=False, timeout=30)
    page = anonymous.get("/")
    assert page.status_code == 302 and page.headers["location"] == "./login?next=%2F"
    for path in (
        "/autoload.js",
        "/autoload.js?bokeh-autoload-element=x",
        "/ws",
        "/metadata",
        "/health",
    ):
        assert anonymous.get(path).status_code == 401, path
    # a forged or stale cookie is the same as none
    forged = anonymous.get("/", cookies={SESSION: "2|1:0|10:1|15:crmbook_session|4:eA==|00"})
    assert forged.status_code == 302
    time.sleep(0.3)  # the access log is written after the answer
    _no_traceback(caplog)
    assert any("401 GET /autoload.js" in r.getMessage() for r in caplog.records)


# -- 2. the login form ------------------------------------------------------------------------
def test_a_login_without_the_xsrf_token_is_refused(app):
    # a page elsewhere posting the form: no token, no cookie
    direct = httpx.post(app + "/login", data={"username": "bilal", "password": PASSWORD})
    assert direct.status_code == 403 and SESSION not in direct.cookies
    # the token without its cookie, or a cookie with another token, fails as well
    client = httpx.Client(base_url=app, follow_redirects=False)
    token = xsrf_of(client)
    stranger = httpx.post(
        app + "/login", data={"username": "bilal", "password": PASSWORD, "_xsrf": token}
    )
    assert stranger.status_code == 403
    wrong = client.post(
        "/login",
        data={
            "username": "bilal",
            "password": PASSWORD,
            "_xsrf": xsrf_of(httpx.Client(base_url=app)),
        },
    )
    assert wrong.status_code == 403 and SESSION not in client.cookies
    _client, ok = log_in(app, "bilal")
    assert ok.status_code == 302 and SESSION in ok.cookies


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_goes_nowhere_but_a_path_of_this_app(app, target):
    _client, answer = log_in(app, "bilal", next=target)
    assert answer.status_code == 302 and answer.headers["location"] == "/"
    form = httpx.get(app + "/login", params={"next": target})
    assert 'name="next" value="/"' in form.text


def test_next_keeps_a_path_of_the_app():
    assert safe_next("/?tab=contacts") == "/?tab=contacts"
    assert safe_next("/reports/funnel") == "/reports/funnel"
    for bad in ("", None, 7, "//x", "/\\x", "/\nx", "/ x", "/é", "https://x/", "x"):
        assert safe_next(bad, "/app/") == "/app/"


def test_the_session_cookie_is_httponly_lax_and_secure_over_https_only(staff):
    with served(staff) as url:
        _client, plain = log_in(url, "bilal")
        cookie = plain.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION}=") and "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie and "Secure" not in cookie
        # without --behind-proxy a forwarded scheme or address is not believed
        client = httpx.Client(base_url=url, follow_redirects=False)
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        data = {"username": "bilal", "password": PASSWORD, "_xsrf": xsrf_of(client)}
        answer = client.post("/login", data=data, headers=forwarded)
        assert "Secure" not in answer.headers["set-cookie"]
    with served(staff, behind_proxy=True) as url:
        client = httpx.Client(base_url=url, follow_redirects=False)
        form = client.get("/login", headers=forwarded)
        assert "Secure" in form.headers["set-cookie"] and "HttpOnly" in form.headers["set-cookie"]
        data = {"username": "bilal", "password": PASSWORD, "_xsrf": xsrf_of(client)}
        answer = client.post("/login", data=data, headers=forwarded)
        cookie = answer.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with crm_core.open(staff) as ws:
        addresses = sorted(ws.sessions.list("bilal")["address"])
    assert addresses == ["127.0.0.1", "127.0.0.1", "203.0.113.9"]


def test_the_fifth_wrong_password_gets_the_wait_message(app):
    locations = []
    for _ in range(5):
        _client, answer = log_in(app, "bilal", "wrong-guess")
        locations.append(answer.headers["location"])
    first = parse_qs(urlsplit(locations[0]).query)
    assert first["error"] == ["invalid"]
    last = parse_qs(urlsplit(locations[-1]).query)
    assert last["error"] == ["wait"] and last["wait"] == ["1"]
    shown = httpx.get(app + locations[-1]).text
    assert "Too many attempts, try again in 1 s." in shown
    # while waiting even the right password is not checked
    _client, refused = log_in(app, "bilal")
    assert "error=wait" in refused.headers["location"] and SESSION not in refused.cookies
    time.sleep(1.1)
    _client, ok = log_in(app, "bilal")
    assert ok.headers["location"] == "/" and SESSION in ok.cookies


def test_unknown_and_known_logins_answer_in_the_same_time(app, staff):
    """Medians of 20 wrong passwords each, known and unknown logins interleaved, the
    counts cleared between tries (the throttle would answer early otherwise)."""
    client = httpx.Client(base_url=app, follow_redirects=False, timeout=30)
    token = xsrf_of(client)
    times: dict[str, list[float]] = {"bilal": [], "nobody": []}
    with crm_core.open(staff) as ws:
        for i in range(21):
            for login in times:
                with ws.transaction() as s:
                    throttle.forget(s)
                data = {"username": login, "password": "wrong-guess", "_xsrf": token}
                start = time.perf_counter()
                answer = client.post("/login", data=data)
                took = time.perf_counter() - start
                assert "error=invalid" in answer.headers["location"]
                if i:  # the first round warms up
                    times[login].append(took)
    known, unknown = statistics.median(times["bilal"]), statistics.median(times["nobody"])
    print(f"median known {known * 1000:.1f} ms, unknown {unknown * 1000:.1f} ms")
    assert 1 / 1.5 < known / unknown < 1.5, (known, unknown)


# -- 1. sessions that end ---------------------------------------------------------------------
def _end_by_logout(ws, cookie_client):
    assert log_out(cookie_client).status_code == 302


ENDINGS = {
    "logout": _end_by_logout,
    "password": lambda ws, _c: ws.users.set_password("bilal", "another-pass-1"),
    "disable": lambda ws, _c: ws.users.disable("bilal"),
    "role": lambda ws, _c: ws.users.set_role("bilal", "manager"),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_an_ended_login_is_refused_over_http_and_its_open_page_is_closed(app, staff, ending):
    client, _ = log_in(app, "bilal")
    cookie = session_cookie(client)
    other, _ = log_in(app, "bilal")  # a second device of bilal's
    olga, _ = log_in(app, "olga")
    assert client.get("/").status_code == 200
    token = page_token(app, cookie)

    async def scenario() -> float:
        socket = await open_socket(app, token, cookie)
        olga_socket = await open_socket(
            app, page_token(app, session_cookie(olga)), session_cookie(olga)
        )
        with crm_core.open(staff) as ws:
            await asyncio.get_running_loop().run_in_executor(None, ENDINGS[ending], ws, client)
        took = await closed_within(socket, 3.0)
        assert socket.close_code == CLOSE_CODE
        # a reconnect with the old cookie fails the login check
        with pytest.raises((HTTPClientError, WebSocketError)) as refused:
            await open_socket(app, token, cookie)
        assert getattr(refused.value, "code", 401) == 401
        assert olga_socket.close_code is None  # olga's page is untouched
        olga_socket.close()
        return took

    took = run(scenario())
    print(f"{ending}: page closed {took:.2f} s after the login ended")
    assert took < 2.0
    for stale in (cookie, session_cookie(other)):
        page = httpx.get(app + "/", cookies={SESSION: stale}, follow_redirects=False)
        assert page.status_code == 302 and "login" in page.headers["location"]
    assert httpx.get(app + "/", cookies={SESSION: session_cookie(olga)}).status_code == 200


def test_a_page_never_holds_the_session_cookie_and_its_socket_needs_the_same_login(app, staff):
    """The contract with Bokeh's public hooks that the app relies on: the auth provider
    sees the websocket handshake (cookie and token) before it is accepted, and
    ``exclude_cookies``/``exclude_headers`` keep the cookie out of the page's token."""
    bilal, _ = log_in(app, "bilal")
    olga, _ = log_in(app, "olga")
    cookie = session_cookie(bilal)
    with crm_core.open(staff) as ws:
        signed = cookie.strip('"')  # tornado quotes the value
        raw = decode_signed_value(ws.sessions.cookie_secret(), SESSION, signed).decode()
    token = page_token(app, cookie)
    payload = get_token_payload(token)
    assert payload["cookies"] == {"crmbook_page": token_hash(raw)}
    assert "Cookie" not in payload["headers"]
    assert raw not in str(payload) and cookie not in str(payload)

    async def scenario() -> None:
        for stranger in (session_cookie(olga), None, "forged"):
            with pytest.raises((HTTPClientError, WebSocketError)):
                await open_socket(app, token, stranger)
        socket = await open_socket(app, token, cookie)
        socket.close()

    run(scenario())


def test_a_link_cannot_choose_a_page_session_nor_a_token_be_forged(app, staff):
    """Session fixation: a link naming a Bokeh session id (or token) that a sales user
    knows must not give a manager's page that id; and a token the server did not sign,
    naming another login's page with the attacker's own login, must not attach."""
    bilal, _ = log_in(app, "bilal")
    admin, _ = log_in(app, "demo")
    mine, theirs = session_cookie(bilal), session_cookie(admin)
    for asked in ("/?bokeh-session-id=CHOSEN", "/?bokeh-token=x.y"):
        page = httpx.get(app + asked, cookies={SESSION: theirs}, follow_redirects=False)
        assert page.status_code == 403, asked
    fixed = httpx.get(app + "/", cookies={SESSION: theirs}, headers={"Bokeh-Session-Id": "CHOSEN"})
    assert fixed.status_code == 403
    # The admin's real page, and a token for it made up by bilal with his own login.
    victim = get_session_id(page_token(app, theirs))
    with crm_core.open(staff) as ws:
        raw = decode_signed_value(ws.sessions.cookie_secret(), SESSION, mine.strip('"'))
    forged = generate_jwt_token(
        victim,
        signed=False,
        extra_payload={
            "headers": {},
            "arguments": {},
            "cookies": {"crmbook_page": token_hash(raw.decode())},
        },
    )

    async def scenario() -> None:
        with pytest.raises((HTTPClientError, WebSocketError)):
            await open_socket(app, forged, mine)
        socket = await open_socket(app, page_token(app, mine), mine)  # his own: fine
        socket.close()

    run(scenario())


def test_the_cookie_secret_survives_a_restart(staff, monkeypatch):
    with served(staff) as first:
        client, _ = log_in(first, "bilal")
        cookie = session_cookie(client)
        assert httpx.get(first + "/", cookies={SESSION: cookie}).status_code == 200
    with served(staff) as second:  # a restart, or another process on the workspace
        page = httpx.get(second + "/", cookies={SESSION: cookie}, follow_redirects=False)
        assert page.status_code == 200 and "crmbook" in page.text
    monkeypatch.setenv("CRMBOOK_COOKIE_SECRET", "another-secret")
    with served(staff) as third:  # a secret given from outside wins
        page = httpx.get(third + "/", cookies={SESSION: cookie}, follow_redirects=False)
        assert page.status_code == 302
