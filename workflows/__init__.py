"""The ticket workflow: one durable Temporal workflow per support ticket."""

from tierflow.workflows.ticket import (
    FORBIDDEN,
    REJECTED,
    LegacyTicketWorkflow,
    TicketWorkflow,
)

__all__ = ["FORBIDDEN", "REJECTED", "LegacyTicketWorkflow", "TicketWorkflow"]
