"""The ticket workflow's whole state in one serialisable object.

It is what queries read, what continue-as-new carries to the next run, and what the
workflow's handlers change. Everything in it is plain data (pydantic), so a run rebuilt from
history or continued as new sees exactly what the previous one saw.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tierflow.contracts import EffectBatch
from tierflow.statemachine import EscalationRecord, MachineState, Policy, Priority, Ticket
from tierflow.statemachine.sharing import shared_policy
from tierflow.statemachine.sla import SlaClock
from tierflow.workflows.messages import OpenTicket, TimelineEntry, TimelineKind
from tierflow.workflows.outbox.failing import FailingDelivery

# How much of its past a ticket carries in memory and into each continue-as-new input. A run
# continues as new once its timeline reaches RUN_TIMELINE_BYTES (so a ``timeline`` query stays
# far below Temporal's 2 MB); the next run starts with the most recent entries, up to
# CARRIED_TIMELINE_BYTES, and the rest stay in the earlier runs, readable by run id.
RUN_TIMELINE_BYTES = 512 * 1024
RUN_TIMELINE_ENTRIES = 2_000
CARRIED_TIMELINE_BYTES = 64 * 1024
CARRIED_TIMELINE_ENTRIES = 50
CARRIED_ESCALATIONS_BYTES = 64 * 1024
CARRIED_ESCALATIONS = 20
MAX_FOLLOWERS = 20


def _size(entry: BaseModel) -> int:
    """An entry's size as JSON, the form in which Temporal carries it."""
    return len(entry.model_dump_json().encode())


def _recent(items: list[Any], max_items: int, max_bytes: int) -> list[Any]:
    """The newest of ``items`` (at least one, if any), within both bounds, oldest first."""
    kept: list[Any] = []
    total = 0
    for item in reversed(items[-max_items:]):
        total += _size(item)
        if kept and total > max_bytes:
            break
        kept.append(item)
    kept.reverse()
    return kept


# One answer of a timeline query holds at most this much (Temporal refuses 2 MB).
PAGE_BYTES = 512 * 1024
PAGE_ENTRIES = 1_000


class PendingRequest(BaseModel):
    """An escalation waiting for a supervisor's decision."""

    model_config = ConfigDict(hide_input_in_errors=True)

    actor: str
    tier: str
    team: str | None
    reasons: list[str]
    note: str
    at: datetime
    via: str | None = None  # the service that asked for ``actor``


# Update ids a ticket remembers (about 200 ids of 36 characters: a few KiB of the carried state).
# A caller resends an update within seconds of the run handing over, far fewer than this apart.
UPDATE_IDS_KEPT = 200


class TicketState(BaseModel):
    """Everything one ticket knows about itself."""

    model_config = ConfigDict(hide_input_in_errors=True)

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
    # Agents who escalated stay responsible and are kept informed until the end (the most
    # recent MAX_FOLLOWERS of them).
    followers: list[str] = Field(default_factory=list)
    responded: bool = False
    clock: SlaClock = Field(default_factory=SlaClock)
    # Escalation levels fired so far; the next breach continues from here.
    level_index: int = 0
    breach_at: datetime | None = None
    # The most recent escalations; ``escalations_earlier`` counts those left in earlier runs.
    escalations: list[EscalationRecord] = Field(default_factory=list)
    escalations_earlier: int = 0
    pending: PendingRequest | None = None
    # The timeline of this run, after the most recent entries of the runs before it.
    # ``timeline_total`` numbers every entry ever recorded (an entry's ``seq``);
    # ``timeline_bytes`` is the size of ``timeline``; ``earlier_run_id`` is the run that holds
    # the entries before ``timeline[0]``.
    timeline: list[TimelineEntry] = Field(default_factory=list)
    timeline_total: int = 0
    timeline_bytes: int = 0
    earlier_run_id: str | None = None
    # Continue-as-new once the history is this long (None: when the server suggests it).
    history_limit: int | None = None
    # Effects planned while the run drained before continuing as new; the next run sends
    # them first.
    undelivered: list[EffectBatch] = Field(default_factory=list)
    # Items that failed transiently, retried on the ticket's own timer until their horizon
    # (oldest first, at most MAX_FAILING_DELIVERIES); see ``workflows/outbox/``.
    failing: list[FailingDelivery] = Field(default_factory=list)
    # Outages so far (a stretch with failing items), retry rounds of the current one, and
    # items given up (past the horizon, dropped by an operator or by the cap).
    delivery_outages: int = 0
    delivery_rounds: int = 0
    deliveries_given_up: int = 0
    # The worker's TIERFLOW_DELIVERY_HORIZON, as the last effects activity reported it.
    delivery_horizon_seconds: float = 86_400.0
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
    # Ids of the updates (agents' actions, customer events) applied lately, newest last, carried
    # into the next run: Temporal deduplicates an update id within one run only, and a caller
    # that did not see its update's outcome before the run handed over sends it again (same
    # id) to the next run, which must not apply it twice. Bounded: UPDATE_IDS_KEPT.
    applied_updates: list[str] = Field(default_factory=list)

    @field_validator("policy")
    @classmethod
    def _shared_policy(cls, policy: Policy) -> Policy:
        """One policy object per process for every ticket that carries the same one: a
        carried state decodes its own copy, which would otherwise stay with the ticket."""
        return shared_policy(policy)

    @model_validator(mode="after")
    def _number_older_timelines(self) -> TicketState:
        """State carried by tickets from before entries were numbered: number them now."""
        if self.timeline_total < len(self.timeline):
            self.timeline = [
                e.model_copy(update={"seq": i + 1}) for i, e in enumerate(self.timeline)
            ]
            self.timeline_total = len(self.timeline)
            self.timeline_bytes = sum(_size(e) for e in self.timeline)
        return self

    @classmethod
    def opening(cls, start: OpenTicket, now: datetime) -> TicketState:
        return cls(
            ticket=start.ticket,
            policy=start.policy,
            opened_by=start.opened_by,
            opened_at=now,
            priority=start.ticket.priority,
            category=start.ticket.category,
            history_limit=start.history_limit,
        )

    @property
    def breached(self) -> bool:
        return any(t.breached and not t.met for t in self.clock.clocks.values())

    @property
    def escalation_count(self) -> int:
        """Escalations over the ticket's whole life."""
        return self.escalations_earlier + len(self.escalations)

    @property
    def timeline_full(self) -> bool:
        """This run's timeline has reached its budget: time to continue as new."""
        return (
            self.timeline_bytes >= RUN_TIMELINE_BYTES or len(self.timeline) >= RUN_TIMELINE_ENTRIES
        )

    def record(
        self,
        at: datetime,
        kind: TimelineKind,
        actor: str,
        summary: str,
        *,
        via: str | None = None,
        **data: Any,
    ) -> TimelineEntry:
        """Add an entry to the timeline; ``via`` is the service that acted for ``actor``."""
        self.timeline_total += 1
        entry = TimelineEntry(
            seq=self.timeline_total,
            at=at,
            kind=kind,
            actor=actor,
            summary=summary,
            data=data,
            via=via,
        )
        self.timeline.append(entry)
        self.timeline_bytes += _size(entry)
        return entry

    def timeline_before(self, before: int | None) -> tuple[list[TimelineEntry], bool]:
        """The newest entries of this run before ``seq`` ``before`` that fit in one answer,
        oldest first, and whether this run holds older ones still."""
        older = [e for e in self.timeline if before is None or e.seq < before]
        page = _recent(older, PAGE_ENTRIES, PAGE_BYTES)
        return page, len(page) < len(older)

    def follow(self, actor: str) -> None:
        """``actor`` is kept informed until the end (only the most recent followers are)."""
        if actor in self.followers:
            return
        self.followers = [*self.followers, actor][-MAX_FOLLOWERS:]

    def carried(self, run_id: str) -> TicketState:
        """What the next run starts from: this state with only the recent past.

        Entries and escalations left out stay in this run (``run_id``), where the ``timeline``
        and ``escalations`` queries still answer them.
        """
        timeline = _recent(self.timeline, CARRIED_TIMELINE_ENTRIES, CARRIED_TIMELINE_BYTES)
        escalations = _recent(self.escalations, CARRIED_ESCALATIONS, CARRIED_ESCALATIONS_BYTES)
        return self.model_copy(
            update={
                "timeline": timeline,
                "timeline_bytes": sum(_size(e) for e in timeline),
                "earlier_run_id": run_id,
                "escalations": escalations,
                "escalations_earlier": self.escalation_count - len(escalations),
                "runs": self.runs + 1,
            }
        )

    def applied(self, update_id: str) -> bool:
        """Whether the update ``update_id`` was applied already (in this run or a recent one)."""
        return update_id in self.applied_updates

    def remember_update(self, update_id: str) -> None:
        """Keep ``update_id`` among the applied ones (the oldest forgotten past the bound)."""
        self.applied_updates.append(update_id)
        del self.applied_updates[:-UPDATE_IDS_KEPT]

    def next_effect_id(self) -> str:
        """The id of the next batch of side effects (part of each effect's idempotency key)."""
        self.effect_seq += 1
        return f"{self.effect_seq:04d}-effects"


class TicketRun(BaseModel):
    """The workflow's input: a ticket to open, or the state carried by continue-as-new.

    Runs continued as new carry only ``carried`` (the policy travels once, inside it); tickets
    continued by earlier versions carry ``open`` as well.
    """

    model_config = ConfigDict(hide_input_in_errors=True)

    open: OpenTicket | None = None
    carried: TicketState | None = None

    @model_validator(mode="after")
    def _one_of(self) -> TicketRun:
        if self.open is None and self.carried is None:
            raise ValueError("a ticket run needs a ticket to open or a carried state")
        return self
