"""A salesperson's loop in the staff app, for several users at once: Playwright's async
API, one browser context per user. Used by the concurrency test and by
``bench/app_load.py`` (which measures it under load).

Each action is timed from the click to its result shown and returns the seconds it
took; :func:`attempt` runs one and records it in a :class:`Tally` (time, error, the
app's own refusal as a conflict, nothing to act on as skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unicodedata import category

import crm_core

PASSWORD = "crmbook-demo"
MANAGER = "ayesha"
SALES = ("bilal", "olga", "farhana", "ravi", "james")
LOGIN = "login"
ACTIONS = ("contacts", "search", "open contact", "pipeline", "move", "activities", "done")
#: How long one action may take before it counts as an error.
TIMEOUT_MS = 30_000
#: How long after a moved card the board may stay busy before that counts as an error.
READY_GRACE_MS = 5_000
#: A click lands on one of the first rows or cards shown: users sharing a login rarely
#: pick the same one, and the pick stays among what a person sees without scrolling.
PICK = 5
VIEW = {"width": 1400, "height": 900}
SWITCH = ".crm-inbox-switch button"
CONTACT_ROWS = ".crm-contact-table .tabulator-row"


class Conflict(Exception):
    """The app refused the action and said why (someone else changed the record)."""


class NothingToDo(Exception):
    """Nothing left on the page to act on."""


class StillBusy(Exception):
    """The card moved, but the board stayed inert (no answer to its click): the move is
    timed to the card shown, and counted as an error too."""

    def __init__(self, took: float):
        super().__init__(
            f"the card moved in {took:.2f} s but the board stayed busy (inert) "
            f"{READY_GRACE_MS / 1000:.0f} s later"
        )
        self.took = took


# -- one user ---------------------------------------------------------------------------


@dataclass
class Tally:
    """What the users of one run saw."""

    times: dict[str, list[float]] = field(
        default_factory=lambda: {name: [] for name in (LOGIN, *ACTIONS)}
    )
    errors: list[tuple[str, str]] = field(default_factory=list)
    conflicts: Counter[str] = field(default_factory=Counter)
    conflict_messages: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    page_errors: list[str] = field(default_factory=list)
    #: Where a screenshot of the page is saved when an action fails (None: nowhere).
    shots: Path | None = None

    def figures(self) -> dict[str, Any]:
        return {
            "actions": {name: timing_figures(self.times[name]) for name in (LOGIN, *ACTIONS)},
            "errors": {
                "count": len(self.errors),
                "by_action": Counter(name for name, _msg in self.errors),
                "first": [f"{name}: {msg}" for name, msg in self.errors[:8]],
            },
            "conflicts": {"by_action": self.conflicts, "first": self.conflict_messages[:4]},
            "skipped": self.skipped,
            "page_errors": {"count": len(self.page_errors), "first": self.page_errors[:4]},
        }

    def answered(self) -> int:
        """Loop actions the server answered (timed or refused)."""
        return sum(len(self.times[a]) for a in ACTIONS) + sum(self.conflicts.values())


@dataclass
class User:
    """One person at one browser: a context of their own, so a cookie of their own."""

    index: int
    login: str
    url: str
    page: Any
    words: list[str]
    rng: random.Random
    turn: int = 0  # loops done: chooses the word searched and the way a card moves


def login_of(index: int) -> str:
    """About one user in five is the manager, the others the sales users in turn."""
    if index % 5 == 0:
        return MANAGER
    return SALES[(index - index // 5 - 1) % len(SALES)]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}"


def count_of(label: str) -> int:
    """The count in a list's switch label, ``Overdue (1,234)`` -> 1234."""
    found = re.search(r"\(([^()]*)\)\s*$", label)
    digits = re.sub(r"\D", "", found.group(1)) if found else ""
    return int(digits) if digits else 0


def visible_rows(page: Any) -> Any:
    """The rows of the inbox list shown (the other two lists are hidden)."""
    return page.locator(".crm-activity-list .tabulator-row").filter(visible=True)


async def inbox_ready(page: Any) -> None:
    active = page.locator(f"{SWITCH}.bk-active")
    await active.wait_for()
    if count_of(await active.inner_text()):
        await visible_rows(page).first.wait_for()


async def log_in(user: User) -> float:
    page = user.page
    await page.goto(user.url + "/login")
    await page.fill("input[name=username]", user.login)
    await page.fill("input[name=password]", PASSWORD)
    started = time.perf_counter()
    await page.click("button.form-button")
    await inbox_ready(page)  # the first page after a login is the inbox
    return time.perf_counter() - started


async def open_nav(user: User, name: str, ready: Callable[[Any], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await user.page.locator(f".crm-nav-{name} button").click()
    await ready(user.page)
    return time.perf_counter() - started


async def contacts(user: User) -> float:
    return await open_nav(user, "contacts", lambda p: p.locator(CONTACT_ROWS).first.wait_for())


async def search(user: User) -> float:
    from playwright.async_api import expect

    page = user.page
    word = user.words[(user.index + user.turn) % len(user.words)]
    rows = page.locator(CONTACT_ROWS)
    box = page.locator(".crm-contact-search input")
    started = time.perf_counter()
    await box.fill(word)
    await box.press("Enter")
    # a row with the word, then none without it: the rows of the last search are gone
    await expect(rows.filter(has_text=word).first).to_be_visible(timeout=TIMEOUT_MS)
    await expect(rows.filter(has_not_text=word)).to_have_count(0, timeout=TIMEOUT_MS)
    return time.perf_counter() - started


async def open_contact(user: User) -> float:
    page = user.page
    links = page.locator(f"{CONTACT_ROWS} .tabulator-cell[tabulator-field='name'] a")
    shown = await links.count()
    if not shown:
        raise RuntimeError("no contact name to click in the table")
    link = links.nth(user.rng.randrange(min(shown, PICK)))
    name = (await link.inner_text()).strip()
    started = time.perf_counter()
    await link.click()
    # the record page is kept per session: wait for this record's name, not any
    await page.locator(".crm-record-name").filter(has_text=name).first.wait_for()
    return time.perf_counter() - started


async def pipeline(user: User) -> float:
    return await open_nav(user, "pipeline", lambda p: p.locator(".crm-card").first.wait_for())


def css_class(classes: str | None, prefix: str) -> str:
    """The class of ``classes`` made of ``prefix`` and an id (``crm-card-123``)."""
    for name in (classes or "").split():
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return name
    raise RuntimeError(f"no {prefix}<id> class in {classes!r}")


async def move(user: User) -> float:
    """A card one column on, forward and back in turn (the columns keep their cards)."""
    page = user.page
    columns = page.locator(".crm-board-column")
    cards = [
        await columns.nth(i).locator(".crm-card").count() for i in range(await columns.count())
    ]
    step = 1 if user.turn % 2 == 0 else -1
    choices = [i for i, n in enumerate(cards) if n and 0 <= i + step < len(cards)]
    if not choices:
        step = -step
        choices = [i for i, n in enumerate(cards) if n and 0 <= i + step < len(cards)]
    if not choices:
        raise NothingToDo("no card with a column beside it")
    column = user.rng.choice(choices)
    card = columns.nth(column).locator(".crm-card")
    card = card.nth(user.rng.randrange(min(cards[column], PICK)))
    deal = css_class(await card.get_attribute("class"), "crm-card-")
    target = css_class(await columns.nth(column + step).get_attribute("class"), "crm-board-column-")
    button = ".crm-card-forward button" if step > 0 else ".crm-card-back button"
    message = page.locator(".crm-board-message")
    said = await message.text_content()
    started = time.perf_counter()
    await card.locator(button).click()
    await moved_or_refused(page.locator(f".{target} .{deal}"), message, said, started)
    took = time.perf_counter() - started
    # The board is inert from the click until the server's ack, sent right after the
    # columns (as bench/app_scale.py --board waits): it must follow at once.
    try:
        await page.locator(".crm-board-root[aria-busy='false']").wait_for(timeout=READY_GRACE_MS)
    except Exception as exc:
        raise StillBusy(took) from exc
    return time.perf_counter() - started


async def moved_or_refused(moved: Any, message: Any, said: str | None, started: float) -> None:
    """Wait for the card in its new column, or for the server's refusal (the board's
    message changed to something else than a move)."""
    while not await moved.count():
        now_said = await message.text_content()
        if now_said != said and now_said and not now_said.startswith("Moved"):
            if "Not saved" in now_said or "someone else" in now_said:
                raise Conflict(now_said.strip())
            raise RuntimeError(f"the card did not move: {now_said.strip()}")
        if time.perf_counter() - started > TIMEOUT_MS / 1000:
            raise TimeoutError(f"the card was not in its new column within {TIMEOUT_MS} ms")
        await asyncio.sleep(0.05)


async def activities(user: User) -> float:
    return await open_nav(user, "activities", inbox_ready)


async def switch_to_work(page: Any) -> None:
    """Show a list with activities in it (the one shown may be done to the last)."""
    buttons = page.locator(SWITCH)
    for index, label in enumerate(await buttons.all_inner_texts()):
        if count_of(label):
            await buttons.nth(index).click()
            await visible_rows(page).first.wait_for()
            return
    raise NothingToDo("no open activity left")


async def done(user: User) -> float:
    from playwright.async_api import expect

    page = user.page
    active = page.locator(f"{SWITCH}.bk-active")
    if not count_of(await active.inner_text()):
        await switch_to_work(page)
    rows = visible_rows(page)
    await rows.first.wait_for()
    row = rows.nth(user.rng.randrange(min(await rows.count(), PICK)))
    label = await active.inner_text()
    started = time.perf_counter()
    await row.locator(".crm-row-done").click()
    # the switch's counts are redrawn after every action (the list reloaded)
    await expect(active).not_to_have_text(label, timeout=TIMEOUT_MS)
    took = time.perf_counter() - started
    refused = page.locator(".crm-inbox .crm-alert").get_by_text("Not saved")
    if await refused.count():
        raise Conflict((await refused.first.text_content() or "").strip())
    return took


#: The salesperson's loop, in order.
LOOP: list[tuple[str, Callable[[User], Awaitable[float]]]] = [
    ("contacts", contacts),
    ("search", search),
    ("open contact", open_contact),
    ("pipeline", pipeline),
    ("move", move),
    ("activities", activities),
    ("done", done),
]


async def attempt(user: User, name: str, action: Any, tally: Tally) -> bool:
    """Run and time one action; False when it failed (the page is then reloaded)."""
    try:
        # Playwright's own waits stop at 30 s; this only guards against a hang elsewhere
        took = await asyncio.wait_for(action(user), 2 * TIMEOUT_MS / 1000)
    except Conflict as exc:
        tally.conflicts[name] += 1
        tally.conflict_messages.append(f"{name}: {exc}")
        return True
    except NothingToDo:
        tally.skipped[name] += 1
        return True
    except StillBusy as exc:
        # the result is shown and the navigation still works: no reload needed
        tally.times[name].append(exc.took)
        tally.errors.append((name, first_line(exc)))
        return True
    except Exception as exc:
        # where the page was when it failed: its address, and the user
        tally.errors.append((name, f"{first_line(exc)} [{user.login} at {user.page.url}]"))
        if tally.shots is not None:
            named = f"{len(tally.errors):03d}-{name}-{user.login}.png".replace(" ", "-")
            shot = tally.shots / named
            with contextlib.suppress(Exception):
                await user.page.screenshot(path=str(shot))
        await recover(user, tally)
        return False
    tally.times[name].append(took)
    return True


async def recover(user: User, tally: Tally) -> None:
    """Reload the app as a person would after a page that stopped answering."""
    try:
        await user.page.goto(user.url + "/")
        await inbox_ready(user.page)
    except Exception as exc:
        tally.errors.append(("reload", first_line(exc)))


async def work(user: User, deadline: float, tally: Tally) -> None:
    while True:
        for name, action in LOOP:
            if time.monotonic() >= deadline:
                return
            if not await attempt(user, name, action, tally):
                break  # back to the start of the loop, from the reloaded page
        user.turn += 1


async def new_user(browser: Any, index: int, url: str, words: list[str], tally: Tally) -> User:
    context = await browser.new_context(viewport=VIEW, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    page.on("pageerror", lambda exc: tally.page_errors.append(str(exc)[:300]))
    return User(index, login_of(index), url, page, words, random.Random(index))


async def logged_in(user: User, tally: Tally) -> bool:
    try:
        tally.times[LOGIN].append(await asyncio.wait_for(log_in(user), 2 * TIMEOUT_MS / 1000))
    except Exception as exc:
        tally.errors.append((LOGIN, first_line(exc)))
        return False
    return True


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile, interpolated between the closest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def timing_figures(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "p50_s": None, "p95_s": None, "max_s": None}
    return {
        "count": len(values),
        "p50_s": round(percentile(values, 50), 3),
        "p95_s": round(percentile(values, 95), 3),
        "max_s": round(max(values), 3),
    }


def search_words(location: str, wanted: int = 12) -> list[str]:
    """Name words to search for, taken across the whole base (so across its scripts):
    each finds at least one contact, every contact it finds holds it as written (so the
    table's rows can be checked for it), and none is part of another (so the rows of one
    word never already hold the next)."""
    found_words: list[str] = []
    with crm_core.open(location) as ws:
        names = ws.contacts.search(limit=1000)["name"].tolist()
        for name in names[:: max(1, len(names) // (wanted * 5))]:
            word = str(name).split()[0]
            # letters and their marks (a Bengali vowel sign is a mark, not a letter)
            if len(word) < 3 or not all(c.isalpha() or category(c)[0] == "M" for c in word):
                continue
            if any(word.lower() in w.lower() or w.lower() in word.lower() for w in found_words):
                continue
            found = ws.contacts.search(word, limit=100)["name"]
            if len(found) and all(word.lower() in str(n).lower() for n in found):
                found_words.append(word)
    if len(found_words) < 2:
        raise ValueError(f"fewer than two usable search words in {location}")
    step = max(1, len(found_words) // wanted)
    return found_words[::step][:wanted]
