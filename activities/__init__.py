"""Tierflow's side effects: notifications, customer updates and host-system sync.

The workflow decides who is told what; these activities only deliver. Register them with
`Worker(activities=TierflowActivities().all())`.
"""

from activities.errors import (
    PERMANENT_DELIVERY_ERROR,
    TEMPLATE_ERROR,
    TRANSIENT_DELIVERY_ERROR,
)
from activities.models import (
    CustomerUpdate,
    DeliveryResult,
    Notification,
    NotifyChannel,
    TicketSync,
)
from activities.settings import Settings
from activities.signing import verify_signature
from activities.templates import TemplateError
from activities.tierflow_activities import TierflowActivities

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
