"""The staff app in its users' languages: complete catalogues that keep their
placeholders, the language of each session, right-to-left pages, figures in the
user's locale, the per-user setting (service and command line) and the login page."""

from __future__ import annotations

import datetime as dt
import re
import string
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from babel.messages.pofile import read_po
from bokeh.document import Document
from panel.io.state import set_curdoc
from typer.testing import CliRunner

import crm_core
from crm_core import ValidationError
from crm_core.cli import app as cli
from crm_core.languages import ui_languages
from widgets import design, i18n
from widgets.dashboard import figure_cards
from widgets.i18n import _

ROOT = Path(__file__).parents[2]
#: Languages whose catalogue must translate every message.
COMPLETE = ("ur", "bn")
#: Every language with a catalogue (the rest may leave some messages in English).
TRANSLATED = ("ur", "bn", "sd", "ta", "ru")


def _catalogue(language: str):
    with i18n.catalogue_path(language).open("rb") as po:
        return read_po(po, locale=language)


def _template():
    with (i18n.LOCALE_DIR / "crmbook.pot").open("rb") as pot:
        return read_po(pot)


def _placeholders(text: str) -> list[str]:
    """``{name}`` fields and ``%(name)s`` / ``%s`` conversions, sorted."""
    braces = [name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name]
    percents = re.findall(r"%(?:\(\w+\))?[sdif]", text)
    return sorted(braces + percents)


def _ids(catalogue) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue if m.id}


# -- catalogues ----------------------------------------------------------------------------
def test_every_language_of_the_app_has_a_catalogue_and_nothing_else_does():
    assert set(i18n.LANGUAGES) == set(ui_languages()) == {"en", *TRANSLATED}
    on_disk = {p.parents[1].name for p in i18n.LOCALE_DIR.glob("*/LC_MESSAGES/crmbook.po")}
    assert on_disk == set(TRANSLATED)


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalogues_follow_the_template(language):
    """Every message of the template (widgets/locale/crmbook.pot) is in the catalogue,
    and none that is gone from it: `pybabel update` was run after the last extract."""
    assert _ids(_catalogue(language)) == _ids(_template())


def test_the_template_holds_every_marked_message_of_the_translated_modules(tmp_path, monkeypatch):
    """The committed template holds what `pybabel extract` finds now in every module it
    already covers, so a translated page never gains a message that stays English. (A
    module wrapped for the first time joins when the catalogues are next updated.)"""
    from babel.messages.frontend import CommandLineInterface

    fresh = tmp_path / "fresh.pot"
    monkeypatch.chdir(ROOT)  # locations relative to the checkout, as in the template
    config = "babel.cfg"
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", config, "-k", "N_", "-o", str(fresh), "."]
    )
    with fresh.open("rb") as pot:
        found = read_po(pot)
    covered = {path for m in _template() for path, _line in m.locations}
    assert {"widgets/auth.py", "widgets/templates/login.html"} <= covered
    assert {
        f"widgets/{name}.py"
        for name in ("app", "contact_book", "record_model", "record_page", "global_search")
    } <= covered
    missing = {
        m.id if isinstance(m.id, str) else m.id[0]
        for m in found
        if m.id and any(path in covered for path, _line in m.locations)
    } - _ids(_template())
    assert not missing, f"run the update in README.md (Translations): {sorted(missing)}"


def test_no_message_is_marked_inside_an_f_string():
    """`pybabel extract` does not look inside f-strings (one token to it before Python
    3.12): a ``_("...")`` there would never reach the catalogues."""
    import ast

    hidden = []
    for path in sorted((ROOT / "widgets").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.JoinedStr):
                continue
            for inner in ast.walk(node):
                called = isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name)
                if called and inner.func.id in ("_", "N_", "ngettext"):
                    hidden.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert hidden == []


@pytest.mark.parametrize("language", COMPLETE)
def test_urdu_and_bengali_translate_every_message(language):
    catalogue = _catalogue(language)
    untranslated = [
        m.id for m in catalogue if m.id and (not m.string or not all(m.string) or m.fuzzy)
    ]
    assert untranslated == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_their_placeholders(language):
    for message in _catalogue(language):
        if not message.id or not message.string:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        expected = _placeholders(ids[-1])
        for translated in strings:
            if translated:
                assert _placeholders(translated) == expected, (language, message.id, translated)


@pytest.mark.parametrize("language", TRANSLATED)
def test_plural_forms_follow_the_language(language):
    catalogue = _catalogue(language)
    plurals = [m for m in catalogue if isinstance(m.id, tuple)]
    assert plurals and all(len(m.string) == catalogue.num_plurals for m in plurals)
    with i18n.speaking(language):
        said = i18n.ngettext("Pulling {what}: {n} record", "Pulling {what}: {n} records", 5)
    assert said != "Pulling {what}: {n} records" and "{n}" in said


def test_russian_counts_have_three_forms():
    with i18n.speaking("ru"):
        forms = [
            i18n.ngettext("Pulling {what}: {n} record", "Pulling {what}: {n} records", n).format(
                what="contacts", n=n
            )
            for n in (1, 3, 5, 21)
        ]
    assert forms == [
        "Загрузка (contacts): 1 запись",
        "Загрузка (contacts): 3 записи",
        "Загрузка (contacts): 5 записей",
        "Загрузка (contacts): 21 запись",
    ]


# -- the session's language ----------------------------------------------------------------
def test_english_by_default():
    assert i18n.DEFAULT == "en"
    assert _("Win rate") == "Win rate"
    assert i18n.current_language() == "en"


def test_each_page_speaks_its_own_language():
    urdu_page, bengali_page = Document(), Document()
    with set_curdoc(urdu_page):
        assert i18n.use_language("ur", "PK") == "ur"
    with set_curdoc(bengali_page):
        assert i18n.use_language("bn-BD", "BD") == "bn"
    with set_curdoc(urdu_page):
        assert _("Win rate") == "کامیابی کی شرح"
        assert i18n.direction() == "rtl"
        assert str(i18n.current_locale()) == "ur_PK"
    with set_curdoc(bengali_page):
        assert _("Win rate") == "জয়ের হার"
        assert i18n.direction() == "ltr"
        assert i18n.format_number(Decimal("1234567.5"), 2) == "12,34,567.50"
    assert _("Win rate") == "Win rate"  # no page: the default


def test_unknown_languages_fall_back_to_english():
    page = Document()
    with set_curdoc(page):
        assert i18n.use_language("xx") == "en"
        assert _("Win rate") == "Win rate"


def test_a_thread_carries_its_pages_language():
    import threading

    said: list[str] = []
    with i18n.speaking("ta"):
        work = i18n.carry(lambda: said.append(_("Log in")))
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert said == ["உள்நுழை"]


def test_components_speak_the_session_language():
    figures = {"pipeline_value": {"PKR": Decimal("1500000")}, "win_rate": 0.5, "won": 1, "lost": 1}
    with i18n.speaking("bn", "BD"):
        cards = figure_cards(figures)
    assert cards[0] == ("pipeline_value", "পাইপলাইনের মূল্য", "PKR 15,00,000.00")
    assert cards[2] == ("win_rate", "জয়ের হার", "50% (1টি জয়, 1টি হার)")
    with i18n.speaking("ru"):
        assert figure_cards(figures)[0][2] == "PKR 1\xa0500\xa0000,00"
    assert figure_cards(figures)[0] == ("pipeline_value", "Pipeline value", "PKR 1,500,000.00")


def test_the_contacts_record_pages_and_search_speak_the_session_language(ws):
    from widgets.contact_book import ContactBookModel
    from widgets.global_search import results_html
    from widgets.record_model import RecordModel

    for name in ("Imran Khan", "Karim Rahman", "Olga Ivanova"):
        ws.contacts.create(name=name)
    book = ContactBookModel(ws)
    assert book.summary() == "page 1 of 1 · 3 contacts"
    with i18n.speaking("ru"):
        assert book.summary() == "страница 1 из 1 · 3 контакта"
        book.entity = "company"
        assert book.summary() == "страница 1 из 1 · 0 компаний"
        assert book.archive() is False and book.message == "Сначала выберите запись."
    with i18n.speaking("ur"):
        record = RecordModel(ws)
        assert record.save({"name": "x"}) is None and record.message == "کچھ بھی کھلا نہیں ہے۔"
    with i18n.speaking("bn"):
        nothing = results_html({}, "xyz")
        assert "“xyz”-এর জন্য কিছু পাওয়া যায়নি।" in nothing
        found = results_html({"deals": [{"id": 4, "title": "Uniforms"}]}, "uni")
        assert "<h5>ডিল</h5>" in found and 'href="#/deals/4"' in found
    assert "Nothing found for “xyz”." in results_html({}, "xyz")


# -- direction -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "expected"),
    [("ur", "rtl"), ("sd", "rtl"), ("bn", "ltr"), ("ta", "ltr"), ("ru", "ltr"), ("en", "ltr")],
)
def test_direction(language, expected):
    assert i18n.direction(language) == expected
    assert design.page_attributes(language) == f'dir="{expected}"'
    assert bool(design.page_css(language)) == (expected == "rtl")


# -- figures -------------------------------------------------------------------------------
def test_money_and_numbers_in_the_users_locale():
    amount = Decimal("1234567")
    assert i18n.format_money(amount, "INR", i18n.locale_for("en", "IN")) == "₹12,34,567.00"
    assert i18n.format_money(amount, "BDT", i18n.locale_for("bn", "BD")) == "12,34,567.00৳"
    assert i18n.format_money(amount, "INR", i18n.locale_for("bn")) == "12,34,567.00₹"
    assert i18n.format_number(amount, 2, i18n.locale_for("ta", "IN")) == "12,34,567.00"
    # Pakistan's CLDR data groups by thousands; so does Russian, with its own signs.
    assert i18n.format_number(amount, 2, i18n.locale_for("ur", "PK")) == "1,234,567.00"
    assert i18n.format_number(amount, 2, i18n.locale_for("ru")) == "1\xa0234\xa0567,00"
    assert i18n.format_number(amount, 2, i18n.locale_for("en")) == "1,234,567.00"
    assert i18n.format_percent(0.25, i18n.locale_for("ru")) == "25\xa0%"


def test_amounts_keep_their_currencys_decimals_and_the_workspaces_grouping(ws):
    big = Decimal("271496937.5")
    with i18n.speaking("en", "PK"):  # the locale's own: Pakistan's CLDR data, thousands
        assert i18n.format_amount(big, "PKR") == "PKR 271,496,937.50"
        assert i18n.format_amount(Decimal("1234567"), "JPY") == "JPY 1,234,567"  # no sen
        assert i18n.format_amount(Decimal("1234.567"), "KWD") == "KWD 1,234.567"  # fils
    with i18n.speaking("bn", "BD"):
        assert i18n.format_amount(big, "EUR") == "EUR 27,14,96,937.50"
    with i18n.speaking("ru", grouping="indian"):
        assert i18n.format_amount(big, "RUB") == "RUB 27\xa014\xa096\xa0937,50"
    # A workspace that asks for lakh and crore where they are the custom ("auto").
    ws.set_setting("phone_region", "PK")
    ws.set_setting("amount_grouping", "auto")
    page = Document()
    with set_curdoc(page):
        i18n.start_session(ws)
        assert i18n.format_amount(big, "PKR") == "PKR 27,14,96,937.50"
        assert i18n.format_amount(big, "INR") == "INR 27,14,96,937.50"
        assert i18n.format_amount(big, "EUR") == "EUR 271,496,937.50"
        ws.set_setting("amount_grouping", "western")
        i18n.start_session(ws)
        assert i18n.format_amount(big, "PKR") == "PKR 271,496,937.50"


def test_dates_in_the_users_language():
    day = dt.date(2026, 12, 4)
    assert i18n.format_date(day, locale=i18n.locale_for("en")) == "Dec 4, 2026"
    assert "دسمبر" in i18n.format_date(day, locale=i18n.locale_for("ur", "PK"))
    assert "ডিসে" in i18n.format_date(day, locale=i18n.locale_for("bn", "BD"))
    assert i18n.locale_for("ru", "PK") == i18n.locale_for("ru")  # no such pair: the language's


# -- whose language ------------------------------------------------------------------------
def test_choosing_a_language():
    assert i18n.from_accept_language("ur-PK,ur;q=0.9,en;q=0.8") == "ur"
    assert i18n.from_accept_language("fr, ru;q=0.5") == "ru"
    assert i18n.from_accept_language("de, fr") is None
    assert i18n.from_accept_language("bn-BD") == "bn"
    assert i18n.from_accept_language("en;q=0.5, ta") == "ta"
    # The user's own setting first, then ?lang=, the cookie, the header.
    assert i18n.choose("bn", "ta", "ur", user_setting="ru") == "ru"
    assert i18n.choose("bn", "ta", "ur") == "bn"
    assert i18n.choose(None, "ta", "ur") == "ta"
    assert i18n.choose(None, "zz", "ur") == "ur"
    assert i18n.choose() == "en"


def test_set_language_and_the_session_that_follows(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales", password="bilal-pass-1")
    bilal = ws.as_user("bilal")
    assert i18n.language_of(bilal) is None
    assert ws.users.set_language("bilal", "ur-PK") == "ur"
    assert ws.users.get("bilal")["language"] == "ur"
    assert i18n.language_of(bilal) == "ur"
    assert i18n.session_language(bilal, cookies={"crmbook_lang": "bn"}, headers={}) == "ur"
    page = Document()
    with set_curdoc(page):
        ws.set_setting("phone_region", "PK")
        assert i18n.start_session(bilal) == "ur"
        assert _("Log in") == "لاگ ان کریں"
        assert str(i18n.current_locale()) == "ur_PK"
    # A user may choose their own language; back to the default with None.
    assert bilal.users.set_language("bilal", None) is None
    assert i18n.session_language(bilal, cookies={"crmbook_lang": "bn"}, headers={}) == "bn"
    assert i18n.session_language(bilal, {}, {"Accept-Language": "ta,en;q=0.1"}) == "ta"


def test_a_bad_language_is_refused_naming_the_code_and_the_choices(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    with pytest.raises(ValidationError) as refused:
        ws.users.set_language("bilal", "klingon")
    text = str(refused.value)
    assert "'klingon'" in text and "language" in text
    assert "ur (اردو)" in text and "bn (বাংলা)" in text
    with pytest.raises(crm_core.AccessDenied):
        ws.as_user("olga").users.set_language("bilal", "ru")  # only one's own, or an admin


def test_the_command_line_sets_a_users_language(backend):
    with crm_core.open(backend) as ws:
        ws.users.add("Bilal Ahmed", "bilal", role="sales")
    runner = CliRunner()
    done = runner.invoke(cli, ["user", "language", "bilal", "bn", "-w", backend])
    assert done.exit_code == 0, done.output
    assert "user 'bilal' now sees the app in bn" in done.output
    with crm_core.open(backend) as ws:
        assert ws.users.get("bilal")["language"] == "bn"
    refused = runner.invoke(cli, ["user", "language", "bilal", "xx", "-w", backend])
    assert refused.exit_code == 1
    assert "'xx'" in refused.output and "choose one of en (English)" in refused.output
    back = runner.invoke(cli, ["user", "language", "bilal", "default", "-w", backend])
    assert back.exit_code == 0 and "the default language" in back.output
    with crm_core.open(backend) as ws:
        assert ws.users.get("bilal")["language"] is None


# -- the login page over HTTP --------------------------------------------------------------
@pytest.fixture
def login_server(tmp_path):
    from tests.widgets.app_server import served

    path = tmp_path / "login.sqlite"
    crm_core.open(path).close()
    with served(str(path)) as url:
        yield url


def test_the_login_page_speaks_the_browsers_language(login_server):
    url = login_server
    urdu = httpx.get(url + "/login", headers={"Accept-Language": "ur-PK,ur;q=0.9"})
    assert '<html lang="ur" dir="rtl">' in urdu.text
    assert "اسٹاف ایپ میں لاگ ان کریں" in urdu.text
    assert urdu.headers["Content-Language"] == "ur"
    english = httpx.get(url + "/login")
    assert (
        '<html lang="en" dir="ltr">' in english.text and "Log in to the staff app" in english.text
    )
    # ?lang= wins and is remembered in a cookie; an error is said in that language.
    chosen = httpx.get(url + "/login?lang=bn&error=invalid", headers={"Accept-Language": "ru"})
    assert "ব্যবহারকারীর নাম বা পাসওয়ার্ড ভুল!" in chosen.text
    assert chosen.cookies.get("crmbook_lang") == "bn"
    remembered = httpx.get(url + "/login?error=wait&wait=7", cookies={"crmbook_lang": "ru"})
    assert "Слишком много попыток, повторите через 7 с." in remembered.text
    # Every language is offered, each link in its own script and direction.
    assert 'lang="sd" dir="rtl"' in english.text and ">தமிழ்</a>" in english.text


def test_the_fonts_and_the_logo_come_from_the_app(login_server):
    url = login_server
    page = httpx.get(url + "/login").text
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page).group(1)
    assert stylesheet == "/" + design.FONT_CSS_PATH
    css = httpx.get(url + stylesheet)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    fonts = re.findall(r'url\("([^"]+\.woff2)"\)', css.text)
    assert len(fonts) == 8
    base = url + stylesheet.rsplit("/", 1)[0] + "/"
    for font in fonts:
        answer = httpx.get(base + font)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "font/woff2"
        assert answer.content[:4] == b"wOF2"
    logo = re.search(r'<img src="([^"]+)"', page).group(1)
    assert httpx.get(url + logo).headers["Content-Type"] == "image/svg+xml"
    # Only the listed files: nothing else of the package is served.
    assert httpx.get(base + "make_fonts.py").status_code == 403
    assert httpx.get(base + "..%2F..%2Fauth.py").status_code in (400, 403, 404)
