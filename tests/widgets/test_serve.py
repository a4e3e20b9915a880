"""The real ``crmbook serve`` process: it starts, guards every page with the login,
lets a staff user in, and stops when asked."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from tests.widgets.browser import PASSWORD, free_port, wait_for
from tests.widgets.conftest import build_staff_base

CRMBOOK = shutil.which("crmbook") or "crmbook"


def request(port: int, method: str, path: str, body: str | None = None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    return reply, data


@pytest.mark.slow
def test_crmbook_serve_runs_the_app_behind_the_login(tmp_path: Path):
    path = tmp_path / "staff.sqlite"
    build_staff_base(path)
    port = free_port()
    env = {**os.environ, "CRMBOOK_COOKIE_SECRET": "smoke-test-secret"}
    proc = subprocess.Popen(
        [CRMBOOK, "serve", str(path), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/login", timeout=60)
        anonymous, _ = request(port, "GET", "/")
        assert anonymous.status == 302 and "login" in anonymous.getheader("Location")
        # The login form carries an XSRF token, checked against its cookie.
        form, html = request(port, "GET", "/login")
        xsrf = re.search(rb'name="_xsrf" value="([^"]+)"', html).group(1).decode()
        xsrf_cookie = form.getheader("Set-Cookie").split(";")[0]
        posted = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": xsrf_cookie}
        wrong, _ = request(
            port,
            "POST",
            "/login",
            urllib.parse.urlencode({"username": "bilal", "password": "nope", "_xsrf": xsrf}),
            posted,
        )
        assert wrong.status == 302 and "error" in wrong.getheader("Location")
        assert wrong.getheader("Set-Cookie") is None
        ok, _ = request(
            port,
            "POST",
            "/login",
            urllib.parse.urlencode({"username": "bilal", "password": PASSWORD, "_xsrf": xsrf}),
            posted,
        )
        assert ok.status == 302
        cookies = "; ".join(
            c.split(";")[0]
            for c in ok.headers.get_all("Set-Cookie")
            if c.startswith("crmbook_session=")
        )
        assert "HttpOnly" in ok.getheader("Set-Cookie")
        page, html = request(port, "GET", "/", headers={"Cookie": cookies})
        assert page.status == 200 and b"crmbook" in html
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in out
    assert PASSWORD not in out


def test_num_procs_is_refused_and_names_what_to_do_instead(tmp_path: Path):
    path = tmp_path / "w.sqlite"
    build_staff_base(path)
    done = subprocess.run(
        [CRMBOOK, "serve", str(path), "--num-procs", "2"], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "--num-procs was removed" in done.stderr
    assert "crmbook proxy-config" in done.stderr
