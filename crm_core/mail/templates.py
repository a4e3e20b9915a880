"""E-mail templates: found like workbook layouts, rendered per recipient and language.

A template is a folder ``<name>/`` holding one TOML file per language,
``<language>.toml`` (``en.toml``, ``ur.toml``, ...), each with three keys::

    subject = "Following up, {{ contact.first_name }}"
    text = '''Plain-text part (Jinja2, not escaped)'''
    html = '''<p>HTML part, a body fragment (Jinja2, autoescaped)</p>'''

Templates are looked up, from lowest to highest priority, in the built-in folder
(``templates/email`` of the package), in ``email/`` inside each folder of
``$CRMBOOK_TEMPLATES`` (separated by ``os.pathsep``; an earlier folder wins) and in
``templates/email`` beside a SQLite workspace file: a language file found later
overrides one with the same template name and language.

Rendering runs in Jinja2's sandbox (users add their own templates), with
``StrictUndefined`` (a misspelt field is an error naming the template, not a blank).
The HTML fragment is wrapped in ``templates/email/base.html``, which sets ``lang`` and
``dir`` (``rtl`` for Urdu, Sindhi and the other right-to-left scripts). The language
of a recipient is their contact's, else the workspace's mail language, else English;
``ur_PK`` falls back to ``ur``.

Limits: a user's template cannot exhaust memory or time. ``*``, ``**``, ``+`` and ``%``
refuse to make a text or list over :data:`MAX_MADE` characters or items (a number over
:data:`MAX_BITS` bits); padding (``center``, ``indent``, ``wordwrap``, ``format``
widths, ``str.ljust``, ...) is held to the same bound; no value over :data:`MAX_TEXT`
characters is turned into text, nor is a part's output; ``range`` gives at most
:data:`MAX_RANGE` numbers, and a part's loops and calls take at most :data:`MAX_STEPS`
steps and :data:`MAX_SECONDS` seconds. Each is refused as a template whose own
expression fails: a ValidationError naming the template, the part and the limit.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from crm_core.errors import FieldError, NotFoundError, ValidationError
from crm_core.mail.sandbox import BoundedSandbox, TemplateLimitError, render_bounded
from crm_core.template_folders import ENV_VAR as TEMPLATES_VAR
from crm_core.template_folders import built_in, search_folders

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: Environment variable: extra template folders (their ``email/`` sub-folders are read).
ENV_VAR = TEMPLATES_VAR
#: The shipped e-mail templates.
BUILT_IN = built_in("email")
#: The document every HTML part is wrapped in.
BASE_HTML = BUILT_IN / "base.html"
#: Languages written right to left: their HTML gets ``dir="rtl"``.
RTL_LANGUAGES = frozenset({"ur", "sd", "ar", "fa", "he", "ps", "ug", "yi", "dv", "ks"})
#: The language used when neither the contact nor the workspace names one we have.
FALLBACK_LANGUAGE = "en"
_KEYS = ("subject", "text", "html")


@dataclass(frozen=True)
class Rendered:
    """One message rendered for one recipient."""

    template: str
    language: str
    subject: str
    text: str
    html: str


def template_dirs(ws: Workspace | None = None) -> list[Path]:
    """The folders searched for e-mail templates, from lowest to highest priority
    (``email`` of each ``$CRMBOOK_TEMPLATES`` folder)."""
    return search_folders("email", ws, env_sub="email")


def available(ws: Workspace | None = None) -> dict[str, dict[str, Path]]:
    """Template name -> {language: the file that defines it (highest priority)}."""
    found: dict[str, dict[str, Path]] = {}
    for folder in template_dirs(ws):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*/*.toml")):
            found.setdefault(path.parent.name, {})[path.stem] = path
    return dict(sorted(found.items()))


def pick_language(languages: set[str], *wanted: str | None) -> str:
    """The first of ``wanted`` (then its base language, ``ur_PK`` -> ``ur``) that the
    template has, else English, else the template's first language."""
    for lang in wanted:
        if not lang:
            continue
        for candidate in (lang, lang.replace("-", "_").split("_")[0].lower()):
            if candidate in languages:
                return candidate
    if FALLBACK_LANGUAGE in languages:
        return FALLBACK_LANGUAGE
    return sorted(languages)[0]


def _load(name: str, path: Path) -> dict[str, str]:
    record = f"e-mail template {name!r} ({path})"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError([FieldError(record, "file", str(path), str(exc))]) from None
    errors = [
        FieldError(record, key, raw.get(key), "must be a text")
        for key in _KEYS
        if not isinstance(raw.get(key), str)
    ]
    errors += [
        FieldError(record, key, raw[key], "is not a template key")
        for key in raw
        if key not in _KEYS
    ]
    if errors:
        raise ValidationError(errors)
    return {key: raw[key] for key in _KEYS}


_TEXT = BoundedSandbox(autoescape=False, undefined=jinja2.StrictUndefined)
_HTML = BoundedSandbox(autoescape=True, undefined=jinja2.StrictUndefined)


def render(
    name: str,
    context: dict[str, Any],
    *languages: str | None,
    ws: Workspace | None = None,
) -> Rendered:
    """Render template ``name`` with ``context`` in the first of ``languages`` it has
    (see :func:`pick_language`). Raises NotFoundError for an unknown template and
    ValidationError naming the template, language and part for a broken one."""
    files = available(ws).get(name)
    if not files:
        raise NotFoundError("e-mail template", name)
    lang = pick_language(set(files), *languages)
    parts = _load(name, files[lang])
    rtl = lang.split("_")[0] in RTL_LANGUAGES
    values = {**context, "language": lang, "dir": "rtl" if rtl else "ltr"}
    out: dict[str, str] = {}
    for key in _KEYS:
        env = _HTML if key == "html" else _TEXT
        try:
            out[key] = render_bounded(env.from_string(parts[key]), values)
        except jinja2.TemplateError as exc:
            record = f"e-mail template {name!r} ({files[lang]})"
            raise ValidationError([FieldError(record, key, None, str(exc))]) from None
        except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
            # What a template's own expression raises ({{ 1/0 }}, the limits above):
            # the template is broken, said as for a syntax error.
            record = f"e-mail template {name!r} ({files[lang]})"
            kind = "OverflowError" if isinstance(exc, TemplateLimitError) else type(exc).__name__
            why = f"cannot be rendered: {kind}: {exc}"
            raise ValidationError([FieldError(record, key, None, why)]) from None
    base = _HTML.from_string(BASE_HTML.read_text(encoding="utf-8"))
    html = base.render(
        language=lang.replace("_", "-"),
        dir=values["dir"],
        subject=out["subject"].strip(),
        body=Markup(out["html"]),
    )
    return Rendered(name, lang, " ".join(out["subject"].split()), out["text"], html)


__all__ = ["Rendered", "available", "pick_language", "render", "template_dirs"]
