"""What the fifth round's tester saw of the staff app's layout in Chromium at 1400 px,
fixed: the Contacts table takes its container's full width on the first load, the
activity lists show every column (their row buttons too, in English and in Urdu) with
no text cut, and no empty card sits above the page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import crm_core
from tests.widgets.browser import login, shoot
from tests.widgets.test_app_browser import eventually

pytestmark = pytest.mark.slow
VIEW = {"width": 1400, "height": 1000}

#: Walks the page and its shadow roots for the visible Tabulator tables: for each, the
#: box of its holder, its table and its columns, and the cells whose text is cut.
TABLES = """(selector) => {
  const out = [];
  function walk(root) {
    for (const e of root.querySelectorAll('*')) {
      if (e.classList && e.classList.contains('pnx-tabulator')
          && e.getBoundingClientRect().width > 0 && (!selector || e.closest(selector)
          || (e.getRootNode().host && e.getRootNode().host.closest(selector)))) {
        const box = (x) => { const r = x.getBoundingClientRect();
          return [Math.round(r.left), Math.round(r.right)]; };
        const columns = [...e.querySelectorAll('.tabulator-col')]
          .filter(c => c.getBoundingClientRect().width > 1).map(box);
        const cut = [...e.querySelectorAll('.tabulator-cell')]
          .filter(c => c.getBoundingClientRect().width > 1 && c.scrollWidth > c.clientWidth + 1)
          .map(c => c.getAttribute('tabulator-field') + ': ' + c.innerText);
        out.push({holder: box(e.querySelector('.tabulator-tableholder')),
                  table: box(e.querySelector('.tabulator-table')), columns, cut});
      }
      if (e.shadowRoot) walk(e.shadowRoot);
    }
  }
  walk(document);
  return out;
}"""


def tables(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(TABLES, None)


def test_the_contacts_table_takes_the_full_width_on_first_load(browser, served):
    url, _path, _rec = served
    page = browser.new_page(viewport=VIEW)
    login(page, url, "bilal")
    page.locator(".crm-nav-contacts button").click()
    page.locator(".crm-contact-table .tabulator-row").first.wait_for(timeout=30_000)
    shown = eventually(lambda: tables(page))
    shoot(page, "round5-contacts-first-load")
    assert len(shown) == 1
    (holder_left, holder_right), (table_left, table_right) = shown[0]["holder"], shown[0]["table"]
    # the columns fill the container (wider: it scrolls, the name column frozen)
    assert table_right - table_left >= holder_right - holder_left - 2, shown
    assert shown[0]["columns"][0][1] - shown[0]["columns"][0][0] >= 150  # names not squeezed
    page.close()


@pytest.mark.parametrize(("locale", "direction"), [("en-US", "ltr"), ("ur", "rtl")])
def test_the_activity_lists_show_every_column_at_1400_px(browser, served, locale, direction):
    url, path, rec = served
    with crm_core.open(path) as ws:
        bilal = ws.as_user("bilal")
        faisal = ws.contacts.create(name="Faisal Khan Abbasi Qureshi", email="fk@example.com")
        deal = bilal.pipeline.create(
            "Lawn prints for the summer collection, 2,900 m",
            contact=faisal["id"],
            company=rec["indus"]["id"],
        )
        bilal.activities.schedule(
            "meeting",
            "Showroom visit with Faisal about the summer collection",
            dt.date.today() - dt.timedelta(days=3),
            opportunity=deal["id"],
            contact=faisal["id"],
        )
    context = browser.new_context(viewport=VIEW, locale=locale)
    page = context.new_page()
    login(page, url, "bilal")
    page.locator(".crm-activity-list .tabulator-row").first.wait_for(timeout=30_000)
    page.get_by_text("Faisal Khan Abbasi Qureshi").first.wait_for(timeout=30_000)
    assert page.locator("html").get_attribute("dir") == direction
    shown = eventually(lambda: tables(page))
    shoot(page, f"round5-activities-{locale}")
    assert len(shown) == 1, shown
    (left, right), columns = shown[0]["holder"], shown[0]["columns"]
    assert len(columns) == 8  # due, kind, subject, about, assignee and three buttons
    # every column within the list's box and the window: none off-screen, none clipped
    assert all(left - 1 <= a and b <= right + 1 for a, b in columns), (left, right, columns)
    assert all(a >= 0 and b <= VIEW["width"] for a, b in columns)
    assert shown[0]["cut"] == []  # long names wrap in their cell, cut nowhere
    context.close()


def test_no_empty_card_above_the_page(browser, served):
    url, _path, _rec = served
    page = browser.new_page(viewport=VIEW)
    login(page, url, "bilal")
    page.locator(".crm-activity-list .tabulator-row").first.wait_for(timeout=30_000)
    cards = page.locator("#main .card-margin")
    shoot(page, "round5-no-empty-card")
    assert cards.count() == 1
    assert cards.first.bounding_box()["height"] > 300
    # a page of another role is still said, in that one card
    page.goto(url + "/#/data-quality")
    page.locator(".crm-app-notice").get_by_text("managers").wait_for(timeout=30_000)
    assert cards.count() == 1
    page.close()
