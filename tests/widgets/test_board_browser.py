"""The pipeline board in a real browser (Debian's Chromium through Playwright), served
in-process behind the staff app's security headers (its Content-Security-Policy): a
card dragged to another stage is moved in the database and the two column totals on
screen follow; Won asks for a confirmation, Lost for a reason, a quick-created deal
with a bad amount is refused at the field, a card moved from the keyboard keeps the
focus, a closed deal is reopened; the board is inert while an action is on its way;
light and dark, 1280 and 390 px wide (one column that scrolls)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import panel as pn
import pytest

import crm_core
from tests.widgets.browser import free_port, shoot, wait_for
from widgets.board_view import PipelineBoard
from widgets.design import without_web_fonts
from widgets.headers import SecurityHeaders

pytestmark = pytest.mark.slow
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def build_base(path: Path) -> dict[str, Any]:
    """A manager and two sales users; deals in three currencies, one with no company."""
    with crm_core.open(path) as ws:
        ws.set_setting("currency", "PKR")
        ws.pipeline.ensure_default()
        ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
        ws.users.add("بلال احمد", "bilal", role="sales")
        ws.users.add("Ольга Смирнова", "olga", role="sales")
        indus = ws.companies.create(name="Indus Textiles & Sons", country="PK")["id"]
        bilal, olga = ws.as_user("bilal").pipeline, ws.as_user("olga").pipeline
        deals = {
            "uniforms": bilal.create(
                "Uniforms 2027",
                company=indus,
                expected_revenue="1500000.00",
                currency="PKR",
                expected_close="2026-06-10",
            ),
            "aprons": bilal.create(
                "Aprons",
                company=indus,
                expected_revenue="2000.00",
                currency="USD",
                expected_close="2026-06-12",
            ),
            "towels": olga.create(
                "Towels for Kazan",
                stage="Proposition",
                expected_revenue="900000.00",
                currency="PKR",
                expected_close="2026-07-01",
            ),
            "linen": olga.create(
                "Linen <b>bold</b>",
                stage="Qualified",
                expected_revenue="3000.00",
                currency="EUR",
                expected_close="2026-07-02",
            ),
        }
    return {name: deal["id"] for name, deal in deals.items()}


@pytest.fixture
def board_url(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, int]]]:
    """Ayesha's board in the staff app's template, with its security headers."""
    path = tmp_path / "board.sqlite"
    ids = build_base(path)
    without_web_fonts()  # as the app's server does: its CSP allows no other origin
    base = crm_core.open(path)

    def page() -> Any:
        board = PipelineBoard(base.as_user("ayesha"))
        return pn.template.FastListTemplate(title="crmbook", main=[board], accent="#1f6f8b")

    port = free_port()
    server = pn.serve(
        page,
        port=port,
        address="127.0.0.1",
        threaded=True,
        show=False,
        websocket_origin=[f"127.0.0.1:{port}"],
        transforms=[SecurityHeaders],
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(url, timeout=60)
        yield url, path, ids
    finally:
        server.stop()
        base.engine.dispose()


def eventually(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def open_board(browser: Any, url: str, viewport: dict, dark: bool = False) -> tuple[Any, list]:
    """A page showing the board; the console messages it logs (CSP reports included)."""
    page = browser.new_page(viewport=viewport, color_scheme="dark" if dark else "light")
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(url + ("?theme=dark" if dark else ""))
    page.locator(".crm-card").first.wait_for(timeout=30_000)
    return page, console


def column(page: Any, stage: str) -> Any:
    return page.locator(".crm-board-column").filter(
        has=page.locator(".crm-board-column-title", has_text=stage)
    )


def header(page: Any, stage: str) -> str:
    """What a column's header says: count and total (the collapsed part as written)."""
    head = column(page, stage).locator(".crm-board-column-header")
    return " ".join(head.inner_text().split())


def idle(page: Any) -> None:
    page.locator(".crm-board-root[aria-busy='false']").wait_for()


def test_a_card_dragged_to_another_stage_moves_and_two_totals_follow(browser, board_url):
    url, path, ids = board_url
    page, console = open_board(browser, url, WIDE)
    # PKR and USD, and no rate between them: each on its own, the missing rate named
    assert header(page, "New") == (
        "New 2 deals Weighted PKR 150,000.00 of PKR 1,500,000.00 +1 more"
        " Not converted to PKR: no rate for USD"
    )
    assert header(page, "Proposition") == (
        "Proposition 1 deal Weighted PKR 540,000.00 of PKR 900,000.00"
    )
    qualified_before = header(page, "Qualified")
    more = column(page, "New").locator(".crm-board-total-more")
    assert not more.locator("li").is_visible()  # collapsed
    more.locator("summary").click()
    assert more.locator("li").inner_text() == "USD 200.00 of USD 2,000.00"
    cards = page.locator(".crm-card")
    cards.evaluate_all("nodes => nodes.forEach(n => { n.drawnBefore = true })")
    card = page.locator(f".crm-card-{ids['uniforms']}")
    card.drag_to(column(page, "Proposition"))
    column(page, "Proposition").locator(f".crm-card-{ids['uniforms']}").wait_for()
    idle(page)
    # one card drawn again (the moved one); every other card is the node it was
    redrawn = cards.evaluate_all("nodes => nodes.filter(n => !n.drawnBefore).map(n => n.className)")
    assert redrawn == [f"crm-card crm-card-{ids['uniforms']}"]
    with crm_core.open(path) as ws:
        assert ws.pipeline.get(ids["uniforms"])["stage"] == "Proposition"
    assert header(page, "New") == (
        "New 1 deal Weighted USD 200.00 of USD 2,000.00 Not converted to PKR: no rate for USD"
    )
    assert header(page, "Proposition") == (
        "Proposition 2 deals Weighted PKR 1,440,000.00 of PKR 2,400,000.00"
    )
    assert header(page, "Qualified") == qualified_before
    message = page.locator(".crm-board-message")
    assert message.inner_text() == "Moved 'Uniforms 2027' to Proposition."
    shoot(page, "board-01-dragged-light-1280")
    assert not [m for m in console if "Content Security Policy" in m], console
    page.close()


def test_buttons_confirm_won_ask_a_reason_and_refuse_a_bad_amount_at_its_field(browser, board_url):
    url, path, ids = board_url
    page, console = open_board(browser, url, WIDE)
    towels = page.locator(f".crm-card-{ids['towels']}")
    # the board is inert from the click until the server answers: nothing stale
    inert = towels.locator(".crm-card-forward button").evaluate(
        "b => { b.click(); return b.closest('.crm-board-columns').inert }"
    )
    assert inert is True
    column(page, "Negotiation").locator(f".crm-card-{ids['towels']}").wait_for()
    idle(page)

    towels = page.locator(f".crm-card-{ids['towels']}")
    towels.locator(".crm-card-won button").click()
    confirm = towels.locator(".crm-card-won-confirm button")
    confirm.wait_for()
    with crm_core.open(path) as ws:
        assert ws.pipeline.get(ids["towels"])["status"] == "open"  # not before confirming
    confirm.click()
    towels.wait_for(state="detached")
    with crm_core.open(path) as ws:
        assert eventually(lambda: ws.pipeline.get(ids["towels"])["status"] == "won")

    linen = page.locator(f".crm-card-{ids['linen']}")
    assert linen.locator(".crm-card-name").inner_text() == "Linen <b>bold</b>"  # as text
    assert linen.locator(".crm-card-company").inner_text() == "—"
    linen.locator(".crm-card-lost button").click()
    linen.locator(".crm-card-lost-confirm button").click()
    reason_error = linen.locator(".crm-card-lost-box .crm-field-error[data-field='reason']")
    reason_error.get_by_text("is required").wait_for()
    linen.locator(".crm-card-lost-reason").select_option("No budget")
    linen.locator(".crm-card-lost-confirm button").click()
    linen.wait_for(state="detached")
    with crm_core.open(path) as ws:
        assert ws.pipeline.get(ids["linen"])["lost_reason"] == "No budget"

    new = column(page, "New")
    new.locator(".crm-board-add button").click()
    form = new.locator(".crm-board-create")
    form.locator("input[name='name']").fill("Caps")
    form.locator("input[name='expected_revenue']").fill("a lot")
    form.locator(".crm-board-create-save button").click()
    error = form.locator(".crm-field-error[data-field='expected_revenue']")
    error.get_by_text("is not a number").wait_for()
    assert form.locator("input[name='expected_revenue']").get_attribute("aria-invalid") == "true"
    shoot(page, "board-02-field-error-light-1280")
    form.locator("input[name='expected_revenue']").fill("250.00")
    form.locator(".crm-board-create-save button").click()
    new.locator(".crm-card", has_text="Caps").wait_for()
    form.wait_for(state="hidden")  # closed when the server's answer comes

    # keyboard: Enter on a card's ▶ moves it, and the focus follows the card
    caps = new.locator(".crm-card", has_text="Caps")
    caps.locator(".crm-card-forward button").focus()
    page.keyboard.press("Enter")
    moved = column(page, "Qualified").locator(".crm-card", has_text="Caps")
    moved.wait_for()
    idle(page)
    focused = page.evaluate(
        "() => { let a = document.activeElement;"
        " while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;"
        " return [a.closest('.crm-card')?.textContent.slice(0, 4), a.parentElement.className] }"
    )
    assert focused == ["Caps", "crm-card-forward"]

    # the closed deals, and Reopen
    page.locator(".crm-board-show-closed").check()
    closed = page.locator(f".crm-closed-{ids['towels']}")
    closed.get_by_text("Won").wait_for()
    page.locator(f".crm-closed-{ids['linen']}").get_by_text("Lost: No budget").wait_for()
    shoot(page, "board-05-closed-light-1280")
    closed.locator(".crm-closed-reopen button").click()
    column(page, "New").locator(f".crm-card-{ids['towels']}").wait_for()
    with crm_core.open(path) as ws:
        assert eventually(lambda: ws.pipeline.get(ids["towels"])["status"] == "open")
    assert not [m for m in console if "Content Security Policy" in m], console
    page.close()


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_readable_light_and_dark_and_one_column_on_a_phone(browser, board_url, dark):
    url, _path, ids = board_url
    mode = "dark" if dark else "light"
    page, _console = open_board(browser, url, WIDE, dark=dark)
    colours = page.locator(f".crm-card-{ids['uniforms']}").evaluate(
        "c => [getComputedStyle(c).backgroundColor, getComputedStyle(c).color]"
    )
    column_bg = page.locator(".crm-board-column").first.evaluate(
        "c => getComputedStyle(c).backgroundColor"
    )
    name_colour = page.locator(".crm-card-name").first.evaluate("n => getComputedStyle(n).color")

    def light(rgb: str) -> float:
        r, g, b = (float(x) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255

    card_bg, card_text = colours
    assert (light(card_bg) < 0.3) == dark and (light(column_bg) < 0.3) == dark
    assert abs(light(card_bg) - light(card_text)) > 0.5  # the text stands out
    assert abs(light(card_bg) - light(name_colour)) > 0.25
    shoot(page, f"board-03-{mode}-1280")
    page.close()

    page, _console = open_board(browser, url, PHONE, dark=dark)
    boxes = [c.bounding_box() for c in page.locator(".crm-board-column").all()]
    assert len(boxes) == 4
    assert len({round(b["x"]) for b in boxes}) == 1  # stacked: one column
    assert all(a["y"] + a["height"] <= b["y"] for a, b in itertools.pairwise(boxes))
    assert all(b["x"] + b["width"] <= PHONE["width"] for b in boxes)
    wide = page.evaluate("document.scrollingElement.scrollWidth")
    assert wide <= PHONE["width"] + 1
    shoot(page, f"board-04-{mode}-390")
    page.close()
