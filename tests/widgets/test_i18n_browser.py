"""The staff app in Urdu, Bengali and Tamil in a real browser with no internet: the login
page follows the browser's language (right to left in Urdu), every script is drawn with
the fonts the app serves (none from another origin, none from the machine), and a page
built for an Urdu session is mirrored. Screenshots: screenshots/i18n-*.png."""

from __future__ import annotations

from typing import Any

import panel as pn
import pytest

import crm_core
from tests.widgets.app_server import served
from tests.widgets.browser import free_port, offline, shoot, wait_for
from tests.widgets.conftest import build_staff_base
from widgets import design, i18n
from widgets.i18n import _

pytestmark = pytest.mark.slow
VIEW = {"width": 1200, "height": 800}

#: The app's faces the page loaded: ``family weight`` of each loaded FontFace.
LOADED_FONTS = """async () => {
  await document.fonts.ready;
  return [...document.fonts].filter(f => f.status === "loaded")
    .map(f => f.family.replaceAll('"', '') + " " + f.weight);
}"""


def _fonts_from(page: Any) -> list[str]:
    """The font files ``page`` downloads (their URLs), recorded as they come."""
    fetched: list[str] = []
    page.on("response", lambda r: r.url.endswith(".woff2") and fetched.append(r.url))
    return fetched


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("accept", "language", "direction", "heading", "font"),
    [
        ("ur-PK,ur;q=0.9", "ur", "rtl", "اسٹاف ایپ میں لاگ ان کریں", "arabic-regular.woff2"),
        ("bn-BD,bn;q=0.9", "bn", "ltr", "স্টাফ অ্যাপে লগ ইন করুন", "bengali-regular.woff2"),
        ("ta-IN", "ta", "ltr", "பணியாளர் செயலியில் உள்நுழையவும்", "tamil-regular.woff2"),
    ],
)
def test_login_page_in_the_browsers_language(
    browser, backend, accept, language, direction, heading, font
):
    build_staff_base(backend)
    with served(backend) as url:
        context = browser.new_context(viewport=VIEW, extra_http_headers={"Accept-Language": accept})
        page = context.new_page()
        blocked = offline(page, url)
        fetched = _fonts_from(page)
        messages: list[str] = []
        page.on("console", lambda m: messages.append(m.text))
        page.goto(url + "/login")
        page.locator("button.form-button").wait_for()
        assert page.locator("html").get_attribute("dir") == direction
        assert page.locator("html").get_attribute("lang") == language
        assert page.locator(".form-header p").inner_text() == heading
        loaded = page.evaluate(LOADED_FONTS)
        assert "crmbook 400" in loaded, loaded
        # The script's own face came from the app, and the browser can draw the heading
        # with the app's family alone (no box, no machine font).
        assert any(u.startswith(url) and u.endswith(font) for u in fetched), fetched
        assert page.evaluate("t => document.fonts.check('16px crmbook', t)", heading)
        used = page.evaluate(
            "() => getComputedStyle(document.querySelector('.form-header p')).fontFamily"
        )
        assert used.split(",")[0].strip('" ') == "crmbook", used
        shoot(page, f"i18n-login-{language}")
        # A wrong password: the error in the same language.
        page.fill("input[name=username]", "bilal")
        page.fill("input[name=password]", "not-the-password")
        page.click("button.form-button")
        page.locator("p.errormessage").wait_for()
        with i18n.speaking(language):
            assert page.locator("p.errormessage").inner_text() == _("Invalid username or password!")
        assert blocked == [], blocked
        assert [m for m in messages if "Content Security Policy" in m] == []
        context.close()


@pytest.mark.parametrize(
    ("language", "nav", "direction"),
    [
        ("ur", ("سرگرمیاں", "رابطے", "پائپ لائن", "ڈیش بورڈ"), "rtl"),
        ("bn", ("কার্যক্রম", "যোগাযোগ", "পাইপলাইন", "ড্যাশবোর্ড"), "ltr"),
    ],
)
def test_a_page_built_for_a_session_follows_its_language(
    browser, tmp_path, language, nav, direction
):
    """What the staff app's template does for a user's session (i18n.start_session,
    then design.dress on the template), with the dashboard of the staff base: mirrored
    in Urdu, lakh grouping in Bengali."""
    from widgets.dashboard import Dashboard

    path = tmp_path / f"{language}.sqlite"
    build_staff_base(path)
    with crm_core.open(path) as ws:
        ws.users.set_language("ayesha", language)
        ws.set_setting("currency", "PKR")
    base = crm_core.open(path)
    design.without_web_fonts()

    def session() -> Any:
        ws = base.as_user("ayesha")
        i18n.start_session(ws)
        buttons = [pn.widgets.Button(label=name, sizing_mode="stretch_width") for name in nav]
        template = pn.template.FastListTemplate(
            title="crmbook", sidebar=buttons, main=[Dashboard(ws)], accent="#1f6f8b"
        )
        return design.dress(template)

    port = free_port()
    server = pn.serve(
        session, port=port, address="127.0.0.1", threaded=True, show=False,
        websocket_origin=[f"127.0.0.1:{port}"],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/")
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        blocked = offline(page, url)
        fetched = _fonts_from(page)
        page.goto(url + "/")
        page.locator(".crm-figure-pipeline-value").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        assert page.locator("html").get_attribute("dir") == direction
        # Mirrored in Urdu: the navigation is on the right of the main area.
        sidebar = page.locator("#sidebar").bounding_box()
        main = page.locator("#main").bounding_box()
        assert (sidebar["x"] > main["x"]) == (direction == "rtl"), (sidebar, main)
        width = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        assert page.evaluate(width) <= 0  # nothing sticks out sideways
        assert "crmbook 400" in page.evaluate(LOADED_FONTS)
        # Every script's face is loaded with the page (the charts' canvas needs them).
        assert {u.rsplit("/", 1)[1] for u in fetched} >= {
            f"{script}-regular.woff2" for script in ("latin-cyrillic", "arabic", "bengali", "tamil")
        }, fetched
        # The charts' numbers: the browser groups them as the cards do.
        with i18n.speaking(language, "PK"):
            tag = i18n.js_locale()
            expected = i18n.format_number(1500000)
        assert page.evaluate("t => new Intl.NumberFormat(t).format(1500000)", tag) == expected
        shoot(page, f"i18n-dashboard-{language}")
        assert blocked == [], blocked
        page.close()
    finally:
        server.stop()
        base.close()
