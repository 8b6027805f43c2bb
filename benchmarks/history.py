"""Reading workflow histories: billable actions and escalation lateness, from the real events."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from tierflow.statemachine.durations import parse_duration

E = EventType

# History events that are Temporal Cloud actions, by the name the report uses.
_BILLABLE = {
    E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow_started",
    E.EVENT_TYPE_TIMER_STARTED: "timers",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signals",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "updates_accepted",
    E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "search_attribute_upserts",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continue_as_new",
    E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "child_workflows",
    E.EVENT_TYPE_MARKER_RECORDED: "markers",
    E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "signals_sent",
}


async def fetch(client: Client, workflow_id: str) -> list[HistoryEvent]:
    """Every event of the workflow's latest run."""
    return [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]


async def first_tasks_done(client: Client, workflow_ids: Sequence[str], *, until: float) -> bool:
    """Wait until each of ``workflow_ids`` completed its first workflow task, or the epoch
    moment ``until``; True if they all did.

    A ticket opened by TicketClient starts in its tier already (attributes at start), so no
    count of tickets per tier tells that its first task ran; the last tickets opened do, as
    first tasks are taken from the queue in about the order they came."""

    async def first_task(workflow_id: str) -> None:
        handle = client.get_workflow_handle(workflow_id)
        async for e in handle.fetch_history_events(wait_new_event=True):
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                return

    budget = until - time.time()
    if budget <= 0:
        return False
    try:
        async with asyncio.timeout(budget):
            await asyncio.gather(*(first_task(w) for w in workflow_ids))
    except TimeoutError:
        return False
    return True


def billable(events: Sequence[HistoryEvent]) -> Counter[str]:
    """Billable actions visible in one history, by kind; activities count every attempt.

    An activity's attempts are read from its started event (retries are not separate events
    until the last one); a scheduled activity that never started counts once.
    """
    counts: Counter[str] = Counter()
    attempts: dict[int, int] = {}
    # The server records the markers of one workflow task as one batch (its action metric's
    # ``command_BatchMarkers``): two patches first met in the same task are one marker action.
    # A batch with a local activity's marker is billable (Cloud bills a task's local
    # activities as one action) even when patch markers share it.
    marker_tasks: dict[int, str] = {}
    for e in events:
        kind = _BILLABLE.get(e.event_type)
        if kind is not None and e.event_type == E.EVENT_TYPE_MARKER_RECORDED:
            task = e.marker_recorded_event_attributes.workflow_task_completed_event_id
            counted = marker_tasks.get(task)
            if counted == "patch_bookkeeping" and not _patch_bookkeeping(e):
                counts[counted] -= 1
            elif counted is not None:
                continue
            marker_tasks[task] = "patch_bookkeeping" if _patch_bookkeeping(e) else kind
        if kind is not None:
            counts["patch_bookkeeping" if _patch_bookkeeping(e) else kind] += 1
        if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attempts[e.event_id] = 1
        elif e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = e.activity_task_started_event_attributes
            attempts[a.scheduled_event_id] = max(1, a.attempt)
    counts["activity_attempts"] = sum(attempts.values())
    return counts


# A ``workflow.patched`` marker and the upsert of ``TemporalChangeVersion`` that goes with it:
# bookkeeping of workflow versioning, which Temporal Cloud does not bill.
_PATCH_MARKER = "core_patch"
_CHANGE_VERSION = "TemporalChangeVersion"


def _patch_bookkeeping(e: HistoryEvent) -> bool:
    if e.event_type == E.EVENT_TYPE_MARKER_RECORDED:
        return e.marker_recorded_event_attributes.marker_name == _PATCH_MARKER
    if e.event_type == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
        return set(fields.indexed_fields) == {_CHANGE_VERSION}
    return False


def _time(e: HistoryEvent) -> datetime:
    return e.event_time.ToDatetime()


def _summary(e: HistoryEvent) -> str:
    data = e.user_metadata.summary.data
    if not data:
        return ""
    value = json.loads(data)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Escalation:
    """When a ticket's tier-1 resolution target was due, and when it escalated (None: not yet).

    ``fired`` is when the timer that woke the escalating workflow task fired (the breach timer,
    or the warning timer when that one was already past the deadline), ``acted`` the start of
    that task (the escalation record's ``at``), ``committed`` when its result was written.
    """

    deadline: datetime
    fired: datetime | None = None
    acted: datetime | None = None
    committed: datetime | None = None

    def late(self, moment: datetime) -> float:
        return (moment - self.deadline).total_seconds()


def _resolution_budget(started: HistoryEvent) -> timedelta:
    """The tier-1 resolution target in the ticket's input (the benchmark's policies give every
    priority the same one, so triage cannot change it); a bare baseline's ``breach``."""
    payload = started.workflow_execution_started_event_attributes.input.payloads[0]
    run = json.loads(payload.data)
    if "breach" in run:  # benchmarks.baseline.BaselineSpec
        return timedelta(seconds=run["breach"])
    targets = run["open"]["policy"]["sla"]["targets"]
    budgets = {parse_duration(t["resolution"]) for t in targets.values()}
    if len(budgets) != 1:
        raise ValueError("the ticket's policy has different resolution targets per priority")
    return budgets.pop()


def tier_of(e: HistoryEvent) -> str | None:
    fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
    value = fields.indexed_fields.get("TicketTier")
    if value is None:
        return None
    tier = json.loads(value.data)
    return tier if isinstance(tier, str) else None


def breach_escalation(events: Sequence[HistoryEvent]) -> Escalation:
    """The ticket's first automatic escalation to tier 2, read from its history alone.

    The deadline is the one the workflow computes: the SLA clock starts when the workflow was
    started (the first event) and runs for the tier-1 resolution target of the ticket's policy
    (the benchmark's calendar is always open). The escalation is the workflow task whose
    commands upsert ``TicketTier = tier2``.
    """
    if not events or events[0].event_type != E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        raise ValueError("not a complete history")
    budget = _resolution_budget(events[0])
    deadline = _time(events[0]) + budget
    fired: datetime | None = None
    acted: datetime | None = None
    committed: datetime | None = None
    for e in events:
        t = e.event_type
        if t == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            acted = _time(e)
        elif t == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            committed = _time(e)
        elif t == E.EVENT_TYPE_TIMER_FIRED:
            fired = _time(e)
        elif t == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES and tier_of(e) == "tier2":
            return Escalation(deadline, fired, acted, committed)
    return Escalation(deadline)
