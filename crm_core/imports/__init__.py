"""Bringing a business's records in from files: ``crmbook import`` and ``ws.importer``.

One module per job: :mod:`~crm_core.imports.reading` (CSV in any encoding and
delimiter, XLSX), :mod:`~crm_core.imports.mapping` (which column fills which field),
:mod:`~crm_core.imports.matching` (the existing record a row stands for),
:mod:`~crm_core.imports.rejects` (the refused rows, with why),
:mod:`~crm_core.imports.report` (what a run did) and :mod:`~crm_core.imports.run`
(the run itself). Rows are validated and written by :mod:`crm_core.loaders`, the batch
writer the ERP sync uses too.
"""

from crm_core.errors import ImportRefused
from crm_core.imports.report import ImportReport
from crm_core.imports.run import MODES, Importer, ImportInterrupted, ImportStopped

__all__ = [
    "MODES",
    "ImportInterrupted",
    "ImportRefused",
    "ImportReport",
    "ImportStopped",
    "Importer",
]
