"""When a ticket must next wake up, and what the escalation ladder does then.

Pure time logic: every function takes ``now`` (or the moment in question) as an argument and
reads nothing else, so it runs unchanged inside the workflow and in microsecond unit tests. The
workflow's side (``workflows/wake_ups.py``) acts on the answers: it records the timeline, plans
the messages and moves the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from tierflow.statemachine.policy import EscalationActionKind, EscalationLevel, Policy
from tierflow.statemachine.sla import SlaClock, SlaTarget
from tierflow.statemachine.ticket import Priority

DeadlineKind = Literal["warning", "breach", "level", "survey", "close"]


@dataclass(frozen=True)
class Deadline:
    """The next moment the ticket must wake up for, and why (the timer's summary)."""

    at: datetime
    kind: DeadlineKind
    summary: str
    target: SlaTarget | None = None


class TicketTimes(Protocol):
    """What a ticket's deadlines depend on (the workflow's ``TicketState`` holds all of it)."""

    @property
    def policy(self) -> Policy: ...
    @property
    def clock(self) -> SlaClock: ...
    @property
    def tier(self) -> str | None: ...
    @property
    def breach_at(self) -> datetime | None: ...
    @property
    def level_index(self) -> int: ...
    @property
    def survey_due(self) -> datetime | None: ...
    @property
    def survey_sent_at(self) -> datetime | None: ...
    @property
    def close_due(self) -> datetime | None: ...


def next_deadline(ticket: TicketTimes, now: datetime) -> Deadline | None:
    """The earliest thing the ticket waits for: an SLA warning or breach, the next escalation
    level, the survey, or closing after the follow-up. It may lie in the past (a late timer);
    the caller acts on everything due by ``now``."""
    policy = ticket.policy
    options: list[Deadline] = []
    event = ticket.clock.next_event(now, policy.calendar, policy.sla.warning_fraction)
    if event is not None:
        options.append(
            Deadline(
                event.at,
                event.kind,
                f"SLA {event.target} {event.kind} ({ticket.tier})",
                target=event.target,
            )
        )
    # The ladder pauses with the clock (waiting on the customer) and resumes after.
    if ticket.breach_at is not None and not ticket.clock.paused:
        level = policy.escalation.level(ticket.level_index)
        due = policy.escalation_due(ticket.breach_at, ticket.level_index)
        if level is not None and due is not None:
            options.append(Deadline(due, "level", f"escalation level {level.name}"))
    if ticket.survey_due is not None and ticket.survey_sent_at is None:
        options.append(Deadline(ticket.survey_due, "survey", "follow-up survey"))
    if ticket.close_due is not None:
        options.append(Deadline(ticket.close_due, "close", "close after follow-up"))
    return min(options, key=lambda d: d.at) if options else None


# --- SLA warnings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingWarning:
    """An SLA warning due now: given once everything else due at this moment is done, and
    only if its target still applies then."""

    at: datetime
    target: SlaTarget
    tier: str | None
    due: datetime  # the target's own deadline, which the people warned need


def pending_warning(ticket: TicketTimes, deadline: Deadline) -> PendingWarning:
    """The warning a ``warning`` deadline gives, for the ticket as it is at that moment."""
    assert deadline.target is not None
    due = ticket.clock.due(deadline.target, ticket.policy.calendar)
    return PendingWarning(
        at=deadline.at, target=deadline.target, tier=ticket.tier, due=due or deadline.at
    )


def warning_still_applies(ticket: TicketTimes, warning: PendingWarning) -> bool:
    """The warned target still runs, unbreached, toward the same deadline, in its tier: a
    warning whose target breached, was met, or left with its tier in the same moment would
    tell people about a deadline that no longer exists."""
    clock = ticket.clock.clock(warning.target)
    return (
        clock is not None
        and not clock.breached
        and ticket.tier == warning.tier
        and ticket.clock.due(warning.target, ticket.policy.calendar) == warning.due
    )


def has_unmet_breach(clock: SlaClock) -> bool:
    """Some target breached and is still not met: the escalation ladder keeps running."""
    return any(c.breached and not c.met for c in clock.clocks.values())


def rebudget(clock: SlaClock, policy: Policy, priority: Priority, tier: str | None) -> None:
    """A new priority changes the budgets of running targets; time used so far stays."""
    if tier is None:
        return
    targets = policy.targets_for(priority, tier)
    for target, target_clock in clock.clocks.items():
        budget: timedelta | None = getattr(targets, target.value)
        if budget is not None:
            target_clock.budget = budget


# --- the escalation ladder ----------------------------------------------------------------------


def ladder_silent_at(policy: Policy, breach_at: datetime, level_index: int, at: datetime) -> bool:
    """No ladder level speaks at ``at`` (there is none left, or the next is later): a breach
    at that moment is told to the ticket's owner instead."""
    due = policy.escalation_due(breach_at, level_index)
    return due is None or due > at


@dataclass(frozen=True)
class LadderStep:
    """What reaching the next escalation level does to a ticket."""

    level: EscalationLevel
    number: int  # 1-based, as the timeline says it
    raise_priority: bool
    # The tier the ticket is reassigned to; None when the level does not reassign, the ticket
    # is not in its tier (awaiting approval or the customer), or it is in the top tier.
    reassign_to: str | None


def ladder_step(policy: Policy, level_index: int, tier: str, machine_state: str) -> LadderStep:
    """The step at ``level_index`` for a ticket in ``tier`` whose machine is at
    ``machine_state`` (a level is due, so there is one)."""
    level = policy.escalation.level(level_index)
    assert level is not None
    reassign_to = None
    # Reassigning needs the ticket in its tier (not awaiting approval or the customer).
    if EscalationActionKind.REASSIGN_NEXT_TIER in level.actions and machine_state == tier:
        reassign_to = policy.next_tier(tier)
    return LadderStep(
        level=level,
        number=level_index + 1,
        raise_priority=EscalationActionKind.RAISE_PRIORITY in level.actions,
        reassign_to=reassign_to,
    )


# --- the follow-up ------------------------------------------------------------------------------


def survey_due(policy: Policy, resolved_at: datetime) -> datetime:
    """When the satisfaction survey goes out after a resolution."""
    return resolved_at + policy.follow_up.delay


def close_due(policy: Policy, survey_sent_at: datetime) -> datetime:
    """When a ticket whose survey got no answer closes."""
    follow_up = policy.follow_up
    return survey_sent_at + (follow_up.close_after or follow_up.delay)


__all__ = [
    "Deadline",
    "DeadlineKind",
    "LadderStep",
    "PendingWarning",
    "TicketTimes",
    "close_due",
    "has_unmet_breach",
    "ladder_silent_at",
    "ladder_step",
    "next_deadline",
    "pending_warning",
    "rebudget",
    "survey_due",
    "warning_still_applies",
]
