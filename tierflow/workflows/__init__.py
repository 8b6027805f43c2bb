"""The ticket workflow: one durable Temporal workflow per support ticket."""

from tierflow.workflows.handlers import BUSY, FORBIDDEN, REJECTED
from tierflow.workflows.ticket import TicketWorkflow

__all__ = ["BUSY", "FORBIDDEN", "REJECTED", "TicketWorkflow"]
