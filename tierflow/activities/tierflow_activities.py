"""`TierflowActivities`: the activities a Tierflow worker registers.

One instance holds the settings, the checked customer templates, the channel adapters and
one shared HTTP client, so connections are pooled across activity runs.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import httpx
from temporalio import activity

from tierflow.activities.channels import build_adapters
from tierflow.activities.dispatch import DeliveredSoFar, dispatch, is_local
from tierflow.activities.log import SkipNotices, activity_logger
from tierflow.activities.metrics import count_failure
from tierflow.activities.notify import customer_notification, deliver, render_customer_update
from tierflow.activities.settings import Settings
from tierflow.activities.sync import push_ticket_sync
from tierflow.activities.templates import TemplateSet
from tierflow.contracts import (
    DISPATCH_EFFECTS,
    NOTIFY_CUSTOMER,
    SEND_NOTIFICATION,
    SYNC_TICKET,
    CustomerUpdate,
    DeliveryResult,
    DispatchOutcome,
    EffectBatch,
    Item,
    Notification,
    TicketSync,
    TimelineNote,
)

__all__ = ["TierflowActivities"]

# Seconds a local attempt waits before sending an item that failed fast once more (a regular
# activity's retry policy waits the same second before its second attempt).
BLIP_RETRY = 1.0
# Seconds of an attempt's start-to-close kept for handing its outcome back (a third of a
# shorter one: an item may take a third, so the first item of each recipient always fits).
ANSWER_MARGIN = 1.0


class TierflowActivities:
    """Every Tierflow side effect; register with `Worker(activities=acts.all())`."""

    def __init__(self, settings: Settings | None = None) -> None:
        """Read settings from the environment unless given; load and check the templates.

        Raises `TemplateError` now if an override template is broken, so that a bad
        deployment fails at start-up instead of at the first customer update.
        """
        self.settings = settings if settings is not None else Settings()
        self.templates = TemplateSet(self.settings.templates_dir)
        self._client = httpx.AsyncClient(timeout=self.settings.http_timeout)
        self.adapters = build_adapters(self.settings, self._client)
        self._skips = SkipNotices()

    @activity.defn(name=SEND_NOTIFICATION)
    async def send_notification(self, n: Notification) -> DeliveryResult:
        """Send a staff (or any pre-written) notification over its channel."""
        log = activity_logger("send_notification", ticket_id=n.ticket_id, workflow_id=n.workflow_id)
        return await deliver(self.adapters, n, log, self._skips)

    @activity.defn(name=NOTIFY_CUSTOMER)
    async def notify_customer(self, u: CustomerUpdate) -> DeliveryResult:
        """Render the customer's message from its template and send it on their channel.

        Email, SMS and chat customers are reached directly; for the `webhook` channel
        (customers on phone, social media or the web) the host system gets the message.
        """
        log = activity_logger("notify_customer", ticket_id=u.ticket_id, workflow_id=u.workflow_id)
        try:
            rendered = render_customer_update(self.templates, u)
        except Exception as exc:
            count_failure(u.channel.value, exc)
            raise
        return await deliver(self.adapters, customer_notification(u, rendered), log, self._skips)

    @activity.defn(name=SYNC_TICKET)
    async def sync_ticket(self, s: TicketSync) -> DeliveryResult:
        """Push the ticket's state to the host system's sync webhook."""
        log = activity_logger("sync_ticket", ticket_id=s.ticket_id, workflow_id=s.workflow_id)
        return await push_ticket_sync(self.settings, self._client, s, log, self._skips)

    @activity.defn(name=DISPATCH_EFFECTS)
    async def dispatch_effects(self, batch: EffectBatch) -> list[TimelineNote] | DispatchOutcome:
        """Deliver every effect of one ticket event (see `activities.dispatch`).

        A retried batch does not resend what an earlier attempt already delivered. Run as a
        local activity (a ticket's own wake-ups), it retries a blip once within the attempt
        and hands back what still fails.
        """
        progress = DeliveredSoFar.from_activity()
        item_timeout = self._item_timeout()
        try:
            async with progress.watch(slow_after=min(2.0, item_timeout / 2)):
                outcome = await dispatch(
                    batch,
                    progress.wrap(self._send_item),
                    item_timeout=item_timeout,
                    on_delivered=progress.delivered,
                    # Batches that hand back retry a blip within the attempt (see
                    # FIRST_HAND_BACK in workflows/outbox/ledger.py).
                    blip_retry=BLIP_RETRY
                    if is_local() or batch.hand_back_after is not None
                    else None,
                    budget=self._budget(),
                )
        except BaseException:
            # Cancelled too (a worker shutting down): the next attempt must know what this
            # one delivered.
            progress.save()
            raise
        if isinstance(outcome, DispatchOutcome):
            horizon = self.settings.delivery_horizon.total_seconds()
            return outcome.model_copy(update={"horizon_seconds": horizon})
        return outcome

    def _item_timeout(self) -> float:
        """How long one item may take: a third of the attempt's start-to-close at most, so
        that a channel that never answers cannot make the whole attempt time out."""
        limit = self.settings.delivery_item_timeout
        if activity.in_activity():
            whole = activity.info().start_to_close_timeout
            if whole is not None:
                limit = min(limit, whole.total_seconds() / 3)
        return limit

    @staticmethod
    def _budget() -> float | None:
        """An attempt's time for its items: its start-to-close less a margin for the answer,
        so that it reports what did not fit (and what it delivered) rather than time out as
        a whole, which would leave the next attempt no record of its deliveries."""
        if not activity.in_activity():
            return None
        whole = activity.info().start_to_close_timeout
        if whole is None:
            return None
        seconds = whole.total_seconds()
        return seconds - min(ANSWER_MARGIN, seconds / 3)

    async def _send_item(self, item: Item) -> DeliveryResult:
        if isinstance(item, Notification):
            return await self.send_notification(item)
        if isinstance(item, CustomerUpdate):
            return await self.notify_customer(item)
        return await self.sync_ticket(item)

    def all(self) -> list[Callable[..., Any]]:
        """The bound activity methods, for `Worker(activities=...)`."""
        return [
            self.send_notification,
            self.notify_customer,
            self.sync_ticket,
            self.dispatch_effects,
        ]

    async def aclose(self) -> None:
        """Close the shared HTTP client; call when the worker shuts down."""
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        """Use as `async with TierflowActivities() as acts:` to close the client on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the shared HTTP client."""
        await self.aclose()
