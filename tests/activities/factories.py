"""Inputs for the activities, with sensible defaults and keyword overrides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tierflow.contracts import CustomerUpdate, Notification, NotifyChannel, TicketSync

ESTIMATE = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def notification(**overrides: Any) -> Notification:
    """A staff email notification for ticket T-100."""
    fields: dict[str, Any] = {
        "idempotency_key": "ticket-T-100.7",
        "ticket_id": "T-100",
        "workflow_id": "ticket-T-100",
        "event": "landed",
        "channel": NotifyChannel.email,
        "recipient": "Bea Agent",
        "address": "bea@example.com",
        "subject": "T-100 landed on you: Cannot pay invoice",
        "body": "Ticket T-100 is now yours. SLA due 15:00 UTC.",
    }
    fields.update(overrides)
    return Notification(**fields)


def customer_update(**overrides: Any) -> CustomerUpdate:
    """A `transferred` update for Ana, by email."""
    fields: dict[str, Any] = {
        "idempotency_key": "ticket-T-100.8",
        "ticket_id": "T-100",
        "workflow_id": "ticket-T-100",
        "kind": "transferred",
        "channel": NotifyChannel.email,
        "address": "ana@example.com",
        "customer_name": "Ana Lima",
        "subject": "Cannot pay invoice",
        "team_label": "Billing",
        "estimate": ESTIMATE,
    }
    fields.update(overrides)
    return CustomerUpdate(**fields)


def ticket_sync(**overrides: Any) -> TicketSync:
    """A sync of T-100 escalated to tier 2 billing."""
    fields: dict[str, Any] = {
        "idempotency_key": "ticket-T-100.9",
        "ticket_id": "T-100",
        "workflow_id": "ticket-T-100",
        "event": "escalated",
        "state": "tier2",
        "tier": "tier2",
        "team": "billing",
        "priority": "high",
        "at": datetime(2026, 11, 24, 11, 0, tzinfo=UTC),
        "data": {"reasons": ["limited authority"], "agent": "bea"},
    }
    fields.update(overrides)
    return TicketSync(**fields)
