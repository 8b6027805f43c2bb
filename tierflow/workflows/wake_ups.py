"""What a ticket does when one of its timers fires: SLA warnings and breaches, the levels of
the escalation ladder, the follow-up survey and closing after it.

When each of those falls, and what a ladder level asks for, is pure time logic in the core
(``statemachine/deadlines.py``); this module acts on it: it records the timeline, plans the
messages and moves the ticket. No I/O, no clock (``now`` is passed in).
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime

from tierflow.statemachine import EscalationReason, EscalationType
from tierflow.statemachine.deadlines import (
    Deadline,
    PendingWarning,
    close_due,
    ladder_silent_at,
    ladder_step,
    next_deadline,
    pending_warning,
    warning_still_applies,
)
from tierflow.statemachine.sla import ClockEvent
from tierflow.workflows.moves import SYSTEM, TicketMoves

# Acting on one wake-up stops after this many deadlines due at the same moment: each pass
# marks something done, so a real ticket needs a handful at most.
MAX_DUE_AT_ONCE = 100


class TicketWakeUps(TicketMoves):
    """The ticket's deadlines, and acting on them when a timer fires."""

    @abstractmethod
    def close(self, actor: str, note: str, now: datetime, *, via: str | None = None) -> None:
        """Close the ticket (``TicketOperations.close``): the end of an unanswered follow-up."""

    def next_deadline(self, now: datetime) -> Deadline | None:
        """The earliest thing the ticket waits for: an SLA warning or breach, the next
        escalation level, the survey, or closing after the follow-up."""
        return next_deadline(self.state, now)

    def on_deadline(self, deadline: Deadline, now: datetime) -> None:
        """A timer fired: act on it, and on anything else already due at that moment.

        An SLA warning is given only if its target still applies once everything due has been
        acted on: a warning whose target breached, was met or left with its tier in the same
        moment (a late timer, an escalation at the same instant) would tell people about a
        deadline that no longer exists.
        """
        # Timers fire at or after their deadline; never act as if it were earlier.
        now = max(now, deadline.at)
        pending: list[PendingWarning] = []
        for _ in range(MAX_DUE_AT_ONCE):
            due = self.next_deadline(now)
            if due is None or due.at > now:
                break
            self._act(due, now, pending)
        for w in pending:
            if warning_still_applies(self.state, w):
                self._warn(w, now)

    def _warn(self, w: PendingWarning, now: datetime) -> None:
        s = self.state
        s.record(
            now,
            "sla",
            SYSTEM,
            f"{w.target} due soon ({w.tier})",
            due=w.at,
            sla="warning",
            target=w.target,
            tier=w.tier,
        )
        # The warning fires at w.at; the people warned need the target's own deadline.
        self.effects.breach_warning(now, w.target, w.due)

    def _act(self, d: Deadline, now: datetime, pending: list[PendingWarning]) -> None:
        s = self.state
        if d.kind in ("warning", "breach"):
            assert d.target is not None
            s.clock.mark(ClockEvent(at=d.at, kind=d.kind, target=d.target), now)
            if d.kind == "warning":
                pending.append(pending_warning(s, d))
            else:
                self._breached(d, now)
        elif d.kind == "level":
            self._escalation_level(now, d.at)
        elif d.kind == "survey":
            s.survey_sent_at = now
            s.close_due = close_due(s.policy, now)
            s.record(now, "follow_up", SYSTEM, "satisfaction survey sent")
            if s.policy.follow_up.survey:
                self.effects.customer(now, "survey")
        else:
            self.close(SYSTEM, "no reply after the follow-up", now)

    def _breached(self, d: Deadline, now: datetime) -> None:
        s = self.state
        assert d.target is not None
        s.record(
            now,
            "sla",
            SYSTEM,
            f"{d.target} breached ({s.tier})",
            due=d.at,
            sla="breach",
            target=d.target,
            tier=s.tier,
        )
        # A second target breaching does not push the ladder back.
        if s.breach_at is None:
            s.breach_at = d.at
        if ladder_silent_at(s.policy, s.breach_at, s.level_index, d.at):
            # No ladder level speaks at this moment: the owner still hears of it now.
            self.effects.breached(now, d.target)

    def _escalation_level(self, now: datetime, due: datetime) -> None:
        s = self.state
        assert s.tier is not None
        step = ladder_step(s.policy, s.level_index, s.tier, s.machine.state)
        level = step.level
        s.level_index += 1
        s.record(
            now,
            "sla",
            SYSTEM,
            f"escalation level {step.number} ({level.name}): "
            + ", ".join(str(a) for a in level.actions),
            due=due,
            late_ms=round((now - due).total_seconds() * 1000),
            sla="level",
            level=level.name,
            tier=s.tier,
        )
        self.effects.level_reached(now, level)
        if step.raise_priority:
            old, s.priority = s.priority, s.priority.raised()
            if old != s.priority:
                s.record(now, "priority", SYSTEM, f"priority {old} → {s.priority}")
                self._rebudget()
        if step.reassign_to is not None:
            self._escalate_to(
                step.reassign_to,
                self._default_team(step.reassign_to),
                None,
                EscalationType.AUTOMATIC,
                [EscalationReason.SLA_BREACH],
                SYSTEM,
                now,
                note=f"level {level.name}",
                rule=level.name,
            )


__all__ = ["MAX_DUE_AT_ONCE", "TicketWakeUps"]
