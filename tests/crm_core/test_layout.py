"""The layout is the architecture: crm_core knows no UI and no ERP."""

import ast
import subprocess
import sys
from pathlib import Path

import crm_core

FORBIDDEN = ("panel", "ipywidgets", "erp_bridge", "widgets", "bokeh")
ROOT = Path(crm_core.__file__).parent


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_module_of_crm_core_imports_ui_or_erp_code():
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & set(FORBIDDEN))
        for path in ROOT.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_crm_core_loads_no_ui_or_erp_package():
    code = (
        "import sys, crm_core, crm_core.cli, crm_core.services, crm_core.demo;"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_check_itself_catches_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import panel as pn\nfrom erp_bridge.odoo import x\n")
    assert _imported_roots(bad) & set(FORBIDDEN) == {"panel", "erp_bridge"}
