"""The ticket workflow: one durable Temporal workflow per support ticket."""

from tierflow.workflows.ticket import REJECTED, LegacyTicketWorkflow, TicketWorkflow

__all__ = ["REJECTED", "LegacyTicketWorkflow", "TicketWorkflow"]
