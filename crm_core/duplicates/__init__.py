"""Duplicate detection: companies and contacts that are probably one record.

One module per job: :mod:`~crm_core.duplicates.blocking` (the keys that bring
candidates together), :mod:`~crm_core.duplicates.scoring` (how alike a pair is, and
why) and :mod:`~crm_core.duplicates.service` (``ws.duplicates``, reading through the
workspace). Word lists live in ``rules.toml``.
"""

from crm_core.duplicates.scoring import DEFAULT_MIN_SCORE
from crm_core.duplicates.service import COLUMNS, ENTITIES, Duplicates

__all__ = ["COLUMNS", "DEFAULT_MIN_SCORE", "ENTITIES", "Duplicates"]
