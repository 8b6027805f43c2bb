"""The standard lifecycle, driven end to end, for Tierflow and for the bare baseline.

Standard lifecycle: open → triage → tier 1 → SLA warning → SLA breach, whose escalation
ladder (level 1: notify the owner, reassign to the next tier) moves the ticket to tier 2 on its
own → the agent resolves it (an update) → follow-up survey after a delay → closed after another
delay with no reply. The driver learns that the ticket reached tier 2 by long-polling its
history for the search-attribute upsert, so it issues no queries (queries are billable).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError

from tierflow.client import ActionRejected, TicketClient
from tierflow.workflows.messages import Resolve

from . import baseline, tickets
from .stats import Summary, summarize

Kind = Literal["tierflow", "baseline"]


@dataclass(frozen=True)
class LifecycleShape:
    """Durations of the standard lifecycle (SLAs of seconds)."""

    resolution: float = 2.0
    warning_fraction: float = 0.5
    tier2_resolution: float = 60.0
    follow_up: float = 1.0


@dataclass
class DriverCounts:
    """What the driver itself sent that is billable but may not show in a history."""

    updates_sent: int = 0
    updates_rejected: int = 0
    queries: int = 0
    signals: int = 0


@dataclass
class BatchResult:
    kind: Kind
    tickets: int
    elapsed: float
    durations: list[float]
    workflow_ids: list[str]
    driver: DriverCounts = field(default_factory=DriverCounts)

    @property
    def per_second(self) -> float:
        return self.tickets / self.elapsed

    def duration_summary(self) -> Summary:
        return summarize(self.durations)


async def wait_for_tier(client: Client, workflow_id: str, tier: str) -> None:
    """Return once the workflow upserted ``TicketTier = tier`` (history long-poll), or, for
    the first tier, once its first workflow task completed when it was started with
    ``TicketTier = tier`` (TicketClient sets a ticket's first attributes at start)."""
    want = f'"{tier}"'.encode()
    upsert = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    started_in_tier = False
    handle = client.get_workflow_handle(workflow_id)
    async for e in handle.fetch_history_events(wait_new_event=True):
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            fields = e.workflow_execution_started_event_attributes.search_attributes
            value = fields.indexed_fields.get("TicketTier")
            started_in_tier = value is not None and value.data == want
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and started_in_tier:
            return
        elif e.event_type == upsert:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
            value = fields.indexed_fields.get("TicketTier")
            if value is not None and value.data == want:
                return
    raise RuntimeError(f"{workflow_id} ended before reaching {tier}")


async def _tierflow_one(
    client: Client,
    task_queue: str,
    shape: LifecycleShape,
    counts: DriverCounts,
    gate: asyncio.Semaphore,
) -> str:
    tc = TicketClient(client, task_queue)
    t = tickets.ticket("L")
    policy = tickets.policy(
        timedelta(seconds=shape.resolution),
        follow_up=timedelta(seconds=shape.follow_up),
        warning_fraction=shape.warning_fraction,
        tier2_resolution=f"{shape.tier2_resolution}s",
    )
    async with gate:
        opened = await tc.open(t, policy)
    await wait_for_tier(client, opened.workflow_id, "tier2")
    counts.updates_sent += 1
    try:
        # Escalated automatically to tier2/technical: its agent resolves it (Jo Park, frontline,
        # no longer reaches it).
        await tc.resolve(t.id, Resolve(actor="Robin Ortiz", resolution="reset the password"))
    except ActionRejected:
        counts.updates_rejected += 1
        raise
    await client.get_workflow_handle(opened.workflow_id).result()
    return opened.workflow_id


async def _baseline_one(
    client: Client,
    task_queue: str,
    shape: LifecycleShape,
    counts: DriverCounts,
    gate: asyncio.Semaphore,
) -> str:
    spec = baseline.BaselineSpec(
        warning=shape.resolution * shape.warning_fraction,
        breach=shape.resolution,
        tier2_warning=shape.tier2_resolution * shape.warning_fraction,
        follow_up=shape.follow_up,
    )
    async with gate:
        handle = await tickets.start_baseline(client, spec, task_queue, "BL")
    workflow_id = handle.id
    await wait_for_tier(client, workflow_id, "tier2")
    counts.updates_sent += 1
    try:
        await handle.execute_update(baseline.BaselineTicket.resolve, "reset the password")
    except WorkflowUpdateFailedError:
        counts.updates_rejected += 1
        raise
    await handle.result()
    return workflow_id


async def run_batch(
    kind: Kind,
    client: Client,
    task_queue: str,
    count: int,
    *,
    shape: LifecycleShape | None = None,
    concurrency: int = 64,
    progress: Callable[[], None] | None = None,
) -> BatchResult:
    """Drive ``count`` standard lifecycles at once; at most ``concurrency`` opens in flight."""
    shape = shape or LifecycleShape()
    counts = DriverCounts()
    gate = asyncio.Semaphore(concurrency)
    one: Callable[
        [Client, str, LifecycleShape, DriverCounts, asyncio.Semaphore], Awaitable[str]
    ] = _tierflow_one if kind == "tierflow" else _baseline_one
    durations: list[float] = []

    async def drive() -> str:
        began = time.monotonic()
        # The gate bounds concurrent opens only; the rest of a lifecycle waits on timers.
        workflow_id = await one(client, task_queue, shape, counts, gate)
        durations.append(time.monotonic() - began)
        if progress is not None:
            progress()
        return workflow_id

    start = time.monotonic()
    ids = await asyncio.gather(*(drive() for _ in range(count)))
    elapsed = time.monotonic() - start
    return BatchResult(kind, count, elapsed, durations, list(ids), counts)
