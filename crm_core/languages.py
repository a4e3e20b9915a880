"""The languages the staff app speaks (``languages.toml`` beside this module).

crm_core knows no UI: it only needs the list to check a user's language setting
(``ws.users.set_language``). The app's catalogues (widgets/locale) follow the same list.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files

#: The language messages are written in, and spoken where no other is chosen.
DEFAULT = "en"


@cache
def ui_languages() -> dict[str, str]:
    """Code -> the language's own name, in the order of ``languages.toml``."""
    text = files("crm_core").joinpath("languages.toml").read_text(encoding="utf-8")
    return {str(code): str(name) for code, name in tomllib.loads(text).items()}


def ui_language(value: object) -> str:
    """``value`` as one of :func:`ui_languages`' codes (``UR`` and ``ur-PK`` read as
    ``ur``); :class:`ValueError` naming the value and the choices otherwise."""
    known = ui_languages()
    code = str(value).strip().replace("-", "_").lower() if isinstance(value, str) else ""
    if code not in known:
        code = code.partition("_")[0]
    if code not in known:
        raise ValueError(f"{value!r} " + NOT_A_LANGUAGE.format(choices=choices()))
    return code


def choices() -> str:
    """The codes to choose from, for messages: ``en (English), ur (اردو), ...``."""
    return ", ".join(f"{code} ({name})" for code, name in ui_languages().items())


#: Why a code is refused (the choices are named after it).
NOT_A_LANGUAGE = "is not a language of the app; choose one of " + "{choices}"
