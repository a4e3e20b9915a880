"""The staff app under concurrent users: the real ``crmbook serve`` driven by N browsers
at once, as it is now and as it was before (issue 14).

    python bench/app_load.py [--users 1,5,10,20] [--seconds 60] [--db sqlite|postgresql|both]
                             [--before f08fa4a] [--sides now,before] [--settle 60]

For each database (a SQLite file; a PostgreSQL database on 127.0.0.1:5432) the demo
base is built once (``crmbook demo PATH --no-serve``) and every run gets a fresh copy
of it. For each number of users N, each side is measured in turn: ``now`` is the app in
this checkout as it is, ``before`` the app at commit ``--before`` (``git archive`` into
a temporary folder, run from there with ``PYTHONPATH`` on it; the module paths each side
imports are printed). The real server is started as a subprocess (``python -m
crm_core.cli serve BASE --port P``, its output kept in ``bench/out/app_load_logs/``,
with a screenshot of each failed action's page)
and driven by N users at once: N Playwright browser contexts in one Debian Chromium,
one asyncio task each.
About one user in five logs in as the manager ``ayesha``, the others as the sales users
``bilal``, ``olga``, ``farhana``, ``ravi`` and ``james`` (several users may share a
login). Once every user has logged in, each repeats a salesperson's loop until
``--seconds`` have passed, every action timed from the click to its result shown:

- contacts: the Contacts page (its table's first row);
- search: a name word typed in its search box (every row shown holds the word);
- open contact: a name in the table clicked (the record page with that name);
- pipeline: the Pipeline page (a card);
- move: a card's ▶ or ◀, in turn (the card in the next column, the board ready again;
  a board still busy, so inert, 5 s after the card moved is also counted as an error);
- activities: the Activities page (the rows of the list shown);
- done: a row's Done (the list's count redrawn).

An action that fails or gets no answer within 30 s is an error (its message kept); the
user's page is then reloaded and the loop starts again. A refusal the app explains (two
users moved one deal, or did one activity, at once: "Not saved: ... changed by someone
else") is counted apart as a conflict; an action with nothing to act on (no open
activity left) as skipped. Logins are timed too, apart from the loop.

Measured per run: each action's count, p50, p95 and max; errors; the lines of the
server's log that look like trouble (Traceback, ERROR, WARNING, BokehUserWarning, ...),
the first distinct ones shown; errors raised in the pages; the server's CPU seconds
during the loop per action answered, and how busy the machine's cores were (the
server, the browsers, other processes); its resident memory before the logins, at its peak
(sampled every 0.5 s), when every context is closed and ``--settle`` seconds later,
giving the memory per session, (peak - before) / N, and the share returned, (peak -
after settle) / (peak - before). "Before" is taken after a warm-up round (the same N
users log in, open Contacts and Pipeline, leave, and ``--settle`` passes), so the
server's one-time loading is not counted per session; ``--no-warm`` skips it. A line
per action compares now with before (p95 ratio).

Targets (issue 14), judged on the ``now`` side: at 20 users every action's p95 < 2 s
and no errors; at 40 users no errors and every p95 < 5 s; memory per session < 15 MiB
and >= 90 % of it returned within 60 s of close (``--settle 60``), judged at the largest
N measured. Exit code 0
when every target judged passes, else 1. Figures go to ``bench/out/app_load.json``.

Needs Debian's Chromium (``apt-get install chromium``), psutil, and for ``--db
postgresql`` the server at 127.0.0.1:5432 with trust auth. The server and the browsers
share the machine's cores: at high N the figures include the browsers' own load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

from tests.widgets.browser import ARGS, CHROMIUM, free_port, wait_for
from tests.widgets.staff_loop import (
    ACTIONS,
    LOGIN,
    Tally,
    contacts,
    logged_in,
    login_of,
    new_user,
    pipeline,
    search_words,
    work,
)

try:
    import psutil
except ImportError:  # not a dependency of crmbook itself
    sys.exit("bench/app_load.py needs psutil: pip install psutil")

ROOT = Path(__file__).parents[1]
OUT = Path(__file__).with_name("out")
#: The servers' logs, one per run (kept: the trouble lines counted are read there).
LOGS = OUT / "app_load_logs"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
PG_BASE = "crmbook_load"
SERVER_TROUBLE = re.compile(
    r"Traceback|ERROR|Error|WARNING|BokehUserWarning|WebSocketClosedError|AssertionError"
)
MIB = 1024 * 1024


# -- the two sides ----------------------------------------------------------------------


@dataclass
class Side:
    """The app as one side runs it: its code folder, put first on ``PYTHONPATH``."""

    name: str
    root: Path
    commit: str
    #: Where its commands run: a folder holding no package, so ``python -m`` imports the
    #: side's own code (the current folder comes first on ``sys.path``).
    cwd: Path

    def env(self) -> dict[str, str]:
        paths = [str(self.root), *filter(None, [os.environ.get("PYTHONPATH")])]
        # unbuffered: every log line is in the file when the run counts them
        return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}

    def python(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=self.cwd,
            env=self.env(),
            check=check,
            capture_output=True,
            text=True,
        )

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.python("-m", "crm_core.cli", *args, check=check)

    def verify(self) -> list[str]:
        """The files this side's ``crm_core`` and ``widgets.app`` are imported from;
        exits when they are not the side's own."""
        code = "import crm_core, widgets.app; print(crm_core.__file__); print(widgets.app.__file__)"
        files = self.python("-c", code).stdout.split()
        if not all(Path(f).is_relative_to(self.root) for f in files):
            sys.exit(f"{self.name}: imports {files}, not the code in {self.root}")
        return files


def git(*args: str) -> str:
    """A read-only git command in this checkout."""
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def now_side(folder: Path) -> Side:
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    return Side("now", ROOT, git("rev-parse", "--short", "HEAD") + dirty, folder)


def before_side(commit: str, folder: Path) -> Side:
    """The app at ``commit``, exported into ``folder`` (the checkout itself is untouched)."""
    sha = git("rev-parse", "--short", f"{commit}^{{commit}}")
    root = folder / f"before-{sha}"
    root.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", sha], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return Side("before", root, sha, folder)


# -- databases --------------------------------------------------------------------------


def pg_recreate(name: str, template: str | None = None) -> None:
    """Drop database ``name`` and create it again, empty or as a copy of ``template``."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def pg_drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Bases:
    """The demo bases of one database kind and the fresh copies made for each run."""

    db: str
    folder: Path
    built: dict[str, str] = field(default_factory=dict)  # side name -> base location
    databases: list[str] = field(default_factory=list)  # PostgreSQL databases made

    def build(self, side: Side, name: str) -> str:
        if self.db == "sqlite":
            location = str(self.folder / f"{name}.sqlite")
        else:
            pg_recreate(name)
            self.databases.append(name)
            location = PG_URL.format(name=name)
        started = time.perf_counter()
        side.cli("demo", location, "--no-serve")
        print(f"{self.db}: demo base built by {side.name} in {time.perf_counter() - started:.0f} s")
        return location

    def base_for(self, side: Side, sides: list[Side]) -> str:
        """The base ``side`` runs on: the one built first, unless this side's code
        refuses it (another schema), then one built by this side's own code."""
        if side.name in self.built:
            return self.built[side.name]
        first = next(iter(self.built.values()), None)
        if first is None:
            first = self.build(sides[0], PG_BASE if self.db == "postgresql" else "base")
            self.built[sides[0].name] = first
        if side.name not in self.built:
            if side.cli("info", "-w", first, check=False).returncode == 0:
                self.built[side.name] = first
            else:
                print(f"{self.db}: {side.name} refuses the base; building its own")
                self.built[side.name] = self.build(side, f"{PG_BASE}_{side.name}")
        return self.built[side.name]

    def fresh_copy(self, base: str, run: str) -> str:
        if self.db == "sqlite":
            # a name of its own per run: no -wal file of an earlier run lies beside it
            copy = self.folder / f"{run}.sqlite"
            shutil.copyfile(base, copy)
            return str(copy)
        name = f"{PG_BASE}_run"
        pg_recreate(name, template=base.rsplit("/", 1)[1])
        if name not in self.databases:
            self.databases.append(name)
        return PG_URL.format(name=name)

    def drop(self) -> None:
        for name in self.databases:
            with suppress(Exception):
                pg_drop(name)


# -- the server -------------------------------------------------------------------------


@dataclass
class Server:
    """``crmbook serve`` in a subprocess of its own."""

    process: subprocess.Popen[bytes]
    log: Path
    url: str

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.process.pid)


def start_server(side: Side, location: str, log: Path) -> Server:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "crm_core.cli", "serve", location, "--port", str(port)],
            cwd=side.cwd,
            env=side.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            # its own session: a Ctrl+C here reaches this script only, which stops it
            start_new_session=True,
        )
    server = Server(process, log, f"http://127.0.0.1:{port}")
    try:
        wait_for_login_page(server)
    except BaseException:
        stop_server(server)
        raise
    return server


def wait_for_login_page(server: Server, timeout: float = 90.0) -> None:
    """Wait for the login page, and say why if the server exited first."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the server exited ({server.process.returncode}):\n{tail}")
        try:
            wait_for(server.url + "/login", timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise


def stop_server(server: Server) -> None:
    """Stop the server as Ctrl+C would, then for sure (and anything it started)."""
    process = server.process
    if process.poll() is not None:
        return
    with suppress(psutil.Error):
        children = server.ps.children(recursive=True)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    for child in children:
        with suppress(psutil.Error):
            child.kill()


def server_cpu(ps: psutil.Process) -> float:
    """CPU seconds the server used so far, its children included."""
    times = ps.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in ps.children(recursive=True):
        with suppress(psutil.Error):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


def server_rss(ps: psutil.Process) -> int:
    total = ps.memory_info().rss
    for child in ps.children(recursive=True):
        with suppress(psutil.Error):
            total += child.memory_info().rss
    return total


@dataclass
class CpuSnapshot:
    """CPU seconds used so far: by the whole machine, the server, and this script with
    the browsers it drives (on a shared machine the rest is other people's work)."""

    machine: float
    server: float
    client: float


def cpu_snapshot(server: psutil.Process) -> CpuSnapshot:
    times = psutil.cpu_times()
    machine = sum(times) - times.idle - getattr(times, "iowait", 0.0)
    server_pids = {server.pid, *(c.pid for c in server.children(recursive=True))}
    me = psutil.Process()
    client = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        if child.pid not in server_pids:
            with suppress(psutil.Error):
                client += sum(child.cpu_times()[:2])
    return CpuSnapshot(machine, server_cpu(server), client)


def cpu_figures(cpu: list[CpuSnapshot], seconds: float, answered: int) -> dict[str, Any]:
    """The server's CPU for the logins and per action of the loop, and who kept the
    machine's cores busy during the loop (shares of all its cores' time)."""
    before, logged, after = cpu
    loop = after.server - logged.server
    capacity = (psutil.cpu_count() or 1) * seconds
    client = max(after.client - logged.client, 0.0)  # a browser process gone takes its own
    busy = after.machine - logged.machine
    return {
        "logins_s": round(logged.server - before.server, 2),
        "loop_s": round(loop, 2),
        "answered": answered,
        "per_action_s": round(loop / answered, 4) if answered else None,
        "cores": psutil.cpu_count(),
        "machine_busy": round(busy / capacity, 3),
        "server_share": round(loop / capacity, 3),
        "client_share": round(client / capacity, 3),
        "others_share": round(max(busy - loop - client, 0.0) / capacity, 3),
    }


def memory_figures(rss: dict[str, int], users: int, settle: float) -> dict[str, Any]:
    grown = rss["peak"] - rss["before"]
    return {
        "before_mib": round(rss["before"] / MIB, 1),
        "peak_mib": round(rss["peak"] / MIB, 1),
        "after_close_mib": round(rss["after_close"] / MIB, 1),
        "after_settle_mib": round(rss["after_settle"] / MIB, 1),
        "settle_s": settle,
        "per_session_mib": round(grown / users / MIB, 2),
        "returned": round((rss["peak"] - rss["after_settle"]) / grown, 3) if grown > 0 else None,
    }


class PeakMemory:
    """Samples the server's resident memory every 0.5 s and keeps the highest."""

    def __init__(self, ps: psutil.Process):
        self.ps = ps
        self.peak = server_rss(ps)
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            with suppress(psutil.Error):
                self.peak = max(self.peak, server_rss(self.ps))
            await asyncio.sleep(0.5)

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        with suppress(psutil.Error):
            self.peak = max(self.peak, server_rss(self.ps))


def log_trouble(log: Path, upto: int) -> dict[str, Any]:
    """The lines of the server's log (its first ``upto`` bytes: what it wrote while
    serving, not while stopping) that look like trouble: how many, and the first
    distinct ones (lines told apart without their numbers, e.g. Bokeh model ids)."""
    text = log.read_bytes()[:upto].decode(errors="replace")
    lines = [line for line in text.splitlines() if SERVER_TROUBLE.search(line)]
    distinct: dict[str, str] = {}
    for line in lines:
        distinct.setdefault(re.sub(r"\d+", "#", line), line.strip()[:300])
    return {"count": len(lines), "distinct": len(distinct), "first": list(distinct.values())[:5]}


# -- one run ----------------------------------------------------------------------------


async def warm_up(browser: Any, server: Server, users: int, settle: float) -> None:
    """The server's first sessions: N users log in and open the loop's pages, then
    leave, and the server is given ``settle`` seconds to let them go. What these load
    (the pages' code, caches, the allocator's pools) is reused by later sessions, so
    memory measured after them is what a session costs, not the server's warm-up."""
    tally = Tally()
    people = [await new_user(browser, i, server.url, ["x"], tally) for i in range(users)]
    ok = await asyncio.gather(*(logged_in(u, tally) for u in people))
    for user, good in zip(people, ok, strict=True):
        if good:
            with contextlib.suppress(Exception):
                await contacts(user)
                await pipeline(user)
    await asyncio.gather(*(u.page.context.close() for u in people), return_exceptions=True)
    await asyncio.sleep(settle)


async def drive(
    pw: Any,
    server: Server,
    users: int,
    seconds: float,
    settle: float,
    words: list[str],
    warm: bool = True,
) -> dict[str, Any]:
    """N users logged in at once, each in their loop for ``seconds``; the server watched
    (after a warm-up round unless ``warm`` is False)."""
    ps = server.ps
    shots = LOGS / f"shots-{server.log.stem}"  # the page as it was when an action failed
    shots.mkdir(parents=True, exist_ok=True)
    tally = Tally(shots=shots)
    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        if warm:
            await warm_up(browser, server, users, settle)
        memory = {"before": server_rss(ps)}
        peak = PeakMemory(ps)
        peak.start()
        people = [await new_user(browser, i, server.url, words, tally) for i in range(users)]
        cpu = [cpu_snapshot(ps)]
        ok = await asyncio.gather(*(logged_in(u, tally) for u in people))
        cpu.append(cpu_snapshot(ps))
        started = time.monotonic()
        await asyncio.gather(
            *(work(u, started + seconds, tally) for u, good in zip(people, ok, strict=True) if good)
        )
        cpu.append(cpu_snapshot(ps))
        ran = time.monotonic() - started
        await asyncio.gather(*(u.page.context.close() for u in people), return_exceptions=True)
        memory["after_close"] = server_rss(ps)
        await asyncio.sleep(settle)
        memory["after_settle"] = server_rss(ps)
        await peak.stop()
        memory["peak"] = peak.peak
    finally:
        await browser.close()
    return {
        "users": users,
        "logins": Counter(login_of(i) for i in range(users)),
        "loop_s": round(ran, 1),
        **tally.figures(),
        "cpu": cpu_figures(cpu, ran, tally.answered()),
        "memory": memory_figures(memory, users, settle),
    }


async def measure(
    pw: Any,
    side: Side,
    location: str,
    log: Path,
    args: argparse.Namespace,
    users: int,
    words: list[str],
) -> dict[str, Any]:
    server = start_server(side, location, log)
    try:
        result = await drive(pw, server, users, args.seconds, args.settle, words, args.warm)
        served = log.stat().st_size  # what it wrote while serving, not while stopping
    finally:
        stop_server(server)
    return {**result, "server_log": {"path": str(log), **log_trouble(log, served)}}


# -- report -----------------------------------------------------------------------------


def number(value: float | None, width: int = 7) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.2f}"


def print_run(db: str, side: Side, run: dict[str, Any]) -> None:
    logins = ", ".join(f"{n} {login}" for login, n in sorted(run["logins"].items()))
    print(
        f"\n== {db} | {side.name} ({side.commit}) | {run['users']} users ({logins}) | "
        f"loop {run['loop_s']:.0f} s",
        flush=True,
    )
    print(
        f"  {'action':<13}{'count':>6}{'p50 s':>8}{'p95 s':>8}{'max s':>8}{'errors':>8}"
        f"{'conflicts':>10}{'skipped':>8}"
    )
    for name in (LOGIN, *ACTIONS):
        fig = run["actions"][name]
        print(
            f"  {name:<13}{fig['count']:>6}{number(fig['p50_s'], 8)}{number(fig['p95_s'], 8)}"
            f"{number(fig['max_s'], 8)}{run['errors']['by_action'].get(name, 0):>8}"
            f"{run['conflicts']['by_action'].get(name, 0):>10}{run['skipped'].get(name, 0):>8}"
        )
    unmeasured = [a for a in ACTIONS if not run["actions"][a]["count"]]
    if unmeasured:
        print(f"  NOT MEASURED (no timing): {', '.join(unmeasured)}")
    cpu, mem = run["cpu"], run["memory"]
    per_action = cpu["per_action_s"]
    print(
        f"  server CPU: {cpu['loop_s']:.1f} s in the loop for {cpu['answered']} actions = "
        f"{'-' if per_action is None else f'{per_action * 1000:.0f} ms'} per action "
        f"(logins {cpu['logins_s']:.1f} s)"
    )
    print(
        f"  machine ({cpu['cores']} cores) during the loop: {cpu['machine_busy']:.0%} busy = "
        f"server {cpu['server_share']:.0%} + browsers and this script "
        f"{cpu['client_share']:.0%} + other processes {cpu['others_share']:.0%}"
    )
    returned = mem["returned"]
    print(
        f"  server RSS: before {mem['before_mib']:.0f} MiB, peak {mem['peak_mib']:.0f}, "
        f"after close {mem['after_close_mib']:.0f}, {mem['settle_s']:.0f} s later "
        f"{mem['after_settle_mib']:.0f} -> {mem['per_session_mib']:.1f} MiB per session, "
        f"{'-' if returned is None else f'{returned:.0%}'} returned"
    )
    for key, title in (
        ("errors", "errors"),
        ("conflicts", "conflicts"),
        ("page_errors", "page errors"),
    ):
        first = run[key]["first"]
        if first:
            print(f"  {title}, first: " + " | ".join(first[:4]))
    log = run["server_log"]
    print(
        f"  server log: {log['count']} trouble lines ({log['distinct']} distinct) in {log['path']}"
    )
    for line in log["first"]:
        print(f"    {line}")


def compare(db: str, users: int, now: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """Per action, now's p95 against before's (below 1: now is faster)."""
    ratios: dict[str, float | None] = {}
    parts = []
    for name in (LOGIN, *ACTIONS):
        mine, theirs = now["actions"][name]["p95_s"], before["actions"][name]["p95_s"]
        ratio = round(mine / theirs, 2) if mine is not None and theirs else None
        ratios[name] = ratio
        parts.append(f"{name} {'-' if ratio is None else f'x{ratio:.2f}'}")
    print(f"\n{db}, {users} users: p95 now / before: " + ", ".join(parts), flush=True)
    return {"db": db, "users": users, "p95_now_over_before": ratios}


def judge(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets on the ``now`` side's runs (see the module's docstring)."""
    verdicts: list[dict[str, Any]] = []
    mine = [r for r in runs if r["side"] == "now"]
    for run in mine:
        limit = {20: 2.0, 40: 5.0}.get(run["users"])
        if limit is None:
            continue
        slowest = max((run["actions"][a]["p95_s"] or 0.0) for a in ACTIONS)
        measured = all(run["actions"][a]["count"] for a in ACTIONS)
        passed = measured and slowest < limit and run["errors"]["count"] == 0
        verdicts.append(
            {
                "target": f"{run['users']} users: every p95 < {limit:.0f} s, no errors",
                "db": run["db"],
                "passed": passed,
                "detail": f"slowest p95 {slowest:.2f} s, {run['errors']['count']} errors"
                + ("" if measured else ", an action not measured"),
            }
        )
    for db in sorted({r["db"] for r in mine}):
        run = max((r for r in mine if r["db"] == db), key=lambda r: r["users"])
        mem = run["memory"]
        returned = mem["returned"] or 0.0
        window = "" if mem["settle_s"] >= 60 else f" (after {mem['settle_s']:.0f} s, not 60)"
        verdicts.append(
            {
                "target": f"{run['users']} users: < 15 MiB per session, >= 90% returned{window}",
                "db": db,
                "passed": mem["per_session_mib"] < 15 and returned >= 0.9,
                "detail": f"{mem['per_session_mib']:.1f} MiB per session, {returned:.0%} returned",
            }
        )
    return verdicts


# -- main -------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", default="1,5,10,20", help="numbers of users, comma separated")
    parser.add_argument("--seconds", type=float, default=60, help="how long the users loop")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--before", default="f08fa4a", help="the commit of the before side")
    parser.add_argument("--sides", default="now,before", help="now, before or both")
    parser.add_argument("--settle", type=float, default=60, help="seconds to wait after close")
    parser.add_argument(
        "--warm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a first round of N sessions before the measured one (memory after warm-up)",
    )
    args = parser.parse_args()
    args.users = [int(n) for n in args.users.split(",") if n.strip()]
    args.sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    if not args.users or min(args.users) < 1:
        parser.error("--users: whole numbers above 0")
    if not args.sides or set(args.sides) - {"now", "before"}:
        parser.error("--sides: now, before or both, comma separated")
    args.dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    return args


def write(results: dict[str, Any]) -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / "app_load.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )


@contextmanager
def stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM ends the bench as Ctrl+C does: every ``finally`` runs (servers stopped,
    browsers closed, temporary databases dropped)."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


async def run_all(args: argparse.Namespace, folder: Path, results: dict[str, Any]) -> None:
    from playwright.async_api import async_playwright

    sides = [
        now_side(folder) if s == "now" else before_side(args.before, folder) for s in args.sides
    ]
    for side in sides:
        files = side.verify()
        print(f"{side.name} ({side.commit}): {' and '.join(files)}", flush=True)
        results["sides"][side.name] = {"commit": side.commit, "root": str(side.root)}
    async with async_playwright() as pw:
        for db in args.dbs:
            bases = Bases(db, folder)
            try:
                await run_db(pw, db, bases, sides, args, results)
            finally:
                bases.drop()


async def run_db(
    pw: Any,
    db: str,
    bases: Bases,
    sides: list[Side],
    args: argparse.Namespace,
    results: dict[str, Any],
) -> None:
    located = {side.name: bases.base_for(side, sides) for side in sides}
    words = search_words(next(iter(located.values())))
    print(f"{db}: search words {words}", flush=True)
    for users in args.users:
        runs: dict[str, dict[str, Any]] = {}
        for side in sides:  # the sides in turn at each N: a busier machine hits both
            tag = f"{db}-{side.name}-{users}"
            location = bases.fresh_copy(located[side.name], f"run-{tag}")
            run = await measure(pw, side, location, LOGS / f"serve-{tag}.log", args, users, words)
            run = {"db": db, "side": side.name, **run}
            print_run(db, side, run)
            runs[side.name] = run
            results["runs"].append(run)
            write(results)
        if {"now", "before"} <= runs.keys():
            results["comparisons"].append(compare(db, users, runs["now"], runs["before"]))


def main() -> int:
    args = parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"no {CHROMIUM}: apt-get install chromium")
    results: dict[str, Any] = {
        "config": {k: v for k, v in vars(args).items() if k != "dbs"},
        "sides": {},
        "runs": [],
        "comparisons": [],
    }
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    try:
        with stopped_by_sigterm(), tempfile.TemporaryDirectory(prefix="crmbook-load-") as tmp:
            asyncio.run(run_all(args, Path(tmp), results))
    except KeyboardInterrupt:
        # every server and browser is stopped by now (each run's ``finally``)
        print(f"\ninterrupted; the runs finished so far are in {OUT / 'app_load.json'}")
        return 130
    verdicts = judge(results["runs"])
    results["targets"] = verdicts
    write(results)
    print("\ntargets (issue 14, the now side):")
    for verdict in verdicts:
        print(
            f"  {verdict['db']:<10} {verdict['target']}: {verdict['detail']} -> "
            f"{'PASS' if verdict['passed'] else 'FAIL'}"
        )
    if not verdicts:
        print("  none judged (no now side measured)")
    print(f"figures: {OUT / 'app_load.json'}")
    return 0 if all(v["passed"] for v in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
