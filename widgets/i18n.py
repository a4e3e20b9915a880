"""The staff app in its users' languages: gettext catalogues and locale formats.

Every label, message and error of the widgets goes through :func:`_` (and
:func:`ngettext` for counts); texts kept in module constants are marked with
:func:`N_` and translated where they are shown. The catalogues are data:
``widgets/locale/<code>/LC_MESSAGES/crmbook.po``, compiled in memory by Babel the first
time a language is used (no ``.mo`` file to keep in step). The languages offered are
crm_core's list (``crm_core/languages.toml``).

Which language: the staff app's session calls :func:`start_session` (or
:func:`use_language`) once; it binds the language to the session's Bokeh document, so
two browsers in one server process each get their own. Outside a served page (a
notebook, a test, a worker thread) :data:`DEFAULT` applies, English unless changed, and
``with speaking("ur"):`` sets one for a block (and for threads started with
:func:`carry`).

Dates, numbers and money follow the language with the workspace's region
(``bn`` + ``BD``, ``en`` + ``IN``: Babel's CLDR data decides the grouping, so
``12,34,567.00`` where lakh and crore are the custom).

Updating the catalogues after marking new texts (one line, from the checkout)::

    pybabel extract -F babel.cfg -k N_ -c Translators: --project crmbook \\
        -o widgets/locale/crmbook.pot . && \\
    pybabel update -i widgets/locale/crmbook.pot -d widgets/locale -D crmbook
"""

from __future__ import annotations

import contextvars
import datetime as dt
import gettext
import io
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from babel import Locale, UnknownLocaleError, negotiate_locale
from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.numbers import format_percent as _babel_percent

from crm_core.languages import DEFAULT as ENGLISH
from crm_core.languages import ui_languages
from crm_core.money import format_figure

#: Where the catalogues live: ``<code>/LC_MESSAGES/crmbook.po``.
LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "crmbook"
#: Code -> the language's own name (``{"en": "English", "ur": "اردو", ...}``).
LANGUAGES: dict[str, str] = ui_languages()
#: The language outside a session that chose one (notebooks, tests, the CLI).
DEFAULT = ENGLISH
#: The cookie (and query parameter ``lang``) a browser's choice on the login page is kept in.
LANGUAGE_COOKIE = "crmbook_lang"

T = TypeVar("T")


class _Session:
    """A session's language, the locale its figures are written in and how its amounts
    group their digits (the workspace's ``amount_grouping``: the locale's own, western,
    indian or auto)."""

    def __init__(self, language: str, region: str | None = None, grouping: str = "locale"):
        self.language = language
        self.locale = locale_for(language, region)
        self.grouping = grouping


# The language of each served page (its Bokeh document), and one set for a block.
_by_document: weakref.WeakKeyDictionary[Any, _Session] = weakref.WeakKeyDictionary()
_block: contextvars.ContextVar[_Session | None] = contextvars.ContextVar(
    "crmbook_language", default=None
)


# -- catalogues --------------------------------------------------------------------------------
def catalogue_path(language: str) -> Path:
    """The .po file of ``language`` (it may not exist: English has none)."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``language`` (English, or a language without a
    catalogue: the texts as written). Fuzzy entries are left out, as msgfmt does."""
    path = catalogue_path(language)
    if language == ENGLISH or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


# -- the current language ----------------------------------------------------------------------
def _document() -> Any:
    try:
        import panel as pn
    except ImportError:  # crm_core's CLI may import this without the UI extras
        return None
    return pn.state.curdoc


def _current() -> _Session | None:
    block = _block.get()
    if block is not None:
        return block
    doc = _document()
    return _by_document.get(doc) if doc is not None else None


def current_language() -> str:
    """The language of the current session (or block, or :data:`DEFAULT`)."""
    found = _current()
    return found.language if found is not None else DEFAULT


def current_locale() -> Locale:
    """The Babel locale figures are written in for the current session."""
    found = _current()
    return found.locale if found is not None else locale_for(DEFAULT)


def known(language: Any) -> str | None:
    """``language`` as a code of :data:`LANGUAGES` (``ur-PK`` -> ``ur``), or None."""
    if not isinstance(language, str) or not language.strip():
        return None
    code = language.strip().replace("-", "_").lower()
    if code in LANGUAGES:
        return code
    code = code.partition("_")[0]
    return code if code in LANGUAGES else None


def use_language(
    language: str | None,
    region: str | None = None,
    document: Any = None,
    grouping: str = "locale",
) -> str:
    """Speak ``language`` (a code of :data:`LANGUAGES`; anything else: :data:`DEFAULT`)
    in the current session: the Bokeh ``document`` (default ``pn.state.curdoc``),
    with figures in the locale of ``language`` and ``region`` (the workspace's
    country, ``PK``) and amounts grouped as ``grouping`` says (see
    :func:`format_amount`). Returns the code used. Without a document (a notebook or a
    test), it changes nothing and returns the code: use :func:`speaking` there."""
    code = known(language) or DEFAULT
    doc = document if document is not None else _document()
    if doc is not None:
        _by_document[doc] = _Session(code, region, grouping)
    return code


@contextmanager
def speaking(
    language: str | None, region: str | None = None, grouping: str = "locale"
) -> Iterator[str]:
    """``with speaking("bn"):`` translate and format in ``language`` inside the block
    (this thread or task only)."""
    code = known(language) or DEFAULT
    token = _block.set(_Session(code, region, grouping))
    try:
        yield code
    finally:
        _block.reset(token)


def carry(function: Callable[..., T]) -> Callable[..., T]:
    """``function`` running in the language of the session calling :func:`carry`:
    for work handed to a thread, which has no Bokeh document of its own."""
    found = _current()

    def in_language(*args: Any, **kwargs: Any) -> T:
        if found is None:
            return function(*args, **kwargs)
        token = _block.set(found)
        try:
            return function(*args, **kwargs)
        finally:
            _block.reset(token)

    return in_language


def _(message: str) -> str:
    """``message`` in the current session's language."""
    return translations(current_language()).gettext(message)


def gettext_(message: str) -> str:
    """The same as :func:`_` (for code that shadows ``_``)."""
    return _(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or the (language's own) plural form for ``n``."""
    return translations(current_language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in the current session's language, as meant in ``context`` (the same
    English word with two meanings: "Open" as a deal's status, "Open" as an amount
    still owed)."""
    return translations(current_language()).pgettext(context, message)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it now (module constants:
    translate with :func:`_` where it is shown)."""
    return message


def translator(language: str) -> tuple[Callable[[str], str], Callable[[str, str, int], str]]:
    """``(gettext, ngettext)`` of ``language`` whatever the session (the login page)."""
    found = translations(known(language) or DEFAULT)
    return found.gettext, found.ngettext


# -- which language for whom ---------------------------------------------------------------
def direction(language: str | None = None) -> str:
    """``"rtl"`` for a language written right to left (Urdu, Sindhi), else ``"ltr"``;
    the current session's language by default."""
    code = known(language) if language is not None else current_language()
    try:
        order = Locale.parse(code or DEFAULT).character_order
    except (UnknownLocaleError, ValueError):
        return "ltr"
    return "rtl" if order == "right-to-left" else "ltr"


def from_accept_language(header: str | None) -> str | None:
    """The best of :data:`LANGUAGES` for an ``Accept-Language`` header, or None."""
    if not header:
        return None
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            wanted.append((-quality, index, tag.replace("-", "_")))
    preferred = [tag for _q, _i, tag in sorted(wanted)]
    found = negotiate_locale(preferred, list(LANGUAGES), sep="_")
    if found is None:  # "ur_PK" against "ur": match on the language alone
        found = next((known(tag) for tag in preferred if known(tag)), None)
    return found


def choose(
    asked: str | None = None,
    cookie: str | None = None,
    accept_language: str | None = None,
    user_setting: str | None = None,
) -> str:
    """The language to speak: the user's own setting, else what the browser asked for
    (``?lang=``, then the :data:`LANGUAGE_COOKIE` cookie, then ``Accept-Language``),
    else :data:`DEFAULT`."""
    for candidate in (user_setting, asked, cookie):
        if known(candidate):
            return str(known(candidate))
    return from_accept_language(accept_language) or DEFAULT


def language_of(ws: Any) -> str | None:
    """The acting user's own language setting (``users.language``), or None (none set,
    or the workspace's owner acting without a user)."""
    if getattr(ws, "login", None) is None:
        return None
    try:
        return known(ws.users.get(ws.login).get("language"))
    except Exception:  # a user removed meanwhile: the session still speaks
        return None


def session_language(
    ws: Any, cookies: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
) -> str:
    """The language of a page opened by ``ws``'s user: their setting, else the page's
    ``crmbook_lang`` cookie, else its ``Accept-Language`` (default: the current page's,
    ``pn.state.cookies`` and ``pn.state.headers``), else :data:`DEFAULT`."""
    if cookies is None or headers is None:
        import panel as pn

        cookies = pn.state.cookies if cookies is None else cookies
        headers = pn.state.headers if headers is None else headers
    header = next((v for k, v in (headers or {}).items() if k.lower() == "accept-language"), None)
    return choose(
        cookie=(cookies or {}).get(LANGUAGE_COOKIE),
        accept_language=header,
        user_setting=language_of(ws),
    )


def start_session(ws: Any) -> str:
    """Bind the language of the page being built (see :func:`session_language`) with
    the workspace's region to the current Bokeh document; returns the code."""
    region, grouping = None, "locale"
    try:
        region = ws.phone_region
        grouping = ws.setting("amount_grouping")
    except Exception:  # a workspace without settings yet: the language's own
        region, grouping = None, "locale"
    return use_language(session_language(ws), region, grouping=grouping)


# -- figures -------------------------------------------------------------------------------------
@cache
def locale_for(language: str, region: str | None = None) -> Locale:
    """The Babel locale for ``language`` in ``region`` (``en`` + ``IN`` -> ``en_IN``),
    or the language's own when CLDR has no such pair (``ru`` + ``PK`` -> ``ru``)."""
    code = known(language) or DEFAULT
    if region:
        try:
            return Locale.parse(f"{code}_{region.upper()}")
        except (UnknownLocaleError, ValueError):
            pass
    return Locale.parse(code)


def js_locale(locale: Locale | str | None = None) -> str:
    """The session's locale as a browser's ``Intl`` takes it, Latin digits as Babel
    writes them: ``bn-BD-u-nu-latn``, ``en-IN-u-nu-latn``."""
    return str(_locale(locale)).replace("_", "-") + "-u-nu-latn"


def _locale(locale: Locale | str | None) -> Locale:
    if locale is None:
        return current_locale()
    return locale if isinstance(locale, Locale) else Locale.parse(locale)


def format_number(value: Any, digits: int | None = None, locale: Locale | str | None = None) -> str:
    """``value`` with the locale's grouping and decimal sign (``12,34,567.5`` in en_IN,
    ``1 234 567,5`` in ru); ``digits``: exactly that many decimals."""
    loc = _locale(locale)
    if digits is None:
        return format_decimal(value, locale=loc)
    # The locale's own pattern (its grouping) with exactly ``digits`` decimals.
    integer = loc.decimal_formats[None].pattern.split(";")[0].split(".")[0]
    return format_decimal(
        value, format=integer + ("." + "0" * digits if digits else ""), locale=loc
    )


def format_amount(value: Any, currency: str, locale: Locale | str | None = None) -> str:
    """``PKR 1,500,000.00``: an amount after its currency code, with the currency's own
    decimals (JPY 0, KWD 3: crm_core.money.minor_units) and the locale's decimal sign,
    its digits grouped as the workspace asks (``amount_grouping``): as the locale does
    (``locale``, the default: ``PKR 15,00,000.00`` in Bengali), in thousands
    (``western``), in lakh and crore (``indian``: ``PKR 15,00,000.00``), or in lakh and
    crore for the currencies written so, INR, PKR, BDT and NPR (``auto``). See
    :func:`format_amount_number` for the figure alone."""
    return f"{currency} {format_amount_number(value, currency, locale)}"


def format_amount_number(value: Any, currency: str, locale: Locale | str | None = None) -> str:
    """The figure of :func:`format_amount` without the currency code, for a table that
    shows the currency in a column of its own: ``3,070.125`` (KWD), ``1,500,001``
    (JPY), ``15,00,000.00`` (PKR, lakh/crore grouping). Rounded half up to the
    currency's minor units (crm_core.money.quantize)."""
    found = _current()
    grouping = found.grouping if found is not None else "locale"
    return format_figure(value, str(currency), locale=_locale(locale), grouping=grouping)


def format_money(
    amount: Decimal | float | int, currency: str, locale: Locale | str | None = None
) -> str:
    """``amount`` in ``currency`` as the locale writes money (``₹12,34,567.00`` in
    en_IN, ``12,34,567.00৳`` in bn)."""
    return format_currency(amount, currency, locale=_locale(locale))


def format_percent(value: float, locale: Locale | str | None = None) -> str:
    """A fraction as a percentage in the locale (``0.25`` -> ``25%``)."""
    return _babel_percent(value, locale=_locale(locale))


def format_date(value: dt.date, format: str = "medium", locale: Locale | str | None = None) -> str:
    """A date as the locale writes it (``4 Dec 2026``, ``4 ডিসে, 2026``)."""
    if isinstance(value, dt.datetime):
        return _babel_datetime(value, format=format, locale=_locale(locale))
    return _babel_date(value, format=format, locale=_locale(locale))


def table_pager() -> dict[str, Any]:
    """A Tabulator ``configuration`` whose pager speaks the current session's language:
    ``pn.widgets.Tabulator(..., pagination="local", configuration=table_pager())``."""
    language = current_language()
    words = {
        "page_size": _("Rows per page"),
        "page_title": _("Show page"),
        "first": _("First"),
        "first_title": _("First page"),
        "last": _("Last"),
        "last_title": _("Last page"),
        "prev": _("Previous"),
        "prev_title": _("Previous page"),
        "next": _("Next"),
        "next_title": _("Next page"),
        "all": _("All"),
        "counter": {"showing": _("Showing"), "of": _("of"), "rows": _("rows"), "pages": _("pages")},
    }
    return {"locale": language, "langs": {language: {"pagination": words}}}
