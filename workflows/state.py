"""The ticket workflow's whole state in one serialisable object.

It is what queries read, what continue-as-new carries to the next run, and what the
workflow's handlers change. Everything in it is plain data (pydantic), so a run rebuilt from
history or continued as new sees exactly what the previous one saw.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from statemachine import EscalationRecord, MachineState, Policy, Priority, Ticket
from statemachine.sla import SlaClock

from .messages import OpenTicket, TimelineEntry, TimelineKind


class PendingRequest(BaseModel):
    """An escalation waiting for a supervisor's decision."""

    actor: str
    tier: str
    team: str | None
    reasons: list[str]
    note: str
    at: datetime


class TicketState(BaseModel):
    """Everything one ticket knows about itself."""

    ticket: Ticket
    policy: Policy
    opened_by: str
    opened_at: datetime
    machine: MachineState = Field(default_factory=MachineState)
    priority: Priority
    category: str | None = None
    tier: str | None = None
    team: str | None = None
    assignee: str | None = None
    # Agents who escalated stay responsible and are kept informed until the end.
    followers: list[str] = Field(default_factory=list)
    responded: bool = False
    clock: SlaClock = Field(default_factory=SlaClock)
    # Escalation levels fired so far; the next breach continues from here.
    level_index: int = 0
    breach_at: datetime | None = None
    escalations: list[EscalationRecord] = Field(default_factory=list)
    pending: PendingRequest | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # Numbers side effects, so that each one's idempotency key is stable across retries,
    # replays and continue-as-new.
    effect_seq: int = 0
    resolved_at: datetime | None = None
    survey_due: datetime | None = None
    survey_sent_at: datetime | None = None
    close_due: datetime | None = None
    closed_at: datetime | None = None
    feedback_score: int | None = None
    runs: int = 1

    @classmethod
    def opening(cls, start: OpenTicket, now: datetime) -> TicketState:
        return cls(
            ticket=start.ticket,
            policy=start.policy,
            opened_by=start.opened_by,
            opened_at=now,
            priority=start.ticket.priority,
            category=start.ticket.category,
        )

    @property
    def breached(self) -> bool:
        return any(t.breached and not t.met for t in self.clock.clocks.values())

    def record(
        self, at: datetime, kind: TimelineKind, actor: str, summary: str, **data: Any
    ) -> TimelineEntry:
        entry = TimelineEntry(at=at, kind=kind, actor=actor, summary=summary, data=data)
        self.timeline.append(entry)
        return entry

    def next_effect_id(self) -> str:
        """The id of the next batch of side effects (part of each effect's idempotency key)."""
        self.effect_seq += 1
        return f"{self.effect_seq:04d}-effects"


class TicketRun(BaseModel):
    """The workflow's input: a ticket to open, or the state carried by continue-as-new."""

    open: OpenTicket
    carried: TicketState | None = None
