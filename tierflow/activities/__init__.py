"""Tierflow's side effects: notifications, customer updates and host-system sync.

The workflow decides who is told what, and retries what fails (``workflows/outbox/``, whose
docstring tells delivery's whole story); these activities only deliver. In the order a batch
takes: ``tierflow_activities.py`` (the activities a worker registers; ``dispatch_effects`` is
the one tickets call) → ``dispatch.py`` (the batch's items concurrently, one queue per
recipient, and what to hand back) → ``notify.py`` and ``sync.py`` (one item: customer messages
rendered by ``templates.py``) → ``channels/`` (email, SMS, chat, webhook). What goes back and
forth is ``tierflow/contracts.py``. Register them with
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
