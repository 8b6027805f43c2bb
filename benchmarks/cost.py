"""Billable actions per standard lifecycle, counted from real histories.

Temporal Cloud bills, per workflow: its start, every timer, every activity attempt, every
signal, every update (accepted or rejected), every query, every search-attribute upsert
after the start, continue-as-new, and every activity heartbeat that reaches the server.
Histories show all but three: rejected updates and queries (counted by the driver) and
heartbeats (counted by the server itself: the dev server's ``action`` metric, which also
serves as a cross-check of the history count).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from temporalio.client import Client

from . import history
from .lifecycle import BatchResult, Kind, LifecycleShape, run_batch
from .server import BenchServer, WorkerProcess

HEARTBEAT = "grpc_RecordActivityTaskHeartbeat"
# The metric is reported a moment after the fact.
_METRIC_DELAY = 2.5

ORDER = (
    "workflow_started",
    "timers",
    "activity_attempts",
    "heartbeats",
    "search_attribute_upserts",
    "updates_accepted",
    "updates_rejected",
    "signals",
    "queries",
    "continue_as_new",
    "child_workflows",
    "markers",
    "signals_sent",
)


@dataclass
class CostResult:
    kind: Kind
    lifecycles: int
    per_lifecycle: dict[str, float]
    events_per_ticket: float
    server_actions_per_lifecycle: dict[str, float] = field(default_factory=dict)
    # workflow.patched markers and their TemporalChangeVersion upserts: the server's metric
    # counts them, Temporal Cloud does not bill them (so they are not in the total).
    patch_bookkeeping_per_lifecycle: float = 0.0

    @property
    def total(self) -> float:
        return sum(self.per_lifecycle.values())

    @property
    def server_total(self) -> float:
        return sum(self.server_actions_per_lifecycle.values())


async def measure(
    kind: Kind, server: BenchServer, client: Client, batch: BatchResult, before: dict[str, float]
) -> CostResult:
    """Count the batch's actions from its histories, the driver and the server's metric."""
    await asyncio.sleep(_METRIC_DELAY)
    after = server.actions()
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    totals: Counter[str] = Counter()
    events = 0
    for workflow_id in batch.workflow_ids:
        evs = await history.fetch(client, workflow_id)
        events += len(evs)
        totals.update(history.billable(evs))
    n = batch.tickets
    totals["heartbeats"] = round(delta.get(HEARTBEAT, 0.0))
    totals["updates_rejected"] = batch.driver.updates_rejected
    totals["queries"] = batch.driver.queries
    totals["signals"] += 0  # the driver sends none in the standard lifecycle
    per = {k: totals.get(k, 0) / n for k in ORDER}
    return CostResult(
        kind=kind,
        lifecycles=n,
        per_lifecycle=per,
        patch_bookkeeping_per_lifecycle=totals.get("patch_bookkeeping", 0) / n,
        events_per_ticket=events / n,
        server_actions_per_lifecycle={k: v / n for k, v in sorted(delta.items()) if v},
    )


async def run(
    server: BenchServer,
    kind: Kind,
    lifecycles: int,
    cache: int,
    shape: LifecycleShape | None = None,
    sandbox: bool = True,
) -> CostResult:
    """Drive ``lifecycles`` standard lifecycles alone on the server and count their cost."""
    client = server.client if kind == "tierflow" else server.plain
    await asyncio.sleep(_METRIC_DELAY)  # let earlier phases' actions reach the metric
    before = server.actions()
    async with WorkerProcess(server, kind, cache, sandbox) as worker:
        batch = await run_batch(kind, client, worker.task_queue, lifecycles, shape=shape)
    return await measure(kind, server, client, batch, before)
