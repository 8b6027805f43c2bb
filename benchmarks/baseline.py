"""The bare-Temporal baseline: the standard ticket lifecycle's shape without Tierflow.

The same timers (SLA warning, SLA breach, the tier-2 target armed then cancelled on resolve,
the follow-up survey, closing after the follow-up), the same ``resolve`` update, the same
activities at the same moments and the same search-attribute upserts, so that both histories
have the same shape. What it leaves out is what Tierflow adds on top: the state machine, the
pydantic models and converter, the effect planner and structlog. It runs with Temporal's
default JSON converter.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

TICKET_STATE = SearchAttributeKey.for_keyword("TicketState")
TICKET_TIER = SearchAttributeKey.for_keyword("TicketTier")


@dataclass
class BaselineSpec:
    """Durations of one lifecycle, in seconds."""

    warning: float
    breach: float
    tier2_warning: float
    follow_up: float


@activity.defn(name="baseline_effects")
async def baseline_effects(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Pretend to deliver the event's messages: one note per recipient, no I/O."""
    return [{"to": r, "event": event["event"], "status": "skipped"} for r in event["to"]]


def initial_attributes() -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [SearchAttributePair(TICKET_STATE, "new"), SearchAttributePair(TICKET_TIER, "none")]
    )


@workflow.defn(name="BaselineTicket")
class BaselineTicket:
    """A ticket's lifecycle in plain Temporal."""

    def __init__(self) -> None:
        self.resolved = False
        self.effects: list[asyncio.Task[list[dict[str, Any]]]] = []

    def _effect(self, event: str, *to: str) -> None:
        self.effects.append(
            asyncio.create_task(
                workflow.execute_activity(
                    baseline_effects,
                    {"event": event, "to": list(to)},
                    start_to_close_timeout=timedelta(seconds=30),
                )
            )
        )

    def _index(self, state: str, tier: str | None = None) -> None:
        updates = [TICKET_STATE.value_set(state)]
        if tier is not None:
            updates.append(TICKET_TIER.value_set(tier))
        workflow.upsert_search_attributes(updates)

    async def _wait(self, seconds: float) -> bool:
        """Wait ``seconds`` or until resolved; True when resolved."""
        try:
            await workflow.wait_condition(lambda: self.resolved, timeout=max(seconds, 0.001))
        except TimeoutError:
            return False
        return True

    def _until(self, offset: float) -> float:
        """Seconds from now to ``offset`` seconds after the workflow started: as Tierflow's
        SLA clock, the deadlines are absolute, so a late wake-up does not push the next."""
        started = workflow.info().workflow_start_time
        return offset - (workflow.now() - started).total_seconds()

    @workflow.run
    async def run(self, spec: BaselineSpec) -> str:
        self._index("tier1", "tier1")
        self._effect("landed", "queue", "owner", "customer", "sync")
        if not await self._wait(self._until(spec.warning)):
            self._effect("breach_warning", "owner", "lead", "sync")
            if not await self._wait(self._until(spec.breach)):
                self._index("tier2", "tier2")
                self._effect("breach", "owner", "lead", "queue", "customer", "sync")
                await self._wait(spec.tier2_warning)
        self._index("resolved")
        self._effect("resolved", "customer", "sync")
        await workflow.sleep(spec.follow_up)
        self._effect("survey", "customer", "sync")
        await workflow.sleep(spec.follow_up)
        self._index("closed")
        self._effect("closed", "sync")
        await asyncio.gather(*self.effects)
        return "closed"

    @workflow.update
    def resolve(self, resolution: str) -> str:
        self.resolved = True
        return "resolved"

    @resolve.validator
    def _check_resolve(self, resolution: str) -> None:
        if self.resolved:
            raise ValueError("already resolved")


@dataclass
class AgentView:
    """What a bare update answers: the ticket's new state."""

    notes: int
    assignee: str | None


@workflow.defn(name="BaselineAgentTicket")
class BaselineAgentTicket:
    """An open ticket agents act on, in plain Temporal: updates that validate, change the
    state and answer it (as Tierflow's ``note`` and ``assign``).

    With ``notify_assignee``, an assignment also tells the new assignee and the host, in one
    activity the answer does not wait for: the work Tierflow's ``assign`` does (its policy
    notifies on assignment and syncs the host), so that this shape costs the same tasks.
    """

    @workflow.init
    def __init__(self, notify_assignee: bool = False) -> None:
        self.notes: list[str] = []
        self.assignee: str | None = None
        self.notify_assignee = notify_assignee
        self.effects: set[asyncio.Task[list[dict[str, Any]]]] = set()

    @workflow.run
    async def run(self, notify_assignee: bool = False) -> None:
        workflow.upsert_search_attributes(
            [TICKET_STATE.value_set("tier1"), TICKET_TIER.value_set("tier1")]
        )
        await workflow.wait_condition(lambda: False)

    def _view(self) -> AgentView:
        return AgentView(len(self.notes), self.assignee)

    @workflow.update
    def note(self, text: str) -> AgentView:
        self.notes.append(text)
        return self._view()

    @note.validator
    def _check_note(self, text: str) -> None:
        if not text.strip():
            raise ValueError("empty note")

    @workflow.update
    def assign(self, assignee: str) -> AgentView:
        self.assignee = assignee
        if self.notify_assignee:
            task = asyncio.create_task(
                workflow.execute_activity(
                    baseline_effects,
                    {"event": "assigned", "to": [assignee, "sync"]},
                    start_to_close_timeout=timedelta(seconds=30),
                )
            )
            self.effects.add(task)
            task.add_done_callback(self.effects.discard)
        return self._view()

    @assign.validator
    def _check_assign(self, assignee: str) -> None:
        if not assignee.strip():
            raise ValueError("nobody to assign")
