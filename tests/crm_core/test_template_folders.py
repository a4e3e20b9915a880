"""Templates kept in a ``templates/`` folder beside the workspace, as the README says,
and Python started in that folder: the user's folder is not taken for crmbook's own
``templates`` package (opening a workspace there failed with a TypeError)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import crm_core
from crm_core.template_folders import built_in
ws = crm_core.open("crm.sqlite")
print(sorted(ws.export.layouts()))
print((built_in("workbooks") / "sales_review.toml").is_file())
"""


def test_a_templates_folder_beside_the_workspace_is_not_crmbooks_package(tmp_path: Path):
    (tmp_path / "templates" / "email").mkdir(parents=True)
    (tmp_path / "templates" / "workbooks").mkdir()
    (tmp_path / "templates" / "workbooks" / "mine.toml").write_text(
        'title = "Mine"\n\n[[sheets]]\nreport = "funnel"\n', encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    layouts, shipped = done.stdout.splitlines()
    assert layouts == "['customers', 'forecast', 'mine', 'sales_review']"
    assert shipped == "True"
