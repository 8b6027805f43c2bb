"""One activity per ticket event: deliver a batch of effects and report each outcome.

A ticket event (landing in a tier, a breach, a resolution) usually means several messages:
the team's queue, the followers, the customer, the host system. Sending them from one activity
keeps a ticket's history short and its billable actions few.

**Per item.** The items of a batch go out concurrently, one queue per recipient (channel and
address): a recipient's messages are sent in the batch's order, and once one of them fails the
later ones wait (handed back unattempted), so a later message never overtakes an earlier one.
Each item has its own timeout, a third of the attempt's start-to-close at most, so one
black-holed mail server delays nobody else and never lets the attempt itself time out.

**Progress.** Items already delivered are not sent again by a later attempt: the attempt's
successes are kept in the activity's heartbeat details, which Temporal hands to the next
attempt, and `DeliveredSoFar` answers those items from that record. Heartbeats are billable,
so a batch that goes smoothly sends none: the record is heartbeated when an attempt fails, and
as items complete only once the batch is slow (still at work after ``slow_after``) or an
earlier attempt failed — the SDK throttles those further. Should the record still be lost (the
worker died in between), each item carries its own idempotency key, so receivers that already
got it see the same key again and can drop it.

**Hand-back.** Tickets that retry undelivered items themselves set ``hand_back_after`` on the
batch: from that attempt on, the activity completes and returns what still fails (with what
waited behind it) instead of failing, and the ticket retries those on its own timer.

**Local.** Run as a local activity (the ticket's own wake-ups), an attempt has no heartbeat to
leave its progress in, so a next attempt would send the delivered items again. It therefore
never fails for a transient error: it tries an item that failed fast once more after
``blip_retry`` (what the quick second attempt of a regular activity is for), then hands back
whatever still fails, whatever ``hand_back_after`` says.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tierflow.activities.metrics import count_failure
from tierflow.contracts import (
    DeliveryResult,
    DispatchOutcome,
    EffectBatch,
    Item,
    TicketSync,
    TimelineNote,
    Undelivered,
    describe_item,
    item_channel,
    recipient_key,
)

__all__ = ["DeliveredSoFar", "Item", "dispatch", "is_local"]


# What an item that waited behind a failed one says of itself.
WAITING = "waiting behind an earlier message to the same recipient"


class _Failed:
    """A transient failure of one item (retried), or an item that waited behind one."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def blip(self) -> bool:
        """Failed on its own (not waiting), and not by timing out."""
        return self.error is not None and not isinstance(self.error, TimeoutError)

    def message(self) -> str:
        if self.error is None:
            return WAITING
        if isinstance(self.error, ApplicationError):
            return self.error.message  # the channels' own words, already redacted
        if isinstance(self.error, TimeoutError):
            return str(self.error) or "no answer in time"  # ours ("no answer within 3s")
        # Anything else the channels did not classify: its type only, since its text may
        # quote a remote server or a secret.
        return type(self.error).__name__


async def dispatch(
    batch: EffectBatch,
    send: Callable[[Item], Awaitable[DeliveryResult]],
    *,
    item_timeout: float = 10.0,
    on_delivered: Callable[[], None] | None = None,
    blip_retry: float | None = None,
    budget: float | None = None,
) -> list[TimelineNote] | DispatchOutcome:
    """Send every item; permanent failures become timeline notes, transient ones a retry.

    All items are attempted (one queue per recipient, the queues concurrently) before a
    transient failure is raised, so one slow channel does not keep the others from being
    delivered on this attempt. With ``batch.hand_back_after`` reached, or in a local activity,
    transient failures are returned as undelivered items instead. ``on_delivered`` is called
    after each delivery. ``blip_retry`` (seconds) sends an item that failed transiently, but
    not by timing out, once more after that pause within this attempt. With ``budget``
    (seconds), no item is started, nor tried again, unless its timeout still fits in what is
    left: the items that do not fit are handed back untried, so the attempt never times out as
    a whole (a local attempt that did would be retried in full, resending what it delivered).
    """
    loop = asyncio.get_running_loop()
    ends = None if budget is None else loop.time() + budget

    def fits(seconds: float) -> bool:
        return ends is None or loop.time() + seconds <= ends

    items: list[Item] = [*batch.notifications, *batch.customer_updates, *batch.syncs]
    outcomes: list[DeliveryResult | TimelineNote | _Failed | None] = [None] * len(items)
    queues: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        queues.setdefault(recipient_key(item), []).append(i)

    async def one(item: Item) -> DeliveryResult | TimelineNote | _Failed:
        try:
            result = await _within(item_timeout, send(item))
        except TimeoutError:
            err = TimeoutError(f"no answer within {item_timeout:.3g}s")
            count_failure(item_channel(item), err)
            return _Failed(err)
        except ApplicationError as err:
            if not err.non_retryable:
                return _Failed(err)
            return TimelineNote(
                at=datetime.now(UTC),
                kind="delivery_failure",
                summary=f"{describe_item(item)} failed: {err.message}",
                data={"key": item.idempotency_key, "error": err.type or "error"},
            )
        except Exception as err:  # anything unknown is retried, as Temporal would
            return _Failed(err)
        if on_delivered is not None:
            on_delivered()
        return result

    async def once_more(item: Item) -> DeliveryResult | TimelineNote | _Failed:
        outcome = await one(item)
        if (
            blip_retry is not None
            and isinstance(outcome, _Failed)
            and outcome.blip()
            and fits(blip_retry + item_timeout)
        ):
            # A refused connection or a 503: worth one more try. A timeout is not (the
            # channel is slow or gone, and this attempt should not wait for it twice).
            await asyncio.sleep(blip_retry)
            outcome = await one(item)
        return outcome

    async def queue(indexes: list[int]) -> None:
        blocked = False
        for i in indexes:
            if blocked or not fits(item_timeout):
                outcomes[i] = _Failed(None)
                blocked = True
                continue
            outcomes[i] = await once_more(items[i])
            blocked = isinstance(outcomes[i], _Failed)

    await asyncio.gather(*(queue(indexes) for indexes in queues.values()))

    notes: list[TimelineNote] = []
    undelivered: list[Undelivered] = []
    transient: BaseException | None = None
    for item, outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, TimelineNote):
            notes.append(outcome)
        elif isinstance(outcome, _Failed):
            transient = transient or outcome.error
            undelivered.append(
                Undelivered(item=item, error=outcome.message(), attempted=outcome.error is not None)
            )
        elif isinstance(outcome, DeliveryResult) and not isinstance(item, TicketSync):
            notes.append(
                TimelineNote(
                    at=datetime.now(UTC),
                    kind="notification",
                    summary=f"{describe_item(item)}: {outcome.status}",
                    data={"key": item.idempotency_key, "detail": outcome.detail},
                )
            )
    local = is_local()
    if local or batch.hand_back_after is not None:
        # A local attempt always hands back (it is never retried: it keeps no record of what
        # it delivered); a regular one on its last attempt, or when nothing failed.
        attempt = activity.info().attempt if activity.in_activity() else 1
        last = batch.hand_back_after is not None and attempt >= batch.hand_back_after
        if local or last or transient is None:
            return DispatchOutcome(notes=notes, undelivered=undelivered)
    if transient is not None:
        raise transient
    return notes


# Sends given up at their timeout whose clients still wind down (see ``_within``): kept so that
# the event loop does not drop them half-way, and their errors are not reported as unhandled.
_ABANDONED: set[asyncio.Future[Any]] = set()


def _forget(task: asyncio.Future[Any]) -> None:
    _ABANDONED.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a send given up may well end in an error


async def _within(seconds: float, sending: Awaitable[DeliveryResult]) -> DeliveryResult:
    """``sending``'s result, or TimeoutError once ``seconds`` have passed — then, at once.

    ``asyncio.timeout`` waits for the cancelled send to finish, and a client may answer its
    cancellation slowly: aiosmtplib, cancelled while a slow server sits on ``DATA``, first
    waits for that server under its own timeout (13 s for a 3 s cut, measured). The send is
    cancelled here and left to wind down on its own, so no channel, however slow, hanging or
    trickling, holds an item past its timeout.
    """
    task = asyncio.ensure_future(sending)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        _ABANDONED.add(task)
        task.add_done_callback(_forget)
        raise TimeoutError
    return task.result()


def is_local() -> bool:
    """Whether this runs as a local activity (which cannot heartbeat)."""
    return activity.in_activity() and activity.info().is_local


_PROGRESS = TypeAdapter(dict[str, DeliveryResult])


class DeliveredSoFar:
    """Which items of a batch earlier attempts delivered, kept in the heartbeat details."""

    def __init__(self, heartbeat_details: Sequence[Any] = (), *, attempt: int = 1) -> None:
        """Start from the last heartbeat of the previous attempt, if it left one we can read."""
        self._results: dict[str, DeliveryResult] = {}
        self._new = 0
        # Heartbeat as items complete once this attempt is slow or an earlier one failed.
        self._eager = attempt > 1
        if heartbeat_details:
            try:
                self._results = _PROGRESS.validate_python(heartbeat_details[-1])
            except ValidationError:
                # A record we cannot read only costs a resend, which receivers dedupe.
                self._results = {}

    @classmethod
    def from_activity(cls) -> DeliveredSoFar:
        """The record left by the previous attempt of the running activity (empty outside)."""
        if not activity.in_activity():
            return cls()
        info = activity.info()
        return cls(info.heartbeat_details, attempt=info.attempt)

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
            self._new += 1
            return result

        return send_once

    def delivered(self) -> None:
        """An item was delivered: keep the record on the server if this attempt is eager."""
        if self._eager:
            self.save()

    def slow(self) -> None:
        """The attempt is slow: keep the record now, and after each delivery from now on."""
        self._eager = True
        self.save()

    @contextlib.asynccontextmanager
    async def watch(self, slow_after: float) -> Any:
        """Within the block, call :meth:`slow` once it has run ``slow_after`` seconds."""

        async def mark() -> None:
            await asyncio.sleep(slow_after)
            self.slow()

        watchdog = asyncio.create_task(mark())
        try:
            yield
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    def save(self) -> None:
        """Leave the record for the next attempt (a heartbeat; throttled by the SDK). Only
        when this attempt delivered something: every heartbeat is a billable action. Not in a
        local activity, which has no heartbeat (nor, in this design, a next attempt)."""
        if activity.in_activity() and self._new and not is_local():
            activity.heartbeat(_PROGRESS.dump_python(self._results, mode="json"))
