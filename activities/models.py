"""The messages the workflow hands to the activities, and what comes back.

Every input is fully resolved by the workflow: who is told, over which channel, at which
address, with which idempotency key. The activities only deliver. These models are defined
here (not in `statemachine/`) so that the side-effect layer depends on nothing but itself.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CustomerUpdate",
    "CustomerUpdateKind",
    "DeliveryResult",
    "DeliveryStatus",
    "Notification",
    "NotifyChannel",
    "TicketSync",
]


class NotifyChannel(StrEnum):
    """A way of reaching a person (or, for `webhook`, the host system)."""

    email = "email"
    sms = "sms"
    chat = "chat"
    webhook = "webhook"


DeliveryStatus = Literal["sent", "skipped"]
CustomerUpdateKind = Literal["received", "transferred", "waiting", "resolved", "survey", "reopened"]


class _Message(BaseModel):
    """Common base: immutable, and strict about unknown fields so typos fail loudly."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Notification(_Message):
    """One message to one person on one channel; subject and body are already written."""

    idempotency_key: str = Field(min_length=1)
    ticket_id: str
    workflow_id: str
    event: str
    channel: NotifyChannel
    recipient: str
    address: str
    subject: str
    body: str
    audience: Literal["staff", "customer"] = "staff"
    metadata: dict[str, str] = Field(default_factory=dict)


class DeliveryResult(_Message):
    """What an activity did: `sent` with the provider's detail, or `skipped` and why."""

    idempotency_key: str
    channel: NotifyChannel
    status: DeliveryStatus
    detail: str


class CustomerUpdate(_Message):
    """Tell the customer where their ticket stands; the activity renders the words."""

    idempotency_key: str = Field(min_length=1)
    ticket_id: str
    workflow_id: str
    kind: CustomerUpdateKind
    channel: NotifyChannel
    address: str
    customer_name: str
    subject: str
    team_label: str | None = None
    estimate: datetime | None = None
    survey_url: str | None = None


class TicketSync(_Message):
    """The ticket's current state, pushed to the host help desk or CRM."""

    idempotency_key: str = Field(min_length=1)
    ticket_id: str
    workflow_id: str
    event: str
    state: str
    tier: str | None = None
    team: str | None = None
    priority: str
    at: datetime
    data: dict[str, Any] = Field(default_factory=dict)
