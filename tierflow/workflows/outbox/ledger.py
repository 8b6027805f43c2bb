"""Deliveries that outlast outages: the items a ticket keeps retrying, as plain code.

The effects activity tries a batch briefly and hands back what still fails transiently (see
``activities/dispatch.py``). The ticket keeps those items in its state (``state.failing``,
oldest first, bounded) and sends them again on its own timer, with a backoff capped at
``RETRY_CAP`` so that delivery resumes within two minutes of the channel's recovery, until
each item's horizon (the worker's ``TIERFLOW_DELIVERY_HORIZON``). Meanwhile a new item to a
recipient with a failing item waits behind it, so a later message never overtakes an earlier
undelivered one. The ticket's own progress never waits for any of it.

The timeline says when an outage starts (and the ticket's owner is told once, on a channel
other than the failing ones), when it ends, and every item given up (past its horizon, dropped
by an operator, or pushed out by the cap): those are ``delivery_failure`` entries with
``final`` true, which metrics count. No I/O, no clock: ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from tierflow.contracts import (
    CustomerUpdate,
    DispatchOutcome,
    EffectBatch,
    Item,
    Notification,
    TicketSync,
    TimelineNote,
    describe_item,
    item_channel,
    recipient_key,
)
from tierflow.statemachine.text import excerpt
from tierflow.workflows.outbox.failing import (
    DeliveryView,
    FailingDelivery,
    delivery_view,
    recipient_kind,
)
from tierflow.workflows.outbox.planner import EffectPlanner
from tierflow.workflows.state import TicketState

__all__ = [
    "MAX_FAILING",
    "MAX_FAILING_BYTES",
    "RETRY_CAP",
    "TicketDeliveries",
    "retry_backoff",
    "retry_delay",
]

SYSTEM = "tierflow"
# The failing items a ticket carries (into every continue-as-new input too): at most this many
# and this much JSON; beyond that the oldest are given up (a counted final failure).
MAX_FAILING = 50
MAX_FAILING_BYTES = 128 * 1024
# Retry backoff: RETRY_FIRST, doubling, at most RETRY_CAP (delivery resumes within two
# minutes of a channel's recovery, allowing for the attempt itself).
RETRY_FIRST = timedelta(seconds=2)
RETRY_CAP = timedelta(seconds=110)
# Attempts of a new batch before it hands back what fails: the first. Its quick retry of a
# blip happens inside the attempt (the activity tries an item that failed fast once more), so
# an attempt never fails for a transient error and its outcome — what it delivered, what it
# hands back — always arrives as its result: a second attempt, which would have to learn what
# the first delivered from a heartbeat, follows only a worker that died or a lost answer.
# Retry rounds hand back after their first attempt too.
FIRST_HAND_BACK = 1
ROUND_HAND_BACK = 1
ROUND_PREFIX = "retry-"  # the batch id of a retry round


def retry_backoff(rounds: int) -> timedelta:
    """The wait before the retry round after ``rounds`` rounds of an outage: ``RETRY_FIRST``,
    doubling, at most ``RETRY_CAP``."""
    backoff: timedelta = min(RETRY_CAP, RETRY_FIRST * 2 ** min(max(rounds, 0), 10))
    return backoff


def retry_delay(rounds: int, give_up_at: Iterable[datetime], now: datetime) -> timedelta:
    """How long from ``now`` until the next retry round: the backoff, or less when an item's
    horizon (``give_up_at``) comes first; at least a millisecond (a timer needs one)."""
    backoff = retry_backoff(rounds)
    soonest = min(give_up_at, default=now + backoff)
    wait: timedelta = min(backoff, soonest - now)
    return max(wait, timedelta(milliseconds=1))


def _is_round(batch: EffectBatch) -> bool:
    return batch.batch_id.startswith(ROUND_PREFIX)


WAITING = "waiting behind an earlier message to the same recipient"


def _items(batch: EffectBatch) -> list[Item]:
    return [*batch.notifications, *batch.customer_updates, *batch.syncs]


def _batch_of(template: EffectBatch, items: list[Item], **update: object) -> EffectBatch:
    return template.model_copy(
        update={
            "notifications": [i for i in items if isinstance(i, Notification)],
            "customer_updates": [i for i in items if isinstance(i, CustomerUpdate)],
            "syncs": [i for i in items if isinstance(i, TicketSync)],
            **update,
        }
    )


class TicketDeliveries:
    """The ticket's failing deliveries and what happens to them."""

    def __init__(self, state: TicketState, effects: EffectPlanner) -> None:
        self.state = state
        self.effects = effects
        # Recipients with items under way (per run, in memory: continue-as-new waits for the
        # deliveries under way), and items waiting for one of those to finish, in order.
        self._in_flight: dict[str, int] = {}
        self._queued: list[Item] = []
        # When the next retry round starts (None while one is under way or none is planned).
        self.next_round_at: datetime | None = None

    @property
    def failing(self) -> bool:
        return bool(self.state.failing)

    def _horizon(self) -> timedelta:
        return timedelta(seconds=self.state.delivery_horizon_seconds)

    # --- new batches ----------------------------------------------------------------------

    def hold_back(self, batch: EffectBatch, now: datetime) -> EffectBatch | None:
        """``batch`` without the items that must wait: those to a recipient with a failing
        item (kept behind it, retried with it) and those to a recipient with an item under
        way (sent when it is through). None when nothing is left to send now. What it
        returns is under way until :meth:`finished`."""
        send = self._sendable(_items(batch), now)
        self._cap(now)
        if not send:
            return None
        return self.start(_batch_of(batch, send, hand_back_after=FIRST_HAND_BACK))

    def _sendable(self, items: list[Item], now: datetime) -> list[Item]:
        failing = {recipient_key(f.item) for f in self.state.failing}
        busy = set(self._in_flight) | {recipient_key(q) for q in self._queued}
        send: list[Item] = []
        for item in items:
            key = recipient_key(item)
            if key in failing:
                self._add(item, WAITING, now, attempted=False)
            elif key in busy:
                self._queued.append(item)
            else:
                send.append(item)
        return send

    def start(self, batch: EffectBatch) -> EffectBatch:
        """``batch`` is under way: its recipients' later items wait for it."""
        for item in _items(batch):
            key = recipient_key(item)
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        return batch

    def finished(self, batch: EffectBatch, now: datetime) -> EffectBatch | None:
        """``batch`` is through (its outcome recorded): the items that waited for its
        recipients, as the next batch to send, if any may go now."""
        for item in _items(batch):
            key = recipient_key(item)
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key]
        if not self._queued:
            return None
        queued, self._queued = self._queued, []
        send = self._sendable(queued, now)
        self._cap(now)
        if not send:
            return None
        return self.start(
            _batch_of(
                batch, send, batch_id=f"{batch.batch_id}-next", hand_back_after=FIRST_HAND_BACK
            )
        )

    # --- outcomes -------------------------------------------------------------------------

    def handed_back(self, batch: EffectBatch, outcome: DispatchOutcome, now: datetime) -> None:
        """Record what a batch (new or a retry round) delivered and keep what still fails."""
        s = self.state
        s.delivery_horizon_seconds = outcome.horizon_seconds
        was_failing = bool(s.failing)
        self._notes(outcome.notes)
        undelivered = {u.item.idempotency_key: u for u in outcome.undelivered}
        sent = {i.idempotency_key for i in _items(batch)}
        kept: list[FailingDelivery] = []
        for f in s.failing:
            key = f.item.idempotency_key
            if key not in sent:
                kept.append(f)
            elif key in undelivered:
                u = undelivered.pop(key)
                attempts = f.attempts + 1 if u.attempted else f.attempts
                error = u.error if u.attempted else f.error
                kept.append(
                    f.model_copy(
                        update={
                            "attempts": attempts,
                            "error": error,
                            "attempted": f.attempted or u.attempted,
                        }
                    )
                )
            # else: delivered now (or failed permanently, which a note says)
        s.failing = kept
        if _is_round(batch):
            # A retry round reports only on what was failing when it left; what was dropped
            # (by an operator, the cap or the horizon) meanwhile stays given up.
            undelivered.clear()
        for u in outcome.undelivered:
            if u.item.idempotency_key in undelivered:
                self._add(u.item, u.error, now, attempted=u.attempted)
        self._cap(now)
        self._transition(was_failing, now)

    def failed_outright(self, batch: EffectBatch, cause: str, now: datetime) -> None:
        """Every attempt of the batch failed (timed out, the worker died): retry it all."""
        was_failing = bool(self.state.failing)
        known = {f.item.idempotency_key for f in self.state.failing}
        for item in _items(batch) if not _is_round(batch) else []:
            if item.idempotency_key not in known:
                self._add(item, cause, now, attempted=True)
        self._cap(now)
        self._transition(was_failing, now)

    def _notes(self, notes: list[TimelineNote]) -> None:
        for n in notes:
            self.state.record(n.at, n.kind, SYSTEM, n.summary, **n.data)

    def _add(self, item: Item, error: str, now: datetime, *, attempted: bool) -> None:
        self.state.failing.append(
            FailingDelivery(
                item=item,
                error=excerpt(error, 300),
                first_failed_at=now,
                give_up_at=now + self._horizon(),
                attempts=1 if attempted else 0,
                attempted=attempted,
            )
        )

    def _transition(self, was_failing: bool, now: datetime) -> None:
        s = self.state
        if not was_failing and s.failing:
            s.delivery_outages += 1
            s.delivery_rounds = 0
            self.next_round_at = None
            first = s.failing[0]
            channels = sorted({item_channel(f.item) for f in s.failing if f.attempted})
            s.record(
                now,
                "delivery_failure",
                SYSTEM,
                f"deliveries failing ({', '.join(channels)}): {describe_item(first.item)}: "
                f"{first.error}; retrying until {first.give_up_at:%Y-%m-%d %H:%M:%S} UTC",
                final=False,
                outage=s.delivery_outages,
                channels=channels,
            )
            self.effects.delivery_trouble(
                now,
                set(channels),
                f"{len(s.failing)} message(s) of this ticket cannot be "
                f"delivered on {', '.join(channels)}; Tierflow keeps retrying until "
                f"{first.give_up_at:%Y-%m-%d %H:%M} UTC.",
            )
        elif was_failing and not s.failing:
            s.record(
                now,
                "notification",
                SYSTEM,
                f"deliveries recovered after {s.delivery_rounds} retry round(s)",
                recovered=True,
                outage=s.delivery_outages,
            )

    # --- giving up ------------------------------------------------------------------------

    def _give_up(self, f: FailingDelivery, why: str, now: datetime, actor: str = SYSTEM) -> None:
        s = self.state
        s.deliveries_given_up += 1
        s.record(
            now,
            "delivery_failure",
            actor,
            f"{describe_item(f.item)} not delivered ({why}): {f.error}",
            final=True,
            key=f.item.idempotency_key,
            channel=item_channel(f.item),
            attempts=f.attempts,
        )

    def _cap(self, now: datetime) -> None:
        """Keep the failing items within the bounds, giving up the least useful first: a host
        sync a newer failing sync supersedes (it carries the ticket's whole state), then the
        oldest staff notification, and only then the oldest message to the customer."""
        s = self.state
        while len(s.failing) > MAX_FAILING or (
            len(s.failing) > 1
            and sum(len(f.model_dump_json()) for f in s.failing) > MAX_FAILING_BYTES
        ):
            victim, why = self._least_useful()
            s.failing.remove(victim)
            self._give_up(victim, why, now)

    def _least_useful(self) -> tuple[FailingDelivery, str]:
        failing = self.state.failing
        syncs = [f for f in failing if isinstance(f.item, TicketSync)]
        if len(syncs) > 1:
            return syncs[0], "superseded by a newer sync while too many messages wait"
        staff = [f for f in failing if recipient_kind(f.item) == "staff"]
        if staff:
            return staff[0], "too many undelivered messages"
        return failing[0], "too many undelivered messages"

    def expire(self, now: datetime) -> None:
        """Give up the items past their horizon."""
        s = self.state
        was_failing = bool(s.failing)
        for f in [f for f in s.failing if f.give_up_at <= now]:
            s.failing.remove(f)
            self._give_up(f, f"still failing after {f.attempts} attempt(s)", now)
        self._transition(was_failing, now)

    def drop(self, key: str, actor: str, now: datetime) -> None:
        """An operator gives up the item ``key`` (checked by :meth:`check_drop`)."""
        s = self.state
        was_failing = bool(s.failing)
        f = next(f for f in s.failing if f.item.idempotency_key == key)
        s.failing.remove(f)
        self._give_up(f, f"dropped by {actor}", now, actor)
        self._transition(was_failing, now)

    def check_drop(self, key: str) -> str | None:
        """Why ``key`` cannot be dropped, or None."""
        if not any(f.item.idempotency_key == key for f in self.state.failing):
            return "no failing delivery with that key"
        return None

    # --- retrying -------------------------------------------------------------------------

    def next_delay(self, now: datetime) -> timedelta:
        """How long until the next retry round: the backoff, or sooner if an item's horizon
        comes first."""
        s = self.state
        wait = retry_delay(s.delivery_rounds, (f.give_up_at for f in s.failing), now)
        self.next_round_at = now + wait
        return wait

    def retry_batch(self) -> EffectBatch:
        """The next retry round: every failing item, oldest first."""
        s = self.state
        s.delivery_rounds += 1
        self.next_round_at = None
        items = [f.item for f in s.failing]
        template = EffectBatch(
            batch_id=f"{ROUND_PREFIX}{s.delivery_outages}-{s.delivery_rounds}",
            ticket_id=s.ticket.id,
            workflow_id=items[0].workflow_id,
            summary=f"retry {len(items)} undelivered (round {s.delivery_rounds})",
        )
        return self.start(_batch_of(template, items, hand_back_after=ROUND_HAND_BACK))

    def views(self) -> list[DeliveryView]:
        """The failing items, as the ``deliveries`` query and the operators' updates answer."""
        return [delivery_view(f, self.next_round_at) for f in self.state.failing]
