"""Duplicate detection: companies and contacts that are probably one record.

One module per job: :mod:`~crm_core.duplicates.blocking` (the keys that bring
candidates together), :mod:`~crm_core.duplicates.scoring` (how alike a pair is, and
why), :mod:`~crm_core.duplicates.service` (``ws.duplicates``, reading through the
workspace), :mod:`~crm_core.duplicates.compare` (two records side by side, and the value
a merge keeps by default), :mod:`~crm_core.duplicates.relink` (what points at a record,
found in the metadata, and how it moves) and :mod:`~crm_core.duplicates.merge` (merge and
undo, journaled under one merge id). Word lists live in ``rules.toml``.
"""

from crm_core.duplicates.scoring import DEFAULT_MIN_SCORE
from crm_core.duplicates.service import COLUMNS, ENTITIES, Duplicates

__all__ = ["COLUMNS", "DEFAULT_MIN_SCORE", "ENTITIES", "Duplicates"]
