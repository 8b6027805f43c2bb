"""What the ticket workflow and its activities say to each other: names and message types.

Every input is fully resolved by the workflow: who is told, over which channel, at which
address, with which idempotency key; the activities only deliver and report back. Both sides
import this module and nothing of each other, so loading the workflow loads no channel adapter
(httpx, aiosmtplib), and the activities depend on no workflow code. Plain pydantic, no I/O.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

# Temporal type names, namespaced so that Tierflow can share a namespace, a task queue and a
# worker with a host's own workflows and activities.
WORKFLOW_TYPE = "tierflow.Ticket"
DISPATCH_EFFECTS = "tierflow.dispatch_effects"
SEND_NOTIFICATION = "tierflow.send_notification"
NOTIFY_CUSTOMER = "tierflow.notify_customer"
SYNC_TICKET = "tierflow.sync_ticket"
# The one key of the JSON object a worker hands on in place of a payload no encryption key
# opens (tierflow/encryption.py): ``{"tierflow_undecodable": "<why, naming the key id>"}``. A
# signal handler sees it as an invalid message; typed receivers never see it.
UNDECODABLE = "tierflow_undecodable"

__all__ = [
    "DISPATCH_EFFECTS",
    "DISPATCH_OUTCOME",
    "NOTIFY_CUSTOMER",
    "SEND_NOTIFICATION",
    "SYNC_TICKET",
    "UNDECODABLE",
    "WORKFLOW_TYPE",
    "CustomerUpdate",
    "CustomerUpdateKind",
    "DeliveryResult",
    "DeliveryStatus",
    "DispatchOutcome",
    "EffectBatch",
    "Item",
    "Notification",
    "NotifyChannel",
    "TicketSync",
    "TimelineNote",
    "Undelivered",
    "describe_item",
    "item_channel",
    "recipient_key",
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

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")


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
    # When we expect to answer: the earliest running SLA deadline we owe the customer.
    estimate: datetime | None = None
    survey_url: str | None = None
    # What we wait for from the customer (the agent's note), on ``waiting``.
    request: str | None = None


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


class EffectBatch(BaseModel):
    """The effects of one ticket event, fully resolved by the workflow."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")

    batch_id: str
    ticket_id: str
    workflow_id: str
    summary: str
    notifications: list[Notification] = Field(default_factory=list)
    customer_updates: list[CustomerUpdate] = Field(default_factory=list)
    syncs: list[TicketSync] = Field(default_factory=list)
    # Set by tickets that keep undelivered items themselves (and retry them on their own
    # timer): from this attempt on, the activity hands back what is still failing instead of
    # failing itself. None (batches of earlier versions): a transient failure fails the attempt.
    hand_back_after: int | None = Field(default=None, ge=1)


def recipient_key(item: Notification | CustomerUpdate | TicketSync) -> str:
    """Whom an item goes to, for keeping each recipient's messages in order (no address
    text beyond what the item carries; never shown)."""
    if isinstance(item, TicketSync):
        return "sync"
    return f"{item.channel.value}:{item.address}"


class Undelivered(BaseModel):
    """An item that failed transiently on every attempt of its batch, handed back to the
    ticket, which keeps retrying it (or one that waited behind such an item)."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")

    item: Notification | CustomerUpdate | TicketSync
    error: str
    # False: never attempted, because an earlier item to the same recipient failed.
    attempted: bool = True


class TimelineNote(BaseModel):
    """What happened to one item, for the ticket's timeline."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")

    at: datetime
    kind: Literal["notification", "delivery_failure"]
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)


class DispatchOutcome(BaseModel):
    """What ``dispatch_effects`` returns for a batch with ``hand_back_after``: the notes for
    the timeline and the items still undelivered, in the batch's order."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")

    notes: list[TimelineNote] = Field(default_factory=list)
    undelivered: list[Undelivered] = Field(default_factory=list)
    # How long the ticket keeps retrying what is undelivered: the worker's setting
    # (TIERFLOW_DELIVERY_HORIZON), which the workflow cannot read itself.
    horizon_seconds: float = 86_400.0


# What ``dispatch_effects`` returns, as the workflow decodes it (built once per process).
DISPATCH_OUTCOME = TypeAdapter(list[TimelineNote] | DispatchOutcome)


Item = Notification | CustomerUpdate | TicketSync


def describe_item(item: Item) -> str:
    """An item in a few words for the timeline, naming no address (staff names only)."""
    if isinstance(item, Notification):
        return f"{item.event} to {item.recipient} by {item.channel}"
    if isinstance(item, CustomerUpdate):
        return f"customer {item.kind} update by {item.channel}"
    return f"host sync ({item.event})"


def item_channel(item: Item) -> str:
    """The channel an item goes out on, as metrics and the timeline name it."""
    return "sync" if isinstance(item, TicketSync) else item.channel.value
