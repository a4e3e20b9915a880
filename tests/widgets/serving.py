"""The real ``crmbook serve`` as a process of its own, for the tests that need one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.widgets.browser import free_port, wait_for


@contextmanager
def crmbook_serve(
    location: str | Path,
    log: Path,
    *options: str,
    port: int | None = None,
    secret: str = "test-secret",
    timeout: float = 60,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``crmbook serve location --port port *options`` (on a free port unless given);
    yields (its URL, its process) once ``/login`` answers.

    Its output and errors go to ``log`` (overwritten), for the test to read. The
    process is terminated on leaving (killed if it has not ended 30 s later), also
    when it did not answer within ``timeout`` seconds or the test failed."""
    port = port or free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "crm_core.cli", "serve", str(location)),
                *("--port", str(port), *options),
            ],
            env={**os.environ, "CRMBOOK_COOKIE_SECRET": secret},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/login", timeout=timeout)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
