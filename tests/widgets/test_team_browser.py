"""A team at once: the real ``crmbook serve`` on the demo base, five people (a manager
and sales users) doing a salesperson's loop at the same time with nothing refused,
dropped or logged as trouble; and twenty sessions opened and closed, after which the
server lets every one go and gives their memory back."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.widgets.app_server import run
from tests.widgets.browser import ARGS, CHROMIUM
from tests.widgets.serving import crmbook_serve
from tests.widgets.staff_loop import (
    ACTIONS,
    PASSWORD,
    Tally,
    logged_in,
    new_user,
    search_words,
    work,
)

pytestmark = pytest.mark.slow

#: What must never be in the server's log while a team works.
TROUBLE = re.compile(r"Traceback|ERROR|Error|WARNING|Warning|Exception")


@pytest.fixture(scope="module")
def demo_base(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("team") / "demo.sqlite"
    subprocess.run(
        [sys.executable, "-m", "crm_core.cli", "demo", str(path), "--no-serve"],
        check=True,
        capture_output=True,
    )
    import crm_core

    with crm_core.open(path) as ws:
        ws.users.set_password("demo", PASSWORD)  # the admin reads /health
    return path


@pytest.fixture
def server(demo_base: Path, tmp_path: Path) -> Iterator[tuple[str, Path, psutil.Process]]:
    """``crmbook serve`` on a copy of the demo base: (url, its log, its process)."""
    base = tmp_path / "demo.sqlite"
    base.write_bytes(demo_base.read_bytes())
    log = tmp_path / "serve.log"
    with crmbook_serve(base, log, timeout=90) as (url, process):
        yield url, log, psutil.Process(process.pid)


def trouble(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if TROUBLE.search(line)]


def health(url: str) -> dict:
    with httpx.Client(base_url=url, timeout=30) as admin:
        form = admin.get("/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
        admin.post("/login", data={"username": "demo", "password": PASSWORD, "_xsrf": xsrf})
        answer = admin.get("/health")
        assert answer.status_code == 200, answer.text
        return answer.json()


class PipelineNotShownAfterRecordPage(AssertionError):
    """The one failure this test knows and has not fixed: a click on Pipeline right
    after a record page opened from a contact's link is received and answered by the
    server (it routes to the board and moves the address), but the browser shows none
    of the answer: the record page stays, the address too (reproduced about once in 25
    runs of 40 s of contacts, search, open contact, pipeline by five users; no console
    error, nothing in the server's log; a reload recovers)."""


def known_failures(errors: list[tuple[str, str]]) -> bool:
    """Whether ``errors`` are all that failure: Pipeline not shown, the page left on a
    contacts address (a record's, or the list's)."""
    return bool(errors) and all(
        name == "pipeline"
        and "Timeout" in text
        and "#/contacts" in text
        and "#/pipeline" not in text
        for name, text in errors
    )


@pytest.mark.xfail(raises=PipelineNotShownAfterRecordPage, strict=False)
def test_five_people_work_at_once_and_nothing_is_dropped(server, demo_base, tmp_path):
    url, log, _process = server
    words = search_words(str(demo_base))
    tally = Tally(shots=tmp_path)  # a failed action's page is saved there

    async def team() -> None:
        from playwright.async_api import async_playwright

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            people = [await new_user(browser, i, url, words, tally) for i in range(5)]
            assert sorted(p.login for p in people) == ["ayesha", "bilal", "farhana", "olga", "ravi"]
            assert all(await asyncio.gather(*(logged_in(p, tally) for p in people))), tally.errors
            deadline = time.monotonic() + 45
            await asyncio.gather(*(work(p, deadline, tally) for p in people))
            await browser.close()

    run(team())
    figures = tally.figures()
    seen = {"page_errors": tally.page_errors, "screenshots": sorted(tmp_path.glob("*.png"))}
    assert figures["page_errors"]["first"] == []
    for action in ACTIONS:  # every action was done, and answered
        assert figures["actions"][action]["count"] >= 2, (action, figures["actions"])
    time.sleep(1)
    assert trouble(log) == []
    if known_failures(tally.errors):  # the rest held: only that failure is left
        raise PipelineNotShownAfterRecordPage(tally.errors, seen)
    assert figures["errors"]["first"] == [], seen


def test_twenty_sessions_opened_and_closed_are_let_go_and_their_memory_returned(server):
    url, log, process = server

    async def sessions(count: int) -> None:
        """``count`` sessions open at once (arriving five at a time), then all closed."""
        from playwright.async_api import async_playwright

        tally = Tally()
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            everyone = []
            for batch in range(0, count, 5):
                people = [
                    await new_user(browser, i, url, ["x"], tally)
                    for i in range(batch, min(batch + 5, count))
                ]
                assert all(await asyncio.gather(*(logged_in(p, tally) for p in people))), (
                    tally.errors
                )
                for person in people:  # a page beside the inbox: the board
                    await person.page.locator(".crm-nav-pipeline button").click()
                    await person.page.locator(".crm-card").first.wait_for()
                everyone += people
            await asyncio.gather(*(p.page.context.close() for p in everyone))
            await browser.close()
        assert tally.errors == []

    def settled(opened: int) -> dict:
        deadline = time.monotonic() + 90  # Bokeh lets a session go 15 to 30 s after
        while True:
            figures = health(url)
            if figures["sessions"]["live"] == 0 or time.monotonic() > deadline:
                sessions = figures["sessions"]
                # A page may open one more session than its tabs (a loaded machine's
                # browser once opened 21 for 20 tabs); each must be closed all the same.
                assert sessions["live"] == 0, sessions
                assert opened <= sessions["opened"] <= opened + opened // 10, sessions
                assert sessions["closed"] == sessions["opened"], sessions
                time.sleep(4)  # the memory is given back 2 s after the last session ends
                return figures
            time.sleep(2)

    # The first sessions fill what every later one reuses (caches, the allocator's
    # pools): measured with rounds of 20, the first kept 10 MiB, the second 5, the
    # third and fourth nothing. The baseline is taken after two such rounds (after one,
    # a loaded machine's second round kept 21 of 62 MiB once); a leak keeps memory in
    # every round, the third included.
    run(sessions(20))
    settled(20)
    run(sessions(20))
    settled(40)
    baseline = process.memory_info().rss
    peak = [baseline]

    async def watched() -> None:
        async def sample() -> None:
            while True:
                peak[0] = max(peak[0], process.memory_info().rss)
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        await asyncio.to_thread(asyncio.run, sessions(20))
        sampler.cancel()

    run(watched())
    settled(60)
    after = process.memory_info().rss
    grown, kept = peak[0] - baseline, after - baseline
    assert grown > 0
    assert grown / 20 < 15 * 2**20, f"{grown / 20 / 2**20:.1f} MiB per session"
    assert kept < 0.25 * grown, f"kept {kept / 2**20:.0f} of {grown / 2**20:.0f} MiB"
    # Twenty tabs closed at once: a message already on its way to one of them cannot be
    # sent (Bokeh says so); nothing else may be in the log.
    closing = "Failed sending message as connection was closed"
    assert [line for line in trouble(log) if closing not in line] == []
