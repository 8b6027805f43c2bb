"""What goes in and out of a ticket workflow: its input, agent actions (updates), customer
events (signals) and what queries return. One pydantic model per message, shared with the
client, the CLI and the HTTP API, so that bad input is rejected before it reaches Temporal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tierflow.contracts import UNDECODABLE
from tierflow.statemachine import (
    EscalationReason,
    EscalationRecord,
    EscalationType,
    Policy,
    Priority,
    Ticket,
)
from tierflow.statemachine.sharing import policy_json, shared_policy
from tierflow.statemachine.sla import TargetStatus
from tierflow.statemachine.text import REASONS_MAX, ActorName, Line, Name, Note, RequiredNote

Actor = ActorName
# A ticket carries its policy snapshot in every continue-as-new input; this keeps it small.
POLICY_MAX_BYTES = 256 * 1024
Reasons = Annotated[list[EscalationReason], Field(min_length=1, max_length=REASONS_MAX)]


class _Message(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True, extra="forbid", frozen=True)


class OpenTicket(_Message):
    """Start a ticket. The policy travels with it: a running ticket keeps the policy it opened
    with, and a changed default policy applies to new tickets only."""

    ticket: Ticket
    policy: Policy
    opened_by: Actor = "host"
    # Continue-as-new once the history reaches this many events (None: when the server
    # suggests it). Small values exercise continue-as-new in tests.
    history_limit: Annotated[int | None, Field(ge=20, le=50_000)] = None

    @field_validator("policy")
    @classmethod
    def _policy_fits(cls, policy: Policy) -> Policy:
        """A policy that fits in a ticket, shared with every ticket that carries the same
        (one object per process: see statemachine/sharing.py)."""
        json = policy_json(policy)
        size = len(json)
        if size > POLICY_MAX_BYTES:
            raise ValueError(
                f"the policy is {size // 1024} KiB as JSON; at most {POLICY_MAX_BYTES // 1024} "
                "KiB fit in a ticket"
            )
        return shared_policy(policy, json)


# --- agent and supervisor actions (Temporal updates) -----------------------------------------


class AgentAction(_Message):
    """Who acts. ``actor`` is the caller; a service the policy lists (a host system) names the
    person it acts for in ``on_behalf_of``, whose permissions then apply. The workflow's
    validators check both against the ticket's policy (statemachine/permissions.py)."""

    actor: Actor
    on_behalf_of: Actor | None = Field(
        default=None, description="the person a service acts for (the service is the actor)"
    )

    @property
    def acting(self) -> str:
        """The person on whose authority the action runs: recorded as its actor."""
        return self.on_behalf_of or self.actor

    @property
    def via(self) -> str | None:
        """The service that acted for ``acting``, if one did."""
        return self.actor if self.on_behalf_of is not None else None


class Assign(AgentAction):
    assignee: Name
    team: Line | None = None


class Respond(AgentAction):
    """A reply to the customer: it meets the first-response (or next-response) target."""

    message: Note = ""


class Escalate(AgentAction):
    """Hierarchical (up a tier; the next tier when none is named) or functional (to a team)."""

    type: Literal[EscalationType.HIERARCHICAL, EscalationType.FUNCTIONAL] = (
        EscalationType.HIERARCHICAL
    )
    tier: Line | None = None
    team: Line | None = None
    assignee: Line | None = None
    reasons: Reasons
    note: Note = ""


class RequestEscalation(AgentAction):
    """Ask a supervisor to approve an escalation; the ticket waits in ``approval``."""

    tier: Line | None = None
    team: Line | None = None
    reasons: Reasons
    note: Note = ""


class Decide(AgentAction):
    """A supervisor's approval or rejection of a pending escalation request."""

    note: Note = ""


class SetPriority(AgentAction):
    priority: Priority
    note: Note = ""


class AddNote(AgentAction):
    text: RequiredNote


class WaitCustomer(AgentAction):
    note: Note = ""


class Resolve(AgentAction):
    resolution: RequiredNote


class Reopen(AgentAction):
    reason: RequiredNote


class Close(AgentAction):
    note: Note = ""


# --- customer events (signals) ------------------------------------------------------------------


class _CustomerEvent(_Message):
    """A signal's message. A payload no encryption key opened arrives as a stand-in (see
    tierflow/encryption.py, "Quarantine"): it fails as ``undecodable``, and the ticket's
    handler drops it with that word in its log line."""

    @model_validator(mode="before")
    @classmethod
    def _not_a_stand_in(cls, data: Any) -> Any:
        if isinstance(data, dict) and UNDECODABLE in data:
            raise PydanticCustomError("undecodable", "a payload no encryption key opens")
        return data


class CustomerReply(_CustomerEvent):
    message: Note = ""


class CustomerFeedback(_CustomerEvent):
    score: Annotated[int, Field(ge=1, le=5, description="satisfaction, 1 (bad) to 5 (great)")]
    comment: Note = ""


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
    """One line of the ticket's audit trail; ``seq`` numbers it over the ticket's whole life."""

    seq: int = 0
    at: datetime
    kind: TimelineKind
    actor: str
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)
    via: str | None = Field(default=None, description="the service that acted for the actor")


class TimelineQuery(_Message):
    """Which part of a run's timeline to read: the newest entries before ``before``."""

    before: Annotated[int | None, Field(ge=1, description="entries with a smaller seq")] = None


class TimelinePage(_Message):
    """Part of a run's timeline, oldest first: the newest entries before the asked ``seq``
    that fit in one answer, and where to read on."""

    entries: list[TimelineEntry]
    total: int = Field(description="entries recorded over the ticket's whole life")
    more_here: bool = Field(
        description="this run holds older entries than these: ask again before entries[0].seq"
    )
    earlier_run_id: str | None = Field(
        description="the run holding the entries before this run's, if any (query it by run id)"
    )


class SlaView(_Message):
    """One SLA target as agents see it; ``remaining`` is in seconds (negative once overdue)."""

    # A negative ISO 8601 duration is not valid JSON Schema; seconds are plain numbers.
    model_config = ConfigDict(
        hide_input_in_errors=True, extra="forbid", frozen=True, ser_json_timedelta="float"
    )

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
