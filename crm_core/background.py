"""Work a server does on its own: fetch the mailboxes and send the outbox on a timer,
and whatever other job the serving layer adds (:meth:`Scheduler.add`: the ERP sync,
which crm_core knows nothing of, is one the server adds).

A :class:`Scheduler` runs each of its :class:`Job` s in a daemon thread of its own (a
long first fetch does not hold up the outbox, nor the rate limit's waits a fetch),
with its own workspace acting as the system (no user). A job runs at once when it
starts and then every so many seconds after the end of its last run, the interval
read from the workspace's settings (``mail_fetch_minutes``, ``mail_drain_seconds``,
an added job's own; 0 turns the job off), re-read every :data:`SETTINGS_EVERY_S` so
a change reaches running servers. A job the server does not run (the sync without
an ERP configured) is listed in :attr:`Scheduler.absent` with the reason. An error in
a run is recorded on the job (its time and words) and logged, and the job runs again
at its next time: a bug with its traceback, each time; a problem the workspace's
settings or data cause (a :class:`~crm_core.errors.CrmError`: the SMTP host not set,
say) as one line naming what to set, once until it changes or the job runs cleanly
again, and then at most every :data:`PROBLEM_REPEAT_S`. :meth:`Scheduler.stop` ends
the threads: a fetch stops after the batch it is writing, a drain before its next
message (an added job when it looks at :attr:`Scheduler.stopping`).

Several processes may run schedulers on one workspace: a mailbox's lease lets one of
them fetch it at a time (:mod:`crm_core.mail.lease`), and each queued message is
claimed by one sender, within a rate limit counted in the database
(:mod:`crm_core.mail.sender`). A run with no mailbox or nothing queued costs one small
query.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crm_core.errors import CrmError, ValidationError
from crm_core.mail.service import paused
from crm_core.models import Mailbox, OutboxMessage, Setting

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

log = logging.getLogger(__name__)

#: The settings of the mail jobs' intervals (minutes, seconds; 0: off).
FETCH_SETTING, DRAIN_SETTING = "mail_fetch_minutes", "mail_drain_seconds"
#: How many failed sends a drain's error names (the outbox lists them all).
SHOWN_FAILURES = 5
#: How often the jobs' intervals are read again from the settings (s).
SETTINGS_EVERY_S = 30.0
#: The longest a job's thread sleeps before looking at its interval again (s).
POLL_S = 1.0
#: How often a problem that stays the same (the SMTP host still not set) is logged
#: again, however often the job runs into it (s).
PROBLEM_REPEAT_S = 3600.0

#: ``run(ws) -> (result, error)``: what the run did, and what went wrong (None: nothing).
Run = Callable[["Workspace"], tuple[str, str | None]]


class Stopped(Exception):
    """The scheduler is stopping: raised inside a job to end it between two steps."""


@dataclass
class Job:
    """One kind of background work, its interval setting and what its runs did."""

    name: str
    run: Run
    #: The setting holding the interval, and its unit in seconds (60: minutes).
    setting: str
    unit_s: float = 1.0
    runs: int = 0
    failures: int = 0
    running: bool = False
    last_started_at: dt.datetime | None = None
    last_finished_at: dt.datetime | None = None
    last_result: str | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    #: When (monotonic) the last run ended: the next is due an interval after.
    ended: float | None = field(default=None, repr=False)
    #: The settings problem last logged, and when (monotonic): the same one is not
    #: logged again on every run.
    problem_logged: tuple[str, float] | None = field(default=None, repr=False)

    def status(self, every_s: float | None) -> dict[str, Any]:
        return {
            "every_s": every_s,
            "running": self.running,
            "runs": self.runs,
            "failures": self.failures,
            "last_started_at": _iso(self.last_started_at),
            "last_finished_at": _iso(self.last_finished_at),
            "last_result": self.last_result,
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
        }


def _iso(at: dt.datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds")


# -- the jobs -------------------------------------------------------------------------


def fetch_mailboxes(
    ws: Workspace, *, stopping: Callable[[], bool] = lambda: False
) -> tuple[str, str | None]:
    """Fetch every active mailbox that keeps its password (in the environment or
    stored): one given at each fetch cannot be fetched unattended. Those another
    process is fetching are left to it; those of a disabled user are not fetched (a
    user who left keeps no way to link mail), and the result says so."""
    with ws.transaction() as s:
        found = list(
            s.scalars(
                select(Mailbox)
                .where(Mailbox.active, Mailbox.password_source != "none")
                .order_by(Mailbox.id)
            )
        )
        held = {box.name: paused(s, box) for box in found}
    boxes = [box.id for box in found if held[box.name] is None]
    not_fetched = [f"{name}: not fetched ({why})" for name, why in held.items() if why]
    if not boxes:
        return "; ".join(not_fetched) or "no mailboxes", None

    def progress(*_: Any) -> None:  # after each batch written
        if stopping():
            raise Stopped("the server is stopping")

    reports = []
    for box in boxes:
        if stopping():
            raise Stopped("the server is stopping")
        try:
            reports += ws.mail.fetch(box, progress=progress)
        except ValidationError as exc:  # deactivated, or its owner disabled, meanwhile
            not_fetched.append(f"mailbox #{box}: not fetched ({exc})")
    done, errors = [], []
    for r in reports:
        if r.busy:
            done.append(f"{r.mailbox}: fetched by another process")
        elif r.error:
            errors.append(f"{r.mailbox}: {r.error}")
            done.append(f"{r.mailbox}: failed after {r.created} new")
        else:
            done.append(f"{r.mailbox}: {r.created} new of {r.fetched}")
    return "; ".join(done + not_fetched), "; ".join(errors) or None


#: How often the drain job looks for messages in doubt in the Sent folders (an IMAP
#: login per mailbox): not on every drain.
CHECK_SENT_EVERY_S = 600.0


def drain_outbox(
    ws: Workspace, *, stopping: Callable[[], bool] = lambda: False, check_sent: bool = True
) -> tuple[str, str | None]:
    """Send what the outbox holds, within the rate limit (``check_sent``: look for
    the messages in doubt in the Sent folders first)."""
    with ws.transaction() as s:
        queued = s.scalar(select(OutboxMessage.id).where(OutboxMessage.state == "queued").limit(1))
    if queued is None:
        return "nothing queued", None

    def sleep(seconds: float) -> None:  # the rate limit's waits, cut short by stop()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if stopping():
                raise Stopped("the server is stopping")
            time.sleep(min(0.2, max(end - time.monotonic(), 0)))

    report = ws.mail.drain(sleep=sleep, check_sent=check_sent)
    failed = [f"#{i}: {why}" for i, why in report.failed.items()]
    if len(failed) > SHOWN_FAILURES:
        failed[SHOWN_FAILURES:] = [f"and {len(failed) - SHOWN_FAILURES} more (ws.mail.outbox)"]
    return str(report), ("not sent: " + "; ".join(failed) if failed else None)


def mail_jobs(ws: Workspace, scheduler: Scheduler) -> list[Job]:
    """The mail jobs: fetch every ``mail_fetch_minutes``, drain every ``mail_drain_seconds``."""

    def stopping() -> bool:
        return scheduler.stopping

    checked = [-CHECK_SENT_EVERY_S]  # when the drain last looked in the Sent folders

    def drain(w: Workspace) -> tuple[str, str | None]:
        now = time.monotonic()
        check = now - checked[0] >= CHECK_SENT_EVERY_S
        if check:
            checked[0] = now
        return drain_outbox(w, stopping=stopping, check_sent=check)

    return [
        Job("mail_fetch", lambda w: fetch_mailboxes(w, stopping=stopping), FETCH_SETTING, 60),
        Job("mail_drain", drain, DRAIN_SETTING),
    ]


# -- the scheduler ----------------------------------------------------------------------


class Scheduler:
    """Runs ``jobs`` (default: :func:`mail_jobs`; :meth:`add` adds more) on ``ws`` in
    daemon threads.

    ``monotonic`` is the timer deciding when a job is due (tests inject one and call
    :meth:`run_due`); the times shown come from the workspace's clock."""

    def __init__(
        self,
        ws: Workspace,
        jobs: list[Job] | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        poll_s: float = POLL_S,
        settings_every_s: float = SETTINGS_EVERY_S,
    ):
        self.ws = ws
        self.monotonic = monotonic
        self.poll_s = poll_s
        self.settings_every_s = settings_every_s
        self.jobs = mail_jobs(ws, self) if jobs is None else list(jobs)
        #: Jobs this server does not run, each with why (shown at ``/health``).
        self.absent: dict[str, str] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._intervals: dict[str, float] = {}
        self._read_at: float | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def add(self, job: Job) -> Job:
        """Schedule one more job (its interval read from its own setting from now on);
        when the scheduler is running, the job's thread starts at once. Returns it."""
        with self._lock:
            if any(j.name == job.name for j in self.jobs):
                raise ValueError(f"a background job named {job.name!r} is already scheduled")
            self.jobs.append(job)
            self.absent.pop(job.name, None)
            self._read_at = None  # read the new job's interval at its first look
            started = self._started
        if started:
            self._spawn(job)
        return job

    # -- when --------------------------------------------------------------------------
    def every_s(self, job: Job) -> float:
        """The job's interval in seconds (0: off), from settings read at most every
        ``settings_every_s``."""
        from crm_core.workspace import DEFAULT_SETTINGS

        with self._lock:
            now = self.monotonic()
            if self._read_at is None or now - self._read_at >= self.settings_every_s:
                keys = [j.setting for j in self.jobs]
                with self.ws.transaction() as s:
                    stored = dict(
                        s.execute(
                            select(Setting.key, Setting.value).where(Setting.key.in_(keys))
                        ).all()
                    )
                intervals = {}
                for j in self.jobs:
                    raw = stored.get(j.setting, DEFAULT_SETTINGS.get(j.setting, "0"))
                    try:
                        intervals[j.name] = max(float(Decimal(raw)) * j.unit_s, 0.0)
                    except ArithmeticError:
                        log.error("setting %s=%r is no number: %s off", j.setting, raw, j.name)
                        intervals[j.name] = 0.0
                self._intervals, self._read_at = intervals, now
            return self._intervals.get(job.name, 0.0)

    def due_in(self, job: Job) -> float | None:
        """Seconds until ``job`` is due (0: now), or None when it is off."""
        every = self.every_s(job)
        if every <= 0:
            return None
        if job.ended is None:
            return 0.0
        return max(job.ended + every - self.monotonic(), 0.0)

    # -- running -------------------------------------------------------------------------
    def run(self, job: Job) -> None:
        """Run ``job`` once now, recording what it did; never raises (but Stopped)."""
        job.running = True
        job.last_started_at = self.ws.clock()
        try:
            result, error = job.run(self.ws)
        except Stopped as exc:
            result, error = None, str(exc)
        except CrmError as exc:  # the settings or the data stop it: no bug, no traceback
            result, error = None, f"{type(exc).__name__}: {exc}"
            self._problem(job, error)
        except Exception as exc:  # a run's failure must not end the server's jobs
            log.exception("background job %s failed", job.name)
            result, error = None, f"{type(exc).__name__}: {exc}"
        else:
            job.problem_logged = None  # a problem coming back is news again
        job.runs += 1
        job.last_finished_at = self.ws.clock()
        job.last_result = result
        if error is not None:
            job.failures += 1
            job.last_error, job.last_error_at = error, job.last_finished_at
            if result is not None:
                log.warning("background job %s: %s", job.name, error)
        job.ended = self.monotonic()
        job.running = False

    def _problem(self, job: Job, error: str) -> None:
        """Log a problem the settings or data cause (``error``, which names what to set)
        as one line: once, again when it changes, and at most every
        :data:`PROBLEM_REPEAT_S` while it stays."""
        now = self.monotonic()
        last = job.problem_logged
        if last is not None and last[0] == error and now - last[1] < PROBLEM_REPEAT_S:
            log.debug("background job %s still cannot run: %s", job.name, error)
            return
        job.problem_logged = (error, now)
        log.error(
            "background job %s cannot run: %s (it tries again every run; this is logged"
            " again when the problem changes, or in %d minutes)",
            job.name,
            error,
            PROBLEM_REPEAT_S // 60,
        )

    def run_due(self) -> list[str]:
        """Run, one after another, the jobs that are due; their names."""
        ran = []
        for job in list(self.jobs):
            if self.due_in(job) == 0.0 and not self.stopping:
                self.run(job)
                ran.append(job.name)
        return ran

    def _loop(self, job: Job) -> None:
        while not self._stop.is_set():
            try:
                wait = self.due_in(job)
            except Exception:  # the database unreachable a moment: try again later
                log.exception("background job %s: could not read its interval", job.name)
                wait = None
            if wait == 0.0:
                self.run(job)
                continue
            self._stop.wait(self.poll_s if wait is None else min(wait, self.poll_s))

    def _spawn(self, job: Job) -> None:
        thread = threading.Thread(
            target=self._loop, args=(job,), name=f"crmbook-{job.name}", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def start(self) -> Scheduler:
        """Start a daemon thread per job (and one for each job added later); returns
        the scheduler."""
        self._stop.clear()
        with self._lock:
            self._started = True
            jobs = list(self.jobs)
        for job in jobs:
            self._spawn(job)
        return self

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the threads (a job in its run ends at its next step); whether all ended
        within ``timeout`` seconds."""
        self._stop.set()
        with self._lock:
            self._started = False
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(end - time.monotonic(), 0))
        alive = any(t.is_alive() for t in self._threads)
        if not alive:
            self._threads = []
        return not alive

    def status(self) -> dict[str, Any]:
        """What ``/health`` shows: whether it runs, each job's last run, and each absent
        job as ``{"off": why}``."""
        jobs: dict[str, Any] = {}
        for job in list(self.jobs):
            every: float | None = None
            try:
                every = self.every_s(job)
            except Exception:  # the database unreachable: show the runs nonetheless
                log.exception("background job %s: could not read its interval", job.name)
            jobs[job.name] = job.status(every)
        for name, why in dict(self.absent).items():
            jobs.setdefault(name, {"off": why})
        running = any(t.is_alive() for t in self._threads)
        return {"running": running, "jobs": jobs}


def start(location: Any, **kwargs: Any) -> Scheduler:
    """Open the workspace at ``location`` (never creating one) and start the mail jobs
    on it, stopped when the process exits: what ``crmbook serve`` does unless
    ``--no-background``."""
    import crm_core

    ws = crm_core.open(location, create=False)
    scheduler = Scheduler(ws, **kwargs).start()
    # On the way out (Ctrl+C), a fetch ends after its batch and gives its lease back.
    atexit.register(scheduler.stop, 20.0)
    return scheduler


__all__ = ["Job", "Scheduler", "Stopped", "drain_outbox", "fetch_mailboxes", "mail_jobs", "start"]
