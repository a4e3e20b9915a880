"""What the sixth round's tester saw in Chromium, fixed: a header-search result opened
with the keyboard (or a click) opens the record with no error in the console."""

from __future__ import annotations

import pytest

from tests.widgets.browser import login, shoot

pytestmark = pytest.mark.slow
VIEW = {"width": 1400, "height": 1000}


def test_a_search_result_opened_with_the_keyboard_logs_no_error(browser, served):
    """Tab to the first result, Enter: Panel's HTML pane read the route as a CSS
    selector ("'#/contacts/1001' is not a valid selector")."""
    url, _path, rec = served
    page = browser.new_page(viewport=VIEW)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login(page, url, "bilal")
    box = page.locator(".crm-global-search input")
    box.type("عمران", delay=30)
    hit = page.locator("a.crm-search-hit").first
    hit.wait_for(timeout=30_000)
    box.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_function(f"location.hash === '#/contacts/{rec['imran']['id']}'")
    page.locator(".crm-record-name", has_text="عمران خان").wait_for(timeout=30_000)
    # a click on a link of an HTML pane (the overdue badge) too
    page.locator(".crm-badge a").first.click()
    page.wait_for_function("location.hash === '#/activities'")
    page.wait_for_timeout(500)
    shoot(page, "round6-search-keyboard")
    assert not [e for e in errors if "selector" in e], errors
    page.close()
