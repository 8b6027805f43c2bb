"""The ticket workflow: one durable Temporal workflow per support ticket."""

from tierflow.workflows.ticket import (
    BUSY,
    FORBIDDEN,
    REJECTED,
    TicketWorkflow,
)

__all__ = ["BUSY", "FORBIDDEN", "REJECTED", "TicketWorkflow"]
