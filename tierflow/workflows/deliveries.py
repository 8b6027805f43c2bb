"""Kept importable for code written before delivery moved to ``tierflow.workflows.outbox``;
import from there. (Branches of the 1.0 work still name this module; remove it once they are
merged.)"""

from tierflow.workflows.outbox.failing import DeliveryView, DropDelivery, RetryDeliveries
from tierflow.workflows.outbox.ledger import MAX_FAILING, MAX_FAILING_BYTES, TicketDeliveries

__all__ = [
    "MAX_FAILING",
    "MAX_FAILING_BYTES",
    "DeliveryView",
    "DropDelivery",
    "RetryDeliveries",
    "TicketDeliveries",
]
