"""One activity per ticket event: deliver a batch of effects and report each outcome.

A ticket event (landing in a tier, a breach, a resolution) usually means several messages:
the team's queue, the followers, the customer, the host system. Sending them from one activity
keeps a ticket's history short and its billable actions few. Each item keeps its own
idempotency key, so when a transient failure makes Temporal retry the batch, receivers that
already got an item see the same key again and drop it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio.exceptions import ApplicationError

from activities.models import CustomerUpdate, DeliveryResult, Notification, TicketSync

__all__ = ["EffectBatch", "TimelineNote", "dispatch"]


class EffectBatch(BaseModel):
    """The effects of one ticket event, fully resolved by the workflow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_id: str
    ticket_id: str
    workflow_id: str
    summary: str
    notifications: list[Notification] = Field(default_factory=list)
    customer_updates: list[CustomerUpdate] = Field(default_factory=list)
    syncs: list[TicketSync] = Field(default_factory=list)


class TimelineNote(BaseModel):
    """What happened to one item, for the ticket's timeline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    kind: Literal["notification", "delivery_failure"]
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)


Item = Notification | CustomerUpdate | TicketSync


def _describe(item: Item) -> str:
    if isinstance(item, Notification):
        return f"{item.event} to {item.recipient} by {item.channel}"
    if isinstance(item, CustomerUpdate):
        return f"customer {item.kind} update by {item.channel}"
    return f"host sync ({item.event})"


async def dispatch(
    batch: EffectBatch, send: Callable[[Item], Awaitable[DeliveryResult]]
) -> list[TimelineNote]:
    """Send every item; permanent failures become timeline notes, transient ones a retry.

    All items are attempted before a transient failure is raised, so one slow channel does not
    keep the others from being delivered on this attempt.
    """
    notes: list[TimelineNote] = []
    transient: ApplicationError | Exception | None = None
    items: list[Item] = [*batch.notifications, *batch.customer_updates, *batch.syncs]
    for item in items:
        what = _describe(item)
        try:
            result = await send(item)
        except ApplicationError as err:
            if not err.non_retryable:
                transient = transient or err
                continue
            notes.append(
                TimelineNote(
                    at=datetime.now(UTC),
                    kind="delivery_failure",
                    summary=f"{what} failed: {err.message}",
                    data={"key": item.idempotency_key, "error": err.type or "error"},
                )
            )
            continue
        except Exception as err:  # noqa: BLE001 - anything unknown is retried, as Temporal would
            transient = transient or err
            continue
        if isinstance(item, Notification | CustomerUpdate):
            notes.append(
                TimelineNote(
                    at=datetime.now(UTC),
                    kind="notification",
                    summary=f"{what}: {result.status}",
                    data={"key": item.idempotency_key, "detail": result.detail},
                )
            )
    if transient is not None:
        raise transient
    return notes
