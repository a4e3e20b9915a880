"""A salesperson's loop in a real browser with no internet (Chromium may reach the app
and nothing else): find a customer from the header by a phone number typed the
national way, open the record, log the call, schedule the follow-up, open a deal, edit
it, win it after confirming, reopen it; the record's address survives reload, and Back
returns to the page before."""

from __future__ import annotations

from typing import Any

import pytest

import crm_core
from tests.widgets.browser import login, offline, shoot
from tests.widgets.test_app_browser import eventually

pytestmark = pytest.mark.slow
VIEW = {"width": 1400, "height": 1000}


def field(page: Any, css: str) -> Any:
    return page.locator(f".{css} input, .{css} textarea").first


def click(page: Any, css: str) -> None:
    page.locator(f".{css} button").first.click()


def test_find_by_phone_log_plan_deal_win_reopen_reload_and_back(browser, served):
    url, path, rec = served
    with crm_core.open(path) as ws:
        ws.contacts.update(rec["imran"]["id"], {"mobile": "+923188895048"})
    page = browser.new_page(viewport=VIEW)
    blocked = offline(page, url)
    login(page, url, "bilal")
    page.locator(".crm-nav-contacts button").wait_for(timeout=30_000)
    page.locator(".crm-badge").get_by_text("1 overdue").wait_for(timeout=30_000)

    # The header search reads a national number with the workspace's region.
    box = page.locator(".crm-global-search input")
    box.fill("0318 8895048")
    hit = page.locator("a.crm-search-hit", has_text="عمران خان")
    hit.wait_for(timeout=30_000)
    shoot(page, "record-01-search-by-phone")
    # By keyboard: Down from the box to the first result, Enter opens it.
    box.press("ArrowDown")
    page.keyboard.press("Enter")
    imran = rec["imran"]["id"]
    page.wait_for_url(f"**/#/contacts/{imran}")
    page.locator(".crm-record-name", has_text="عمران خان").wait_for()
    assert box.input_value() == ""  # the search closed with the result opened

    # Log the call and plan the follow-up from the record.
    page.locator(".crm-log-subject input").fill("Sizes for 2027")
    page.locator(".crm-log-summary textarea").fill("Wants XL in navy")
    page.locator(".crm-log-next-subject input").fill("Send the size chart")
    click(page, "crm-log-save")  # the call and the next step in one go
    page.locator(".crm-section-timeline", has_text="Sizes for 2027").wait_for()
    page.locator(".crm-section-activities", has_text="Send the size chart").wait_for()
    with crm_core.open(path) as ws:
        timeline = ws.interactions.timeline(contact_id=imran)
        assert timeline["subject"].tolist()[0] == "Sizes for 2027"
        planned = ws.activities.for_record(contact_id=imran)
        assert "Send the size chart" in planned["subject"].tolist()

    # A deal from the contact, then its own page.
    page.locator(".crm-deal-name input").fill("Navy uniforms")
    page.locator(".crm-deal-amount input").fill("750000")
    click(page, "crm-deal-save")
    link = page.locator(".crm-section-opportunities a", has_text="Navy uniforms")
    link.wait_for()
    link.click()
    with crm_core.open(path) as ws:
        deal = ws.pipeline.search("Navy").iloc[0]
    deal_id = int(deal["id"])
    page.wait_for_url(f"**/#/deals/{deal_id}")
    page.locator(".crm-record-name", has_text="Navy uniforms").wait_for()

    # Edit: a wrong amount is refused at its field; a right one is saved.
    amount = field(page, "crm-record-field-expected_revenue")
    amount.fill("lots")
    click(page, "crm-record-save")
    page.locator(".crm-record-error-expected_revenue", has_text="not a number").wait_for()
    amount.fill("800000.50")
    field(page, "crm-record-field-probability").fill("60")
    click(page, "crm-record-save")
    with crm_core.open(path) as ws:
        assert eventually(lambda: str(ws.pipeline.get(deal_id)["expected_revenue"]) == "800000.50")
        assert str(ws.pipeline.get(deal_id)["probability"]) == "60.00"
    shoot(page, "record-02-deal-edited")

    # Won asks first; reopening brings it back.
    click(page, "crm-record-won")
    page.locator(".crm-record-confirm-won button").wait_for()
    with crm_core.open(path) as ws:
        assert ws.pipeline.get(deal_id)["status"] == "open"
    click(page, "crm-record-confirm-won")
    page.locator(".crm-record-facts", has_text="won").wait_for()
    with crm_core.open(path) as ws:
        assert ws.pipeline.get(deal_id)["status"] == "won"
    shoot(page, "record-03-deal-won")
    click(page, "crm-record-reopen")
    page.locator(".crm-record-facts", has_text="open").wait_for()
    with crm_core.open(path) as ws:
        assert ws.pipeline.get(deal_id)["status"] == "open"

    # The address survives reload; Back returns to the contact, then to the start.
    page.reload()
    page.locator(".crm-record-name", has_text="Navy uniforms").wait_for(timeout=30_000)
    page.go_back()
    page.wait_for_url(f"**/#/contacts/{imran}")
    page.locator(".crm-record-name", has_text="عمران خان").wait_for()
    page.go_forward()
    page.locator(".crm-record-name", has_text="Navy uniforms").wait_for()

    # Another salesperson's deal by its address: refused, nothing of it shown.
    page.goto(f"{url}/#/deals/{rec['theirs']['id']}")
    page.locator(".crm-alert", has_text="may not see").wait_for(timeout=30_000)
    assert page.locator(".crm-record-name").count() == 0
    assert blocked == []
    page.close()


def test_a_filter_is_in_the_address_and_a_bookmark_opens_it(browser, served):
    url, _path, _rec = served
    page = browser.new_page(viewport=VIEW)
    login(page, url, "ayesha")
    page.locator(".crm-nav-contacts button").wait_for(timeout=30_000)
    page.goto(f"{url}/#/contacts?kind=company&q=Indus")
    rows = page.locator(".crm-contact-table .tabulator-row")
    row = rows.filter(has_text="Indus Textiles")

    def only_indus() -> bool:
        return rows.count() == 1 and row.count() == 1 and "Karachi" in rows.inner_text()

    assert eventually(only_indus, timeout=30)
    # Typing a search puts it in the address once the typing stops.
    search = page.locator(".crm-contact-search input")
    search.fill("Каз")
    page.wait_for_url("**q=%D0%9A%D0%B0%D0%B7*", timeout=10_000)
    page.locator(".crm-contact-table .tabulator-row", has_text="Казань").wait_for()
    page.go_back()
    assert eventually(only_indus, timeout=10)
    shoot(page, "record-04-filter-in-address")
    page.close()


CONTRAST = """el => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number)
  const lum = (c) => {
    const [r, g, b] = rgb(c).map((v) => {
      v /= 255
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4
    })
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
  }
  let back = el, bg = "rgba(0, 0, 0, 0)"
  while (back) {
    bg = getComputedStyle(back).backgroundColor
    if (!bg.startsWith("rgba(0, 0, 0, 0)") && bg !== "transparent") break
    back = back.parentElement || (back.getRootNode() && back.getRootNode().host)
  }
  const a = lum(getComputedStyle(el).color), b = lum(bg)
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)
}"""


def test_an_urdu_salesperson_on_a_phone_in_the_dark(browser, served):
    """Right to left and translated, at 390 px with nothing sticking out sideways, and
    readable (WCAG contrast 4.5:1 or more) in the dark theme."""
    url, path, rec = served
    with crm_core.open(path) as ws:
        ws.users.set_language("bilal", "ur")
    page = browser.new_page(viewport={"width": 390, "height": 844})
    blocked = offline(page, url)
    login(page, url, "bilal")
    page.locator(".crm-nav-activities button", has_text="سرگرمیاں").wait_for(timeout=30_000)
    assert page.locator("html").get_attribute("dir") == "rtl"
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    for fragment, ready in (
        ("#/activities", ".crm-inbox-overdue .tabulator-row"),
        ("#/contacts", ".crm-contact-table .tabulator-row"),
        (f"#/contacts/{rec['imran']['id']}", ".crm-record-name"),
        (f"#/deals/{rec['mine']['id']}", ".crm-record-name"),
    ):
        page.goto(url + "/" + fragment)
        page.locator(ready).first.wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        assert page.evaluate(overflow) <= 1, fragment
    page.locator(".crm-record-save button", has_text="محفوظ کریں").wait_for()
    shoot(page, "record-05-urdu-390")
    page.locator("#theme-switch").click()  # the dark theme reloads the page
    page.wait_for_url("**theme=dark**")
    name = page.locator(".crm-record-name")
    name.wait_for(timeout=30_000)
    assert name.evaluate(CONTRAST) >= 4.5
    label = page.locator(".crm-record-field-name label").first
    assert label.evaluate(CONTRAST) >= 4.5
    shoot(page, "record-06-urdu-390-dark")
    assert blocked == []
    page.close()
