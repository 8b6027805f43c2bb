"""Tierflow's side effects: notifications, customer updates and host-system sync.

The workflow decides who is told what; these activities only deliver. Register them with
`Worker(activities=TierflowActivities().all())`.
"""

from tierflow.activities.errors import (
    PERMANENT_DELIVERY_ERROR,
    TEMPLATE_ERROR,
    TRANSIENT_DELIVERY_ERROR,
)
from tierflow.activities.settings import Settings
from tierflow.activities.signing import verify_signature
from tierflow.activities.templates import TemplateError
from tierflow.activities.tierflow_activities import TierflowActivities
from tierflow.contracts import (
    CustomerUpdate,
    DeliveryResult,
    Notification,
    NotifyChannel,
    TicketSync,
)

__all__ = [
    "PERMANENT_DELIVERY_ERROR",
    "TEMPLATE_ERROR",
    "TRANSIENT_DELIVERY_ERROR",
    "CustomerUpdate",
    "DeliveryResult",
    "Notification",
    "NotifyChannel",
    "Settings",
    "TemplateError",
    "TicketSync",
    "TierflowActivities",
    "verify_signature",
]
