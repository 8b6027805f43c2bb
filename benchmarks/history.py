"""Reading workflow histories: billable actions and escalation lateness, from the real events."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

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


def billable(events: Sequence[HistoryEvent]) -> Counter[str]:
    """Billable actions visible in one history, by kind; activities count every attempt.

    An activity's attempts are read from its started event (retries are not separate events
    until the last one); a scheduled activity that never started counts once.
    """
    counts: Counter[str] = Counter()
    attempts: dict[int, int] = {}
    for e in events:
        kind = _BILLABLE.get(e.event_type)
        if kind is not None:
            counts[kind] += 1
        if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attempts[e.event_id] = 1
        elif e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = e.activity_task_started_event_attributes
            attempts[a.scheduled_event_id] = max(1, a.attempt)
    counts["activity_attempts"] = sum(attempts.values())
    return counts


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
    """When a ticket's SLA breach timer was due, fired, and was acted on."""

    deadline: datetime
    fired: datetime
    acted: datetime
    committed: datetime

    def late(self, moment: datetime) -> float:
        return (moment - self.deadline).total_seconds()


def breach_escalation(events: Sequence[HistoryEvent], marker: str = "breach (tier1)") -> Escalation:
    """The first SLA breach of the ticket, read from its history alone.

    The deadline is the one the workflow computed: its timer's delay is ``deadline - now``,
    where ``now`` is the start time of the workflow task that armed it, so the deadline is
    that start time plus the delay. ``acted`` is the start of the workflow task that handled the
    fired timer (the escalation record's ``at``); ``committed`` is when that task's result,
    the escalation, was written to the history.
    """
    task_started: datetime | None = None
    timer_id: str | None = None
    deadline: datetime | None = None
    fired: datetime | None = None
    acted: datetime | None = None
    for e in events:
        t = e.event_type
        if t == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            task_started = _time(e)
            if fired is not None and acted is None:
                acted = task_started
        elif t == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and acted is not None:
            assert deadline is not None
            assert fired is not None
            return Escalation(deadline, fired, acted, _time(e))
        elif t == E.EVENT_TYPE_WORKFLOW_TASK_FAILED or t == E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            if acted is not None:
                acted = None  # that attempt did not count; the next one acts
        elif t == E.EVENT_TYPE_TIMER_STARTED and timer_id is None and marker in _summary(e):
            assert task_started is not None
            a = e.timer_started_event_attributes
            timer_id = a.timer_id
            delay: timedelta = a.start_to_fire_timeout.ToTimedelta()
            deadline = task_started + delay
        elif (
            t == E.EVENT_TYPE_TIMER_FIRED
            and fired is None
            and timer_id is not None
            and e.timer_fired_event_attributes.timer_id == timer_id
        ):
            fired = _time(e)
    raise ValueError(f"no completed escalation for a timer {marker!r} in this history")
