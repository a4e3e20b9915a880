"""Workspace services: one class per area, each reached as an attribute of Workspace."""

from crm_core.services.accounts import Accounts
from crm_core.services.activities import Activities, Interactions
from crm_core.services.custom_fields import CustomFields
from crm_core.services.metrics import Metrics
from crm_core.services.parties import Companies, Contacts
from crm_core.services.pipeline import PipelineService
from crm_core.services.quality import Quality
from crm_core.services.segments import Campaigns, Segments
from crm_core.services.sessions import Sessions
from crm_core.services.users import JournalView, Users

__all__ = [
    "Accounts",
    "Activities",
    "Campaigns",
    "Companies",
    "Contacts",
    "CustomFields",
    "Interactions",
    "JournalView",
    "Metrics",
    "PipelineService",
    "Quality",
    "Segments",
    "Sessions",
    "Users",
]
