"""What goes in and out of a ticket workflow: its input, agent actions (updates), customer
events (signals) and what queries return. One pydantic model per message, shared with the
client, the CLI and the HTTP API, so that bad input is rejected before it reaches Temporal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from statemachine import (
    EscalationReason,
    EscalationRecord,
    EscalationType,
    Policy,
    Priority,
    Ticket,
)
from statemachine.sla import TargetStatus

Actor = Annotated[str, Field(min_length=1, max_length=120, description="who acts")]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenTicket(_Message):
    """Start a ticket. The policy travels with it: a running ticket keeps the policy it opened
    with, and a changed default policy applies to new tickets only."""

    ticket: Ticket
    policy: Policy
    opened_by: str = "host"
    # Continue-as-new once the history reaches this many events (None: when the server
    # suggests it). Small values exercise continue-as-new in tests.
    history_limit: int | None = None


# --- agent and supervisor actions (Temporal updates) -----------------------------------------


class Assign(_Message):
    actor: Actor
    assignee: Annotated[str, Field(min_length=1)]
    team: str | None = None


class Respond(_Message):
    """A reply to the customer: it meets the first-response (or next-response) target."""

    actor: Actor
    message: str = ""


class Escalate(_Message):
    """Hierarchical (up a tier; the next tier when none is named) or functional (to a team)."""

    actor: Actor
    type: Literal[EscalationType.HIERARCHICAL, EscalationType.FUNCTIONAL] = (
        EscalationType.HIERARCHICAL
    )
    tier: str | None = None
    team: str | None = None
    assignee: str | None = None
    reasons: Annotated[list[EscalationReason], Field(min_length=1)]
    note: str = ""


class RequestEscalation(_Message):
    """Ask a supervisor to approve an escalation; the ticket waits in ``approval``."""

    actor: Actor
    tier: str | None = None
    team: str | None = None
    reasons: Annotated[list[EscalationReason], Field(min_length=1)]
    note: str = ""


class Decide(_Message):
    """A supervisor's approval or rejection of a pending escalation request."""

    actor: Actor
    note: str = ""


class SetPriority(_Message):
    actor: Actor
    priority: Priority
    note: str = ""


class AddNote(_Message):
    actor: Actor
    text: Annotated[str, Field(min_length=1, max_length=10_000)]


class WaitCustomer(_Message):
    actor: Actor
    note: str = ""


class Resolve(_Message):
    actor: Actor
    resolution: Annotated[str, Field(min_length=1)]


class Reopen(_Message):
    actor: Actor
    reason: Annotated[str, Field(min_length=1)]


class Close(_Message):
    actor: Actor
    note: str = ""


# --- customer events (signals) ------------------------------------------------------------------


class CustomerReply(_Message):
    message: str = ""


class CustomerFeedback(_Message):
    score: Annotated[int, Field(ge=1, le=5, description="satisfaction, 1 (bad) to 5 (great)")]
    comment: str = ""


# --- what queries and updates return -----------------------------------------------------------


TimelineKind = Literal[
    "opened",
    "triage",
    "transition",
    "assignment",
    "escalation",
    "approval",
    "priority",
    "note",
    "sla",
    "notification",
    "delivery_failure",
    "customer",
    "follow_up",
]


class TimelineEntry(_Message):
    """One line of the ticket's audit trail."""

    at: datetime
    kind: TimelineKind
    actor: str
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)


class SlaView(_Message):
    """One SLA target as agents see it."""

    target: str
    due: datetime | None
    remaining: timedelta | None
    warned: bool
    breached: bool
    met: bool
    paused: bool

    @classmethod
    def of(cls, status: TargetStatus) -> SlaView:
        return cls(
            target=str(status.target),
            due=status.due,
            remaining=status.remaining,
            warned=status.warned,
            breached=status.breached,
            met=status.met,
            paused=status.paused,
        )


class TicketStatus(_Message):
    """The ticket now: what every update returns and the ``status`` query answers."""

    ticket_id: str
    subject: str
    state: str
    tier: str | None
    team: str | None
    assignee: str | None
    followers: list[str]
    priority: Priority
    category: str | None
    customer_status: str
    escalation_level: int
    escalations: int
    last_escalation: EscalationRecord | None
    breached: bool
    sla: list[SlaView]
    allowed_actions: list[str]
    pending_escalation: str | None
    opened_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    feedback_score: int | None
    policy: str
