"""The third tester's second round, in a real browser: filters written into the page
address survive a reload, a bookmarked record survives the login, and the page is laid
out for a phone's width."""

from __future__ import annotations

from typing import Any

import pytest

from tests.widgets.browser import PASSWORD, login, shoot
from tests.widgets.test_app_browser import eventually

pytestmark = pytest.mark.slow
VIEW = {"width": 1400, "height": 1000}


def _hash(page: Any) -> str:
    return str(page.evaluate("window.location.hash"))


def test_filters_in_the_address_are_joined_by_a_plain_ampersand(browser, served):
    url, _path, _rec = served
    page = browser.new_page(viewport=VIEW)
    login(page, url, "bilal")
    page.locator(".crm-nav-contacts button").click()
    country = page.locator(".crm-contact-country input")
    country.fill("PK")
    country.press("Enter")
    assert eventually(lambda: _hash(page) == "#/contacts?country=PK")
    tag = page.locator(".crm-contact-tag input")
    tag.fill("VIP")
    tag.press("Enter")
    assert eventually(lambda: "tag=" in _hash(page))
    assert _hash(page) == "#/contacts?country=PK&tag=VIP"
    page.reload()
    page.locator(".crm-contact-tag input").wait_for(timeout=30_000)
    assert eventually(lambda: page.locator(".crm-contact-tag input").input_value() == "VIP")
    assert page.locator(".crm-contact-country input").input_value() == "PK"
    shoot(page, "tester3-round3-filters-reloaded")
    page.close()


def test_a_bookmarked_record_opens_after_the_login(browser, served):
    url, _path, rec = served
    deal = rec["mine"]["id"]
    page = browser.new_page(viewport=VIEW)
    page.goto(f"{url}/#/deals/{deal}")
    page.wait_for_url("**/login?**")
    # the login page puts the fragment the server never saw into the form's "next"
    assert page.locator("input[name=next]").input_value() == f"/#/deals/{deal}"
    assert page.locator("a[lang=ur]").get_attribute("href").endswith(f"#/deals/{deal}")
    page.fill("input[name=username]", "bilal")
    page.fill("input[name=password]", PASSWORD)
    page.click("button.form-button")
    page.locator(".crm-record-name", has_text="Uniforms 2027").wait_for(timeout=30_000)
    assert page.url == f"{url}/#/deals/{deal}"
    page.close()


def test_a_phone_lays_the_app_out_at_its_own_width(browser, served):
    url, _path, _rec = served
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    login(page, url, "bilal")
    page.locator(".crm-nav-contacts button").wait_for(timeout=30_000)
    content = page.locator('meta[name="viewport"]').get_attribute("content")
    assert content == "width=device-width, initial-scale=1"
    # without it a phone lays the page out 980 px wide and shrinks it
    assert page.evaluate("window.innerWidth") == 390
    shoot(page, "tester3-round3-phone-390")
    phone.close()


def _names(page: Any) -> list[str]:
    cells = page.locator(".crm-contact-table .tabulator-row .tabulator-cell[tabulator-field=name]")
    return [c.strip() for c in cells.all_inner_texts()]


def test_a_click_on_the_name_header_keeps_the_alphabetical_order(browser, served):
    """Tabulator sorted the page itself on a header click, by the name cell's link (the
    record's id), over the server's alphabetical order (a tester's sixth check)."""
    url, path, _rec = served
    import crm_core

    with crm_core.open(path) as ws:
        for name in ("ٹیپو سلطان", "بلال خان", "Zoe Adams", "ہارون رشید", "پرویز مشرف"):
            ws.contacts.create(name=name)
        alphabetical = ws.contacts.search(order_by="name")["name"].tolist()
    page = browser.new_page(viewport=VIEW)
    login(page, url, "ayesha")
    page.locator(".crm-nav-contacts button").click()
    page.locator(".crm-contact-table .tabulator-row").first.wait_for(timeout=30_000)
    assert eventually(lambda: _names(page) == alphabetical), _names(page)
    header = page.locator(".crm-contact-table .tabulator-col[tabulator-field=name]")
    header.click()  # the column the list is sorted by: the other way
    assert eventually(lambda: _hash(page).endswith("desc=1"))
    assert eventually(lambda: _names(page) == alphabetical[::-1]), _names(page)
    page.wait_for_timeout(1000)  # and it stays so (Panel sorted the cells' text again)
    assert _names(page) == alphabetical[::-1]
    header.click()
    assert eventually(lambda: not _hash(page).endswith("desc=1"))
    assert eventually(lambda: _names(page) == alphabetical), _names(page)
    page.close()
