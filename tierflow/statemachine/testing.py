"""Helpers for tests of code that uses the domain core (shipped, like ``structlog.testing``).

Pure and deterministic like the rest of the package: nothing here reads the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tierflow.statemachine.ticket import Channel, Customer, CustomerStatus, Ticket

#: A fixed, timezone-aware moment to build tickets and clocks around (a Monday).
EPOCH = datetime(2024, 3, 25, 9, 0, tzinfo=UTC)


def make_customer(**overrides: Any) -> Customer:
    """A valid standard customer; keyword arguments replace fields."""
    fields: dict[str, Any] = {
        "id": "cust-1",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "status": CustomerStatus.STANDARD,
    }
    fields.update(overrides)
    return Customer(**fields)


def make_ticket(**overrides: Any) -> Ticket:
    """A valid, unremarkable ticket; keyword arguments replace fields.

    ``status=`` is a shortcut for the customer's status.
    """
    status = overrides.pop("status", None)
    customer = overrides.pop("customer", None) or make_customer(
        **({"status": status} if status is not None else {})
    )
    fields: dict[str, Any] = {
        "id": "T-1",
        "subject": "The app shows a blank page",
        "description": "",
        "channel": Channel.EMAIL,
        "customer": customer,
        "created_at": EPOCH,
    }
    fields.update(overrides)
    return Ticket(**fields)
