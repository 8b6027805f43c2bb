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
from collections.abc import Awaitable, Callable
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


# The query the Temporal UI sends to show a workflow's current details on its page.
UI_METADATA_QUERY = "__temporal_workflow_metadata"


@dataclass
class ReadCost:
    """Billable actions of one read of an open ticket: the queries its code path sends (each
    one Temporal Cloud action: "an Action occurs for every Query", the UI's too), and the dev
    server's own action metric over the same call (which leaves out Temporal's built-in
    ``__``-queries, such as the UI's metadata query)."""

    read: str
    path: str
    queries: int
    server_actions: float


async def _metered(server: BenchServer, call: Callable[[], Awaitable[object]]) -> float:
    await asyncio.sleep(_METRIC_DELAY)
    before = server.actions()
    await call()
    await asyncio.sleep(_METRIC_DELAY)
    after = server.actions()
    return sum(after.get(k, 0.0) - before.get(k, 0.0) for k in after)


async def read_costs(server: BenchServer, cache: int, sandbox: bool = True) -> list[ReadCost]:
    """What one UI ticket view, one ``GET /tickets/{id}`` and one ``tierflow report`` row cost,
    each measured alone on one open ticket (a worker runs to answer the queries)."""
    import httpx

    from tierflow.api import create_app
    from tierflow.client import TicketClient, workflow_id_for
    from tierflow.report import fetch_histories

    from .latency import open_tickets

    client = server.client
    async with WorkerProcess(server, "tierflow", cache, sandbox) as worker:
        (ticket_id,) = await open_tickets(client, worker.task_queue, 1)
        tc = TicketClient(client, worker.task_queue)
        handle = client.get_workflow_handle(workflow_id_for(ticket_id))
        app = create_app(tc, insecure_no_auth=True, codec=None)
        app.state.tickets = tc  # the lifespan, which sets it, does not run in-process
        summary = next(s for s in await tc.list() if s.ticket_id == ticket_id)

        async def api_get() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                (await http.get(f"/tickets/{ticket_id}")).raise_for_status()

        async def ui_view() -> None:
            await handle.query(UI_METADATA_QUERY)

        async def report_row() -> None:
            await fetch_histories(tc, [summary])

        return [
            ReadCost(
                "UI ticket view",
                f"the UI's {UI_METADATA_QUERY} query (current details); history and "
                "describe are reads",
                1,
                await _metered(server, ui_view),
            ),
            ReadCost(
                "GET /tickets/{id}",
                "TicketClient.status: one `status` query",
                1,
                await _metered(server, api_get),
            ),
            ReadCost(
                "tierflow report row",
                "fetch_histories: one `status` query and one `timeline_page` query per run "
                "(a ticket that never continued as new: one); the listing is a visibility read",
                2,
                await _metered(server, report_row),
            ),
        ]
