"""The crm_core tables, as SQLAlchemy 2.0 typed ORM classes."""

from crm_core.models.activity import (
    ACTIVITY_KINDS,
    CHANNELS,
    DIRECTIONS,
    Activity,
    Campaign,
    CampaignMember,
    CustomFieldDefinition,
    Interaction,
    JournalEntry,
    Segment,
    Setting,
)
from crm_core.models.base import Base, UTCDateTime, Versioned
from crm_core.models.party import ROLES, Company, Contact, SearchTerm, Tag, User
from crm_core.models.pipeline import (
    OPPORTUNITY_TYPES,
    STATUSES,
    LostReason,
    Opportunity,
    Pipeline,
    Stage,
    StageChange,
)

__all__ = [
    "ACTIVITY_KINDS",
    "CHANNELS",
    "DIRECTIONS",
    "OPPORTUNITY_TYPES",
    "ROLES",
    "STATUSES",
    "Activity",
    "Base",
    "Campaign",
    "CampaignMember",
    "Company",
    "Contact",
    "CustomFieldDefinition",
    "Interaction",
    "JournalEntry",
    "LostReason",
    "Opportunity",
    "Pipeline",
    "SearchTerm",
    "Segment",
    "Setting",
    "Stage",
    "StageChange",
    "Tag",
    "UTCDateTime",
    "User",
    "Versioned",
]
