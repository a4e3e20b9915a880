"""Several ``crmbook serve`` processes on one PostgreSQL behind nginx (Debian's), with
the configuration ``crmbook proxy-config`` writes: every login's pages stay on one
process (each page's session is made once, where its websocket then connects), logins
work on every process, pages are spread over the processes, and a user disabled from
the command line loses their open pages on whichever process holds them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

import crm_core
from tests.widgets.app_server import SESSION, add_staff, log_in
from tests.widgets.browser import PASSWORD, free_port, login, wait_for
from tests.widgets.serving import crmbook_serve
from widgets.app import DISCONNECTED
from widgets.proxy import checked_origin, nginx_config

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TROUBLE = re.compile(
    r"Traceback|ERROR|Error|WARNING|Warning|Exception|\[(?:error|crit|alert|emerg)\]"
)
INBOX = ".crm-inbox-switch button.bk-active"


def _nginx_or_skip() -> None:
    if not Path(NGINX).exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: apt-get install nginx-light (see .ci/run)")
        pytest.skip("nginx is not installed")


@pytest.fixture
def workspace(pg_url: str) -> str:
    from tests.conftest import _reset_pg

    _reset_pg(pg_url)
    add_staff(pg_url)
    with crm_core.open(pg_url) as ws:
        ws.pipeline.ensure_default()
    return pg_url


@pytest.fixture
def proxied(workspace: str, tmp_path: Path) -> Iterator[tuple[str, list[str], list[Path]]]:
    """Two ``crmbook serve`` and nginx in front: (nginx's URL, the two servers' URLs,
    the three logs)."""
    _nginx_or_skip()
    ports = [free_port(), free_port()]
    front = free_port()
    done = subprocess.run(
        [
            *(sys.executable, "-m", "crm_core.cli", "proxy-config"),
            *(str(p) for p in ports),
            *("--listen", f"127.0.0.1:{front}"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    (tmp_path / "crmbook.conf").write_text(done.stdout)
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / temp).mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"""
        user root;
        worker_processes 1;
        error_log {tmp_path}/nginx-error.log warn;
        pid {tmp_path}/nginx.pid;
        events {{ worker_connections 256; }}
        http {{
            log_format sticky '$cookie_crmbook_session $upstream_addr "$request"';
            access_log {tmp_path}/nginx-access.log sticky;
            client_body_temp_path {tmp_path}/body;
            proxy_temp_path {tmp_path}/proxy;
            fastcgi_temp_path {tmp_path}/fastcgi;
            uwsgi_temp_path {tmp_path}/uwsgi;
            scgi_temp_path {tmp_path}/scgi;
            include {tmp_path}/crmbook.conf;
        }}
        """
    )
    logs = [tmp_path / f"serve-{port}.log" for port in ports]
    behind = ("--behind-proxy", "--origin", f"127.0.0.1:{front}")
    with ExitStack() as servers:
        urls = []
        for port, log in zip(ports, logs, strict=True):
            url, _process = servers.enter_context(
                crmbook_serve(
                    workspace, log, *behind, port=port, secret="scale-out-secret", timeout=90
                )
            )
            urls.append(url)
        nginx = subprocess.Popen(
            [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(f"http://127.0.0.1:{front}/login", timeout=30)
            yield f"http://127.0.0.1:{front}", urls, [*logs, tmp_path / "nginx-error.log"]
            # Every request of one login went to one process: a page's own, its websocket
            # and its files (nginx's log: the login cookie, the process, the request).
            chosen: dict[str, set[str]] = {}
            for line in (tmp_path / "nginx-access.log").read_text().splitlines():
                cookie, upstream, _request = line.split(" ", 2)
                if cookie != "-":
                    chosen.setdefault(cookie, set()).add(upstream)
            assert len(chosen) >= 2
            assert {c: u for c, u in chosen.items() if len(u) > 1} == {}
        finally:
            nginx.terminate()
            nginx.wait(timeout=30)


def sessions(url: str, admin: httpx.Client) -> dict:
    """The session counts of the server at ``url`` (its /health, asked directly)."""
    answer = admin.get(url + "/health")
    assert answer.status_code == 200, answer.text
    return answer.json()["sessions"]


def test_a_team_behind_nginx_on_two_processes(proxied, browser, workspace):
    front, servers, logs = proxied
    admin, answer = log_in(servers[0], "demo")  # a login made on one process...
    assert answer.status_code == 302
    assert sessions(servers[1], admin)["opened"] == 0  # ...is good on the other

    pages = []
    spread = [0, 0]
    while min(spread) == 0 and len(pages) < 14:  # a login lands on either process
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        page = context.new_page()
        user = ("bilal", "olga")[len(pages) % 2]
        login(page, front, user)
        page.locator(INBOX).wait_for(timeout=30_000)
        page.locator(".crm-nav-contacts button").click()  # the page works: a click
        page.locator(".crm-contact-table").wait_for(timeout=30_000)
        pages.append((user, page))
        spread = [sessions(url, admin)["live"] for url in servers]
    assert min(spread) >= 1, f"every page on one process: {spread}"
    opened = [sessions(url, admin)["opened"] for url in servers]
    # Each page's session was made once, where its websocket then connected.
    assert sum(opened) == len(pages), (opened, len(pages))
    assert spread == opened

    disabled = subprocess.run(
        [sys.executable, "-m", "crm_core.cli", "user", "disable", "bilal", "-w", workspace],
        capture_output=True,
        text=True,
    )
    assert disabled.returncode == 0, disabled.stderr
    for user, page in pages:
        gone = page.locator(".notyf__message").get_by_text(DISCONNECTED[:40])
        if user == "bilal":  # on whichever process: closed within seconds
            gone.wait_for(timeout=10_000)
        else:
            page.locator(".crm-nav-pipeline button").click()
            page.locator(".crm-board").wait_for(timeout=30_000)
            assert gone.count() == 0
    for url in (front, *servers):  # and no process lets bilal in again
        client, _answer = log_in(url, "bilal")
        assert SESSION not in client.cookies, url
        olga, _answer = log_in(url, "olga")
        assert SESSION in olga.cookies, url
    # A client's own X-Real-IP / X-Scheme do not pass the proxy: the address the login
    # is counted and recorded under is the one nginx saw (else every wrong password
    # could come "from" another address).
    forger = httpx.Client(
        base_url=front,
        follow_redirects=False,
        headers={"X-Real-IP": "203.0.113.66", "X-Scheme": "https"},
    )
    forger.get("/login")
    data = {"username": "olga", "password": PASSWORD, "_xsrf": forger.cookies["_xsrf"]}
    assert SESSION in forger.post("/login", data=data).cookies
    with crm_core.open(workspace) as ws:
        assert set(ws.sessions.list("olga")["address"]) == {"127.0.0.1"}
    for log in logs:
        text = log.read_text(errors="replace") if log.exists() else ""
        assert [line for line in text.splitlines() if TROUBLE.search(line)] == [], log.name


def test_proxy_config_names_what_is_wrong():
    assert "server 127.0.0.1:5006;" in nginx_config(["5006", "10.0.0.2:5007"])
    assert "server 10.0.0.2:5007;" in nginx_config(["5006", "10.0.0.2:5007"])
    tls = nginx_config(["5006"], listen="443", certificate="/etc/ssl/c.pem", key="/etc/ssl/k.pem")
    assert "listen 443 ssl;" in tls and "ssl_certificate_key /etc/ssl/k.pem;" in tls
    for upstreams, options, said in (
        ([], {}, "at least one"),
        (["5006; evil"], {}, "'5006; evil' is not a port"),
        (["70000"], {}, "'70000' is not a port"),
        (["5006"], {"listen": "80 default_server"}, "'80 default_server' is not a port"),
        (["5006"], {"server_name": "a b"}, "'a b' is not a server name"),
        (["5006"], {"certificate": "/c.pem"}, "both the certificate and its key"),
        (["5006"], {"certificate": "/c.pem", "key": "k.pem"}, "'k.pem' is not an absolute"),
        (["5006", "127.0.0.1:5006"], {}, "given twice"),
    ):
        with pytest.raises(ValueError, match=re.escape(said)):
            nginx_config(upstreams, **options)
    assert checked_origin("crm.example.com") == "crm.example.com"
    assert checked_origin("10.0.0.5:8080") == "10.0.0.5:8080"
    for bad in ("https://crm.example.com", "crm.example.com/", "a b", ""):
        with pytest.raises(ValueError, match="give the host users open"):
            checked_origin(bad)
