"""One activity per ticket event: deliver a batch of effects and report each outcome.

A ticket event (landing in a tier, a breach, a resolution) usually means several messages:
the team's queue, the followers, the customer, the host system. Sending them from one activity
keeps a ticket's history short and its billable actions few.

When one item fails transiently, Temporal retries the whole batch. Items already delivered are
not sent again: a failing attempt records its successes in the activity's heartbeat details,
which Temporal hands to the next attempt (the final heartbeat is sent even as it fails), and
`DeliveredSoFar` answers those items from that record. Should the record be lost (the worker
died between delivery and heartbeat), each item still carries its own idempotency key, so
receivers that already got it see the same key again and can drop it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tierflow.contracts import (
    CustomerUpdate,
    DeliveryResult,
    EffectBatch,
    Notification,
    TicketSync,
    TimelineNote,
)

__all__ = ["DeliveredSoFar", "Item", "dispatch"]


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
        except Exception as err:  # anything unknown is retried, as Temporal would
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


_PROGRESS = TypeAdapter(dict[str, DeliveryResult])


class DeliveredSoFar:
    """Which items of a batch earlier attempts delivered, kept in the heartbeat details."""

    def __init__(self, heartbeat_details: Sequence[Any] = ()) -> None:
        """Start from the last heartbeat of the previous attempt, if it left one we can read."""
        self._results: dict[str, DeliveryResult] = {}
        if heartbeat_details:
            try:
                self._results = _PROGRESS.validate_python(heartbeat_details[-1])
            except ValidationError:
                # A record we cannot read only costs a resend, which receivers dedupe.
                self._results = {}

    @classmethod
    def from_activity(cls) -> DeliveredSoFar:
        """The record left by the previous attempt of the running activity (empty outside)."""
        return cls(activity.info().heartbeat_details if activity.in_activity() else ())

    def wrap(
        self, send: Callable[[Item], Awaitable[DeliveryResult]]
    ) -> Callable[[Item], Awaitable[DeliveryResult]]:
        """`send`, but answering delivered items from the record and recording new ones."""

        async def send_once(item: Item) -> DeliveryResult:
            earlier = self._results.get(item.idempotency_key)
            if earlier is not None:
                return earlier
            result = await send(item)
            self._results[item.idempotency_key] = result
            return result

        return send_once

    def save(self) -> None:
        """Leave the record for the next attempt. Called only when an attempt fails: every
        heartbeat is a billable action, and a batch that succeeds needs no record."""
        if activity.in_activity() and self._results:
            activity.heartbeat(_PROGRESS.dump_python(self._results, mode="json"))
