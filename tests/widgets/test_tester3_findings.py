"""What the third tester found in the staff app, fixed: logout only by a POST carrying
the XSRF token (a GET asks to confirm), the Reports page offers a sales user no other
owner or team, a sales user's board ignores another owner in its address, the page's
``<html lang>`` follows the session's language, and the header search box takes at most
what a search does."""

from __future__ import annotations

import re

import httpx
import panel as pn
import pytest
from bokeh.util.token import get_token_payload

from crm_core.services.search import MAX_QUERY
from tests.widgets.app_server import (
    SESSION,
    add_staff,
    log_in,
    page_token,
    served,
    session_cookie,
)
from widgets import i18n
from widgets.app import PageLanguage, StaffApp, logout_html
from widgets.auth import XSRF_HEADER
from widgets.record_page import changes_shown, journal_value
from widgets.reports_page import ReportsPage


@pytest.fixture
def people(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    ws.as_user("bilal").pipeline.create("Uniforms 2027", stage="New")
    ws.as_user("olga").pipeline.create("Towels", stage="New")
    return ws


# -- 3. logout ------------------------------------------------------------------------------
@pytest.fixture
def app(backend, monkeypatch):
    monkeypatch.delenv("CRMBOOK_COOKIE_SECRET", raising=False)
    add_staff(backend)
    with served(backend) as url:
        yield url


def _live(url: str, cookie: str) -> bool:
    return httpx.get(url + "/", cookies={SESSION: cookie}, timeout=30).status_code == 200


@pytest.mark.slow
def test_logout_needs_a_post_with_the_xsrf_token(app):
    client, answer = log_in(app, "bilal")
    assert answer.status_code == 302
    cookie = session_cookie(client)
    # a link (another site's included) only shows the form asking to confirm
    confirm = client.get("/logout")
    assert confirm.status_code == 200 and _live(app, cookie)
    assert 'method="post"' in confirm.text and 'name="_xsrf"' in confirm.text
    assert confirm.headers["cache-control"] == "no-store"
    # a form posted from elsewhere: no token, refused, nobody logged out
    stranger = httpx.post(
        app + "/logout", cookies={SESSION: cookie}, data={}, follow_redirects=False
    )
    assert stranger.status_code == 403 and _live(app, cookie)
    assert client.post("/logout", data={}).status_code == 403 and _live(app, cookie)
    # the confirm page's own form logs out
    token = re.search(r'name="_xsrf" value="([^"]+)"', confirm.text).group(1)
    done = client.post("/logout", data={"_xsrf": token})
    assert done.status_code == 302 and done.headers["location"].endswith("login?notice=logout")
    assert not _live(app, cookie)
    # logged out, /logout goes to the login page
    assert client.get("/logout").status_code == 302


@pytest.mark.slow
def test_the_apps_page_knows_the_xsrf_token_its_logout_button_posts(app):
    client, _ = log_in(app, "bilal")
    cookie = session_cookie(client)
    # a browser without the XSRF cookie: its page gets no token (the header's
    # "Log out" is then the link to the page asking to confirm)
    assert XSRF_HEADER not in get_token_payload(page_token(app, cookie))["headers"]
    page = client.get("/")  # the browser that logged in, with its XSRF cookie
    assert page.status_code == 200
    payload = get_token_payload(re.search(r'"token":"([^"]+)"', page.text).group(1))
    assert "Cookie" not in payload["headers"]
    assert payload["cookies"] == {"crmbook_page": payload["cookies"]["crmbook_page"]}
    token = payload["headers"][XSRF_HEADER]
    assert token and client.cookies["_xsrf"] not in str(payload)  # masked, not the cookie
    done = client.post("/logout", data={"_xsrf": token})
    assert done.status_code == 302 and not _live(app, cookie)


def test_the_headers_logout_is_a_form_posting_the_token():
    form = logout_html('2|ab"cd|ef|1')
    assert form.startswith('<form method="post" action="./logout"')
    assert 'name="_xsrf" value="2|ab&quot;cd|ef|1"' in form and "<button" in form
    with i18n.speaking("ur"):
        assert "لاگ آؤٹ" in logout_html(None) and 'href="./logout"' in logout_html(None)


# -- 2. a sales user's owners ------------------------------------------------------------------
def _find(layout, css_class):
    return next(o for o in layout.select() if css_class in getattr(o, "css_classes", []))


@pytest.mark.parametrize(("login", "offered"), [("bilal", False), ("ayesha", True)])
def test_the_reports_page_offers_owners_and_teams_to_managers_only(people, login, offered):
    page = ReportsPage(people.as_user(login))
    layout = pn.panel(page)
    owner = _find(layout, "crm-reports-filter-owner")
    team = _find(layout, "crm-reports-filter-team")
    assert (owner.visible, team.visible) == (offered, offered)
    assert ("olga" in owner.options.values()) == offered


def test_a_sales_users_board_ignores_another_owner_in_its_address(people):
    bilal = StaffApp(people.as_user("bilal"))
    bilal.route("#/pipeline?owner=olga")
    board = bilal.page("Pipeline").model
    assert board.owner == ""
    assert [n for c in board.columns for n in c["cards"]["name"]] == ["Uniforms 2027"]
    bilal.route("#/pipeline?owner=bilal")  # their own: kept
    assert board.owner == "bilal"
    ayesha = StaffApp(people.as_user("ayesha"))
    ayesha.route("#/pipeline?owner=olga")
    board = ayesha.page("Pipeline").model
    assert board.owner == "olga"
    assert [n for c in board.columns for n in c["cards"]["name"]] == ["Towels"]


# -- 4. and 5. the page's language and the search box ------------------------------------------
def test_the_page_says_its_language_and_the_search_box_takes_what_a_search_does(people):
    with i18n.speaking("ur"):
        app = StaffApp(people.as_user("bilal"))
        header = app.template().header
    languages = [o for o in header if isinstance(o, PageLanguage)]
    assert [o.lang for o in languages] == ["ur"]
    assert "document.documentElement.lang = data.lang" in PageLanguage._scripts["render"]
    boxes = list(pn.panel(app.search).select(pn.widgets.TextInput))
    assert boxes and all(box.max_length == MAX_QUERY for box in boxes)


def test_a_search_as_long_as_the_box_takes_is_searched(people):
    app = StaffApp(people.as_user("bilal"))
    app.search.model.query = "x" * MAX_QUERY
    assert app.search.model.message == "" and app.search.model.message_kind == "info"


def test_a_deals_changes_show_labels_and_plain_values(ws):
    """The Changes table read 'expected_revenue', '"1000.00"': the form's label and the
    value as typed, in the session's language."""
    deal = ws.pipeline.create("Looms", expected_revenue="1000.00", currency="PKR", tags=["vip"])
    ws.pipeline.update(deal["id"], expected_revenue="2000.00", tags=["vip", "new"])
    journal = ws.journal.for_record("opportunities", deal["id"])
    shown = changes_shown(journal[journal["field"].notna()], "deal")
    assert shown[["field", "old", "new"]].values.tolist() == [
        ["Amount", "1,000.00", "2,000.00"],  # grouped as the page writes amounts
        ["Tags", "vip", "new, vip"],
    ]
    russian = i18n.translator("ru")[0]
    with i18n.speaking("ru"):
        shown = changes_shown(journal[journal["field"].notna()], "deal")
    assert shown["field"].tolist() == [russian("Amount"), russian("Tags")]
    assert russian("Amount") != "Amount"
    assert journal_value("true") == "yes" and journal_value(None) is None
