"""The SLA clock: budgets of business time per target, paused while waiting on the customer.

The clock never reads the current time; every method takes ``now``. It is a pydantic model so
that it can live in the workflow's state and travel through continue-as-new, and its methods
**mutate it in place** (the workflow owns exactly one).

How time is kept: each target has a ``budget`` and the business time ``consumed`` before its
current running stretch, which began at ``running_since``. Pausing folds the running stretch into
``consumed``; resuming starts a new stretch. So a due time is always
``add_business_time(running_since, budget - consumed)``: a pause can only push it later, and it is
never before the stretch began.

The workflow's loop: ``event = clock.next_event(now, calendar, fraction)``; sleep until
``event.at``; then recompute ``next_event`` (the ticket may have moved meanwhile) and, if it is
due, act on it and ``mark`` it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tierflow.statemachine.calendar import BusinessCalendar
from tierflow.statemachine.policy import SlaTargets


class SlaTarget(StrEnum):
    """The three SLA clocks of a ticket."""

    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


_ORDER = list(SlaTarget)


class TargetClock(BaseModel):
    """One target's clock."""

    model_config = ConfigDict(hide_input_in_errors=True)

    target: SlaTarget
    budget: timedelta
    consumed: timedelta = timedelta(0)
    running_since: AwareDatetime | None = None
    warned: bool = False
    breached: bool = False
    met_at: AwareDatetime | None = None
    breached_at: AwareDatetime | None = None

    @property
    def met(self) -> bool:
        """The target was met (stopped) — e.g. the first response was sent."""
        return self.met_at is not None

    @property
    def running(self) -> bool:
        """Time is counting against the budget right now."""
        return self.running_since is not None

    def _deadline(self, calendar: BusinessCalendar, share: float = 1.0) -> datetime | None:
        if self.running_since is None:
            return None
        left = self.budget * share - self.consumed
        return calendar.add_business_time(self.running_since, max(left, timedelta(0)))


class ClockEvent(BaseModel):
    """The next moment the workflow must wake up for: a warning or a breach of a target."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True)

    at: AwareDatetime
    kind: Literal["warning", "breach"]
    target: SlaTarget


class TargetStatus(BaseModel):
    """A target's state for display (queries, the UI summary)."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True)

    target: SlaTarget
    budget: timedelta
    due: AwareDatetime | None
    remaining: timedelta | None
    warned: bool
    breached: bool
    met: bool
    paused: bool


class SlaClock(BaseModel):
    """All SLA targets of a ticket. Methods mutate in place; none reads the clock."""

    model_config = ConfigDict(hide_input_in_errors=True)

    clocks: dict[SlaTarget, TargetClock] = Field(default_factory=dict)
    paused: bool = False
    paused_at: AwareDatetime | None = None

    def clock(self, target: SlaTarget) -> TargetClock | None:
        """The clock of a target, if it was started."""
        return self.clocks.get(target)

    def start(
        self,
        target: SlaTarget,
        budget: timedelta,
        now: datetime,
        calendar: BusinessCalendar | None = None,
    ) -> TargetClock:
        """(Re)start a target with a fresh budget; while paused it starts paused.

        ``calendar`` is accepted for symmetry and not needed: starting consumes no time.
        """
        del calendar
        clock = TargetClock(
            target=target, budget=budget, running_since=None if self.paused else now
        )
        self.clocks[target] = clock
        return clock

    def stop(
        self, target: SlaTarget, now: datetime, calendar: BusinessCalendar | None = None
    ) -> bool:
        """The target was met at ``now``. Returns False if it was not running or already met.

        With a calendar, the business time used is added to ``consumed`` for later analysis.
        """
        clock = self.clocks.get(target)
        if clock is None or clock.met:
            return False
        if clock.running_since is not None and calendar is not None:
            clock.consumed += calendar.business_time_between(clock.running_since, now)
        clock.running_since = None
        clock.met_at = now
        return True

    def restart_all(
        self,
        targets: SlaTargets,
        now: datetime,
        include: Iterable[SlaTarget] = (SlaTarget.FIRST_RESPONSE, SlaTarget.RESOLUTION),
    ) -> None:
        """The ticket moved tier: drop every clock and start the new tier's ``include`` targets.

        ``next_response`` is not started by default: it runs only from a customer's message
        until the agent's answer, so the workflow starts it when the customer writes.
        """
        self.clocks = {}
        for target in include:
            budget: timedelta | None = getattr(targets, target.value)
            if budget is not None:
                self.start(target, budget, now)

    def pause(self, now: datetime, calendar: BusinessCalendar) -> None:
        """Stop counting (waiting on the customer); the time used so far is kept."""
        if self.paused:
            return
        for clock in self.clocks.values():
            if clock.running_since is not None:
                clock.consumed += calendar.business_time_between(clock.running_since, now)
                clock.running_since = None
        self.paused = True
        self.paused_at = now

    def resume(self, now: datetime) -> None:
        """Count again from ``now`` with whatever budget was left (possibly none)."""
        if not self.paused:
            return
        for clock in self.clocks.values():
            if not clock.met:
                clock.running_since = now
        self.paused = False
        self.paused_at = None

    def due(self, target: SlaTarget, calendar: BusinessCalendar) -> datetime | None:
        """When the target breaches; None if not started, met or paused."""
        clock = self.clocks.get(target)
        return None if clock is None or clock.met else clock._deadline(calendar)

    def warn_at(
        self, target: SlaTarget, calendar: BusinessCalendar, fraction: float
    ) -> datetime | None:
        """When ``fraction`` of the budget is used; None if not started, met or paused."""
        clock = self.clocks.get(target)
        return None if clock is None or clock.met else clock._deadline(calendar, fraction)

    def remaining(
        self, target: SlaTarget, now: datetime, calendar: BusinessCalendar
    ) -> timedelta | None:
        """Business time left (negative when overdue); None if not started or met."""
        clock = self.clocks.get(target)
        if clock is None or clock.met:
            return None
        used = clock.consumed
        if clock.running_since is not None:
            if now >= clock.running_since:
                used += calendar.business_time_between(clock.running_since, now)
            else:
                used -= calendar.business_time_between(now, clock.running_since)
        return clock.budget - used

    def next_event(
        self, now: datetime, calendar: BusinessCalendar, fraction: float
    ) -> ClockEvent | None:
        """The earliest pending warning or breach among running targets (may be in the past).

        A warning whose breach is already due is skipped: the breach says more.
        """
        candidates: list[tuple[datetime, int, int, ClockEvent]] = []
        for clock in self.clocks.values():
            if clock.met or clock.breached or clock.running_since is None:
                continue
            due = clock._deadline(calendar)
            assert due is not None  # running, so there is a deadline
            order = _ORDER.index(clock.target)
            breach = ClockEvent(at=due, kind="breach", target=clock.target)
            candidates.append((due, 0, order, breach))
            if not clock.warned and due > now:
                warn = clock._deadline(calendar, fraction)
                assert warn is not None
                event = ClockEvent(at=warn, kind="warning", target=clock.target)
                candidates.append((warn, 1, order, event))
        if not candidates:
            return None
        return min(candidates, key=lambda c: c[:3])[3]

    def mark(self, event: ClockEvent, now: datetime) -> bool:
        """Record that a warning/breach happened. False if stale, not yet due, or already marked.

        A breach also counts as warned; ``breached_at`` is the deadline itself (``event.at``).
        """
        clock = self.clocks.get(event.target)
        if clock is None or clock.met or event.at > now:
            return False
        if event.kind == "warning":
            if clock.warned or clock.breached:
                return False
            clock.warned = True
            return True
        if clock.breached:
            return False
        clock.breached = True
        clock.warned = True
        clock.breached_at = event.at
        return True

    def status(
        self, now: datetime, calendar: BusinessCalendar, fraction: float
    ) -> list[TargetStatus]:
        """Every started target, in the order first response, next response, resolution."""
        del fraction  # part of the signature so callers can show warning times later
        return [
            TargetStatus(
                target=target,
                budget=clock.budget,
                due=self.due(target, calendar),
                remaining=self.remaining(target, now, calendar),
                warned=clock.warned,
                breached=clock.breached,
                met=clock.met,
                paused=self.paused and not clock.met,
            )
            for target in _ORDER
            if (clock := self.clocks.get(target)) is not None
        ]
