"""Where a kind of template is looked up: workbook layouts (``workbooks``), e-mail
templates (``email``).

From lowest to highest priority: the built-in ones shipped in the ``templates``
package (``templates/<kind>``), the folders listed in ``$CRMBOOK_TEMPLATES``
(separated by ``os.pathsep``; an earlier folder wins over a later one) and the
``templates/<kind>`` folder beside a SQLite workspace file. A template found later
overrides an earlier one with the same name.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: Environment variable: extra folders of templates, separated by os.pathsep.
ENV_VAR = "CRMBOOK_TEMPLATES"


def built_in(kind: str) -> Path:
    """The shipped templates of ``kind``."""
    return _shipped() / kind


@cache
def _shipped() -> Path:
    """The folder of the ``templates`` package installed with crm_core, found without
    importing it: ``import templates`` run where the user keeps their own
    ``templates/`` folder (beside a workspace, as this module looks for) imports that
    folder instead. The package sits beside crm_core, installed or not."""
    beside = Path(__file__).resolve().parent.parent / "templates"
    if (beside / "__init__.py").is_file():
        return beside
    spec = importlib.util.find_spec("templates")
    if spec is None or spec.origin is None:
        raise RuntimeError("crmbook's built-in templates are not installed (package templates)")
    return Path(spec.origin).parent


def beside_workspace(ws: Workspace, kind: str) -> Path | None:
    """``templates/<kind>`` beside the workspace's SQLite file (None for a server
    database or an in-memory one)."""
    url = ws.engine.url
    if not url.drivername.startswith("sqlite") or not url.database:
        return None
    if url.database == ":memory:" or url.database.startswith("file:"):
        return None
    return Path(url.database).resolve().parent / "templates" / kind


def search_folders(kind: str, ws: Workspace | None = None, *, env_sub: str = "") -> list[Path]:
    """The folders searched for templates of ``kind``, lowest priority first; each
    ``$CRMBOOK_TEMPLATES`` folder is searched itself, or its ``env_sub`` sub-folder."""
    folders = [built_in(kind)]
    env = [p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    folders.extend(Path(p).expanduser() / env_sub for p in reversed(env))
    if ws is not None:
        beside = beside_workspace(ws, kind)
        if beside is not None:
            folders.append(beside)
    return folders
