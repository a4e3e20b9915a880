"""The layout is the architecture: erp_bridge's generic modules name no ERP.

Odoo's model names, fields and domains live in ``erp_bridge/odoo/``; the generic modules
(``erp_bridge/*.py``) reach them through the adapter's catalogue. The check reads every
string literal (docstrings and f-strings included) and every comment of each generic
module: that is where a model name would be written; code such as ``product.id`` is not
a model name and is not read.
"""

import ast
import io
import re
import tokenize
from pathlib import Path

import erp_bridge
from erp_bridge.catalogue import COPIES, REFERENCE, SYNCED
from erp_bridge.odoo.adapter import OdooAdapter
from erp_bridge.odoo.catalogue import ODOO
from tests.erp_bridge.fake_odoo import FakeOdoo

ROOT = Path(erp_bridge.__file__).parent
#: An Odoo model name (res.partner, crm.lead, account.move, sale.order, product.product,
#: ir.model, mail.activity...) or one of the Odoo-only fields the sync reads.
ODOO_NAME = re.compile(
    r"\b(?:res|crm|account|sale|product|ir)\.[a-z]|\bmail\.activity"
    r"|\b(?:invoice_payments_widget|move_type|payment_state)\b"
)
#: The one generic module allowed to import erp_bridge.odoo: the ``crmbook sync odoo``
#: command, which builds the Odoo adapter the user asked for.
MAY_BUILD_ODOO = {"cli.py"}
_TEXT = {tokenize.STRING, tokenize.COMMENT} | (
    {tokenize.FSTRING_MIDDLE} if hasattr(tokenize, "FSTRING_MIDDLE") else set()
)


def odoo_names(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string literal or comment of ``source`` naming Odoo."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [
        (t.start[0], t.string) for t in tokens if t.type in _TEXT and ODOO_NAME.search(t.string)
    ]


def imports_odoo(source: str) -> bool:
    """Whether ``source`` imports erp_bridge.odoo (or anything in it)."""
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        if any(n == "erp_bridge.odoo" or n.startswith("erp_bridge.odoo.") for n in names):
            return True
    return False


def _generic_modules() -> list[Path]:
    modules = sorted(ROOT.glob("*.py"))
    assert {"importer.py", "copies.py", "context.py", "run.py"} <= {p.name for p in modules}
    return modules


def test_no_generic_module_of_erp_bridge_names_an_odoo_model():
    found = {path.name: odoo_names(path.read_text(encoding="utf-8")) for path in _generic_modules()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_no_generic_module_imports_the_odoo_package():
    offenders = [
        path.name
        for path in _generic_modules()
        if path.name not in MAY_BUILD_ODOO and imports_odoo(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_checks_themselves_catch_odoo_names_and_imports():
    bad = (
        "import erp_bridge.odoo.mappings\n"
        "# read crm.stage first\n"
        'MODELS = {"invoice": "account.move"}\n'
        "def f(product, x):\n"
        '    """Reads the ir.model table."""\n'
        "    return product.id, f\"{x} in mail.activity\", x['payment_state']\n"
    )
    assert [line for line, _ in odoo_names(bad)] == [2, 3, 5, 6, 6]
    assert imports_odoo(bad)
    assert imports_odoo("from erp_bridge.odoo import mappings\n")
    assert imports_odoo("from erp_bridge import odoo\n")
    assert not imports_odoo("from erp_bridge import importer\nimport odoolib\n")
    assert odoo_names("failures.pending(s)  # the ERP's partner\n") == []


def test_the_odoo_catalogue_serves_every_entity_and_both_adapters_carry_it():
    assert [m.entity for m in ODOO.maps()] == list(SYNCED)
    assert (tuple(ODOO.references), tuple(ODOO.copies)) == (REFERENCE, COPIES)
    assert OdooAdapter.catalogue is ODOO and FakeOdoo.catalogue is ODOO
    # What the converters and the copies look up is declared as a lookup table.
    assert {"res.country", "crm.stage", "res.currency", "ir.model"} <= set(ODOO.lookups)
    assert set(ODOO.copy_lookups) <= set(ODOO.lookups)
