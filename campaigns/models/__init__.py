"""The campaigns app's models, one module per concern; import them from here."""

# The re-exports below keep old names working: migrations name the field and validators by their
# old home, and email_normalize (the one address rule lives in core) is imported from here.
from campaigns.fields import HttpsURLField
from campaigns.models.audience import (
    ConsentChange,
    Contact,
    ContactBreak,
    ContactConsent,
    ContactList,
    ListDeparture,
    ListMembership,
    Suppression,
    SuppressionRemoval,
)
from campaigns.models.campaign import Campaign, CampaignAudit, CampaignStep
from campaigns.models.content import Template
from campaigns.models.erasure import ErasedAddress
from campaigns.models.imports import ContactImport
from campaigns.models.segments import Segment
from campaigns.models.signups import Signup, SignupForm
from campaigns.validators import validate_crontab, validate_timezone, validate_weekdays
from core.addresses import email_normalize

__all__ = [
    "Campaign",
    "CampaignAudit",
    "CampaignStep",
    "ConsentChange",
    "Contact",
    "ContactBreak",
    "ContactConsent",
    "ContactImport",
    "ContactList",
    "ErasedAddress",
    "HttpsURLField",
    "ListDeparture",
    "ListMembership",
    "Segment",
    "Signup",
    "SignupForm",
    "Suppression",
    "SuppressionRemoval",
    "Template",
    "email_normalize",
    "validate_crontab",
    "validate_timezone",
    "validate_weekdays",
]
