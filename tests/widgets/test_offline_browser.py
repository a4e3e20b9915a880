"""The staff app with no internet: Chromium is allowed to reach the app and nothing
else, and every page (the login included) loads and works without asking another
origin for anything (no CDN, no web font)."""

from __future__ import annotations

import pytest

from tests.widgets.app_server import served
from tests.widgets.browser import login, offline, shoot
from tests.widgets.conftest import build_staff_base

pytestmark = pytest.mark.slow
VIEW = {"width": 1400, "height": 900}
#: Every page of the navigation, with something that only shows once it has loaded.
PAGES = {
    "activities": ".crm-nav-activities button",
    "contacts": ".crm-contact-table .tabulator-row",
    "pipeline": "[class*='crm-card-']",
    "dashboard": ".crm-nav-dashboard button",
    "reports": ".crm-reports-select select",
    "mail": ".crm-mail-drain button",
    "sync": ".crm-nav-sync button",
    "data-quality": ".crm-import-file input",
}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_page_works_with_no_internet(browser, backend):
    build_staff_base(backend)
    with served(backend) as url:
        page = browser.new_page(viewport=VIEW)
        blocked = offline(page, url)
        # The app's CSP refuses other origins before a request is made: those count too.
        messages: list[str] = []
        page.on("console", lambda m: messages.append(m.text))
        loaded: list[str] = []
        page.on("request", lambda r: loaded.append(r.url))
        page.goto(url + "/login")
        page.locator("input[name=password]").wait_for()
        shoot(page, "offline-01-login")
        login(page, url, "ayesha")
        page.locator(".crm-nav-contacts button").wait_for(timeout=30_000)
        for name, ready in PAGES.items():
            page.locator(f".crm-nav-{name} button").click()
            page.locator(ready).first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        shoot(page, "offline-02-after-every-page")
        assert blocked == [], blocked
        assert [m for m in messages if "Content Security Policy" in m] == []
        # Bokeh's 1.8 MB MathJax bundle stays off the pages: no page writes LaTeX.
        assert any("bokeh.min.js" in u for u in loaded)
        assert [u for u in loaded if "mathjax" in u.lower()] == []
        page.close()
