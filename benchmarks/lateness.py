"""Escalation lateness with many open tickets, and the worker's memory meanwhile.

All tickets are opened first (concurrently, bounded), each with a tier-1 resolution target
chosen so that its deadline falls in a window that starts after the opening: deadlines are
spread evenly over ``spread`` seconds. Each breach fires level 1 of the escalation ladder,
which reassigns the ticket to tier 2. Lateness is then read from every ticket's history: the
moment the workflow escalated minus the deadline the workflow itself computed.

The bare baseline (``kind="baseline"``) runs the same shape in plain Temporal: one
:class:`~benchmarks.baseline.BaselineTicket` per ticket, its warning and breach timers at the
same absolute moments (from the workflow's start), each wake-up running one activity, the
breach upserting ``TicketTier = tier2``; its lateness is read from its history the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from tierflow.client import TicketClient, workflow_id_for

from . import baseline, history, tickets
from .lifecycle import Kind
from .server import WorkerProcess

# How many of the last tickets opened are awaited until their first task ran (the slack).
SETTLED_SAMPLE = 20

# The warning fires at this fraction of the resolution target, for both kinds.
WARNING_FRACTION = 0.75
# The baseline's tier-2 wait after its breach: longer than any run.
_BASELINE_NEVER = 30 * 86400.0


@dataclass
class LatenessResult:
    kind: Kind
    tickets: int
    cache: int
    spread: float
    lead: float
    open_seconds: float
    # Deadline of the first ticket minus the moment every ticket sat in tier 1 (>0: all
    # tickets were open and idle before the first deadline).
    slack: float
    clamped: int
    acted: list[float] = field(default_factory=list)
    committed: list[float] = field(default_factory=list)
    fired: list[float] = field(default_factory=list)
    # Tickets not escalated when the run stopped waiting, and how late each was by then.
    missing: int = 0
    not_yet_late: list[float] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    rss_checkpoints: dict[str, float] = field(default_factory=dict)


def auto_lead(count: int) -> float:
    """Seconds from the start of opening to the first deadline, from a conservative open rate."""
    return max(10.0, 20.0 + count / 40)


async def count_in(client: Client, task_queue: str, tier: str) -> int:
    query = f"TaskQueue = '{task_queue}' AND TicketTier = '{tier}'"
    return (await client.count_workflows(query)).count


Opener = Callable[[float, float], Awaitable[str]]


def opener(kind: Kind, client: Client, task_queue: str) -> Opener:
    """How one ticket of ``kind`` is opened with its SLA warning ``warning`` seconds and its
    breach ``budget`` seconds after its start; the opener returns the workflow id."""
    if kind == "tierflow":
        tc = TicketClient(client, task_queue)

        async def open_tierflow(budget: float, warning: float) -> str:
            policy = tickets.policy(timedelta(seconds=budget), warning_fraction=warning / budget)
            t = tickets.ticket("S")
            await tc.open(t, policy)
            return workflow_id_for(t.id)

        return open_tierflow

    async def open_baseline(budget: float, warning: float) -> str:
        spec = baseline.BaselineSpec(
            warning=warning,
            breach=budget,
            tier2_warning=_BASELINE_NEVER,
            follow_up=_BASELINE_NEVER,
        )
        return (await tickets.start_baseline(client, spec, task_queue, "BS")).id

    return open_baseline


async def run(
    client: Client,
    worker: WorkerProcess,
    *,
    count: int,
    spread: float,
    lead: float | None = None,
    on_opened: Callable[[int], None] | None = None,
    on_escalated: Callable[[int], None] | None = None,
    on_read: Callable[[], None] | None = None,
    concurrency: int = 64,
) -> LatenessResult:
    lead = auto_lead(count) if lead is None else lead
    kind: Kind = "baseline" if worker.kind == "baseline" else "tierflow"
    open_one = opener(kind, client, worker.task_queue)
    t0 = time.time()
    first_deadline = t0 + lead
    gate = asyncio.Semaphore(concurrency)
    clamped = 0
    opened = 0
    ids: list[str] = []
    checkpoints = {max(1, count // 10): "10% open", max(1, count // 2): "50% open"}
    rss: dict[str, float] = {}

    async def one(i: int) -> None:
        nonlocal clamped, opened
        deadline = first_deadline + spread * i / max(1, count - 1)
        async with gate:
            budget = deadline - time.time()
            if budget < 2.0:
                clamped += 1
                budget = 2.0
            ids.append(await open_one(budget, budget * WARNING_FRACTION))
        opened += 1
        if opened in checkpoints:
            rss[checkpoints[opened]] = worker.rss_mib_now()
        if on_opened is not None:
            on_opened(opened)

    await asyncio.gather(*(one(i) for i in range(count)))
    open_seconds = time.time() - t0
    rss["100% open"] = worker.rss_mib_now()
    # Wait until the worker ran the last tickets' first tasks (the first deadline's slack).
    await history.first_tasks_done(client, ids[-SETTLED_SAMPLE:], until=first_deadline + spread)
    slack = first_deadline - time.time()

    # Wait for the escalations: every ticket in tier 2, or well past the last deadline.
    give_up = first_deadline + spread + max(60.0, spread)
    escalated = 0
    while escalated < count and time.time() < give_up:
        await asyncio.sleep(2.0)
        escalated = await count_in(client, worker.task_queue, "tier2")
        if on_escalated is not None:
            on_escalated(escalated)
    await asyncio.sleep(1.0)
    rss["end"] = worker.rss_mib_now()
    stopped = datetime.now(UTC).replace(tzinfo=None)

    result = LatenessResult(
        kind=kind,
        tickets=count,
        cache=worker.cache,
        spread=spread,
        lead=lead,
        open_seconds=open_seconds,
        slack=slack,
        clamped=clamped,
        rss_checkpoints=rss,
    )
    read_gate = asyncio.Semaphore(32)

    async def read(workflow_id: str) -> None:
        async with read_gate:
            events = await history.fetch(client, workflow_id)
        e = history.breach_escalation(events)
        if e.acted is None or e.committed is None or e.fired is None:
            result.missing += 1
            result.not_yet_late.append(e.late(stopped))
        else:
            result.acted.append(e.late(e.acted))
            result.committed.append(e.late(e.committed))
            result.fired.append(e.late(e.fired))
        if on_read is not None:
            on_read()

    await asyncio.gather(*(read(i) for i in ids))
    return result
