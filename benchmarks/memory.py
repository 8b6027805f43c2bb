"""Worker memory per cached ticket, for Tierflow and for the bare baseline of the same shape.

A worker runs in a child process (:class:`~benchmarks.server.WorkerProcess`) with a cache large
enough for every ticket. A few warm-up tickets pay the one-off costs (imports, the first
sandbox, pydantic schemas); then ``count`` tickets are opened whose deadlines lie far ahead,
and once every one of them has run its first workflow task (it sits in tier 1, by its
``TicketTier`` search attribute) the worker's resident memory is read again:

    per ticket = (RSS after - RSS after the warm-up) / count

:func:`breakdown` runs the same shape with the worker in this process under ``tracemalloc``
and names the source lines that allocated the bytes the tickets keep.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
import tracemalloc
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tierflow.activities import Settings, TierflowActivities
from tierflow.client import TicketClient
from tierflow.statemachine import Policy
from tierflow.worker import WorkerSettings, build_worker

from . import baseline, tickets
from .server import BenchServer, WorkerProcess, read_rss_kib

Kind = Literal["tierflow", "baseline"]
# Far enough never to fire while tickets are counted.
FAR = 30 * 86_400.0
WARM_UP = 20
# The target: a cached ticket costs at most this many times the bare workflow's memory, both
# measured in the same run with the same sandbox setting.
TARGET_VS_BARE = 1.25


@dataclass
class MemoryResult:
    kind: Kind
    sandbox: bool
    tickets: int
    cache: int
    rss_before_mib: float
    rss_after_mib: float
    # The worker's CPU time (user + system) spent on the measured tickets.
    cpu_seconds: float = 0.0

    @property
    def per_ticket_kib(self) -> float:
        return (self.rss_after_mib - self.rss_before_mib) * 1024 / self.tickets

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sandbox": self.sandbox,
            "tickets": self.tickets,
            "max_cached_workflows": self.cache,
            "rss_before_mib": round(self.rss_before_mib, 1),
            "rss_after_mib": round(self.rss_after_mib, 1),
            "per_ticket_kib": round(self.per_ticket_kib, 1),
            "cpu_ms_per_ticket": round(self.cpu_seconds * 1000 / self.tickets, 2),
        }


def far_policy(*, distinct: bool = False) -> Policy:
    """The benchmark policy with deadlines far ahead; ``distinct`` gives each call its own
    resolution target (as the lateness benchmark's tickets have)."""
    jitter = timedelta(milliseconds=uuid.uuid4().int % 100_000) if distinct else timedelta(0)
    return tickets.policy(timedelta(seconds=FAR) + jitter)


async def in_tier1(client: Client, task_queue: str) -> int:
    """Tickets of ``task_queue`` that ran their first task (they upserted tier 1)."""
    query = f"TaskQueue = '{task_queue}' AND TicketTier = 'tier1'"
    return (await client.count_workflows(query)).count


async def open_tickets(
    kind: Kind,
    client: Client,
    task_queue: str,
    count: int,
    *,
    distinct_policies: bool = False,
    concurrency: int = 32,
) -> list[str]:
    """Open ``count`` tickets that stay open; their workflow ids."""
    gate = asyncio.Semaphore(concurrency)
    tc = TicketClient(client, task_queue)
    shared = far_policy()
    spec = baseline.BaselineSpec(warning=FAR, breach=FAR * 2, tier2_warning=FAR, follow_up=1.0)

    async def one() -> str:
        async with gate:
            if kind == "baseline":
                return (await tickets.start_baseline(client, spec, task_queue, "MB")).id
            policy = far_policy(distinct=True) if distinct_policies else shared
            opened = await tc.open(tickets.ticket("MEM"), policy)
            return opened.workflow_id

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def wait_in_tier1(
    client: Client, task_queue: str, count: int, timeout: float = 600.0
) -> None:
    """Return once ``count`` tickets of ``task_queue`` ran their first task.

    Tickets opened by TicketClient start with ``TicketTier = 'tier1'`` already, so once the
    count is reached each one's history is also awaited until its first task completed."""
    give_up = time.monotonic() + timeout
    while await in_tier1(client, task_queue) < count:
        if time.monotonic() > give_up:
            raise TimeoutError(f"fewer than {count} tickets reached tier 1 in {timeout:.0f} s")
        await asyncio.sleep(0.5)
    query = f"TaskQueue = '{task_queue}' AND TicketTier = 'tier1'"
    ids = [w.id async for w in client.list_workflows(query)]
    gate = asyncio.Semaphore(32)

    async def first_task(workflow_id: str) -> None:
        async with gate:
            handle = client.get_workflow_handle(workflow_id)
            async for e in handle.fetch_history_events(wait_new_event=True):
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                    return

    async with asyncio.timeout(max(1.0, give_up - time.monotonic())):
        await asyncio.gather(*(first_task(i) for i in ids))


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _settled_rss_mib(worker: WorkerProcess) -> float:
    """The worker's resident memory once it stopped moving (the last tasks finished)."""
    assert worker.pid is not None
    last = -1
    for _ in range(20):
        rss, _hwm = read_rss_kib(worker.pid)
        if abs(rss - last) < 64:
            return rss / 1024
        last = rss
        await asyncio.sleep(0.5)
    return last / 1024


async def measure(
    server: BenchServer,
    kind: Kind,
    count: int,
    *,
    sandbox: bool = True,
    cache: int | None = None,
    distinct_policies: bool = False,
    warm_up: int = WARM_UP,
) -> MemoryResult:
    """Per-ticket resident memory of a worker holding ``count`` open tickets in its cache."""
    cache = cache if cache is not None else count + warm_up + 10
    client = server.plain if kind == "baseline" else server.client
    async with WorkerProcess(server, kind, cache, sandbox) as worker:
        await open_tickets(kind, client, worker.task_queue, warm_up)
        await wait_in_tier1(client, worker.task_queue, warm_up)
        before = await _settled_rss_mib(worker)
        assert worker.pid is not None
        cpu = cpu_seconds(worker.pid)
        await open_tickets(
            kind, client, worker.task_queue, count, distinct_policies=distinct_policies
        )
        await wait_in_tier1(client, worker.task_queue, warm_up + count)
        after = await _settled_rss_mib(worker)
        cpu = cpu_seconds(worker.pid) - cpu
    return MemoryResult(kind, sandbox, count, cache, before, after, cpu)


async def run(
    server: BenchServer,
    count: int,
    *,
    sandboxes: tuple[bool, ...] = (True, False),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Tierflow and the baseline, sandbox on and off: per-ticket memory of each, and the
    target's verdict for Tierflow as the worker runs by default (sandbox on)."""
    rows: list[dict[str, Any]] = []
    for sandbox in sandboxes:
        for kind in ("baseline", "tierflow"):
            if progress is not None:
                progress(f"memory: {kind}, sandbox {'on' if sandbox else 'off'}")
            result = await measure(server, kind, count, sandbox=sandbox)
            rows.append(result.as_dict())
    headline, bare = (
        next((r for r in rows if r["kind"] == kind and r["sandbox"] == sandboxes[0]), None)
        for kind in ("tierflow", "baseline")
    )
    ratio = (
        round(headline["per_ticket_kib"] / bare["per_ticket_kib"], 2)
        if headline is not None and bare is not None and bare["per_ticket_kib"] > 0
        else None
    )
    return {
        "tickets": count,
        "runs": rows,
        "target": {
            "per_ticket_vs_bare_at_most": TARGET_VS_BARE,
            "ratio": ratio,
            "met": ratio is not None and ratio <= TARGET_VS_BARE,
        },
    }


def render(doc: dict[str, Any], console: Console) -> None:
    """The memory suite's figures as a table."""
    table = Table(title=f"Worker memory per cached ticket ({doc['tickets']} open tickets)")
    for column in ("workflow", "sandbox", "RSS before → after", "per ticket", "CPU per ticket"):
        table.add_column(column, justify="right" if column != "workflow" else "left")
    for r in doc["runs"]:
        table.add_row(
            "Tierflow" if r["kind"] == "tierflow" else "bare Temporal",
            "on" if r["sandbox"] else "off",
            f"{r['rss_before_mib']} → {r['rss_after_mib']} MiB",
            f"{r['per_ticket_kib']} KiB",
            f"{r['cpu_ms_per_ticket']} ms",
        )
    console.print(table)
    t = doc["target"]
    verdict = "[green]met[/]" if t["met"] else "[red]missed[/]"
    console.print(
        f"memory target ≤ {t['per_ticket_vs_bare_at_most']} x bare per cached ticket "
        f"(sandbox {'on' if doc['runs'][0]['sandbox'] else 'off'}): {t['ratio']} x bare, {verdict}"
    )


# --- where the bytes go (in-process, tracemalloc) ----------------------------------------------


async def breakdown(
    client: Client,
    count: int,
    *,
    sandbox: bool = True,
    distinct_policies: bool = False,
    top: int = 25,
    frames: int = 1,
) -> list[tuple[str, float]]:
    """The source lines whose allocations ``count`` cached tickets keep, largest first, as
    (where, KiB per ticket). The worker runs in this process, under ``tracemalloc``."""
    task_queue = f"mem-{uuid.uuid4().hex[:10]}"
    worker = build_worker(
        client,
        task_queue,
        activities=TierflowActivities(Settings(_env_file=None)),
        settings=WorkerSettings(max_cached_workflows=count + WARM_UP + 10),
        sandboxed=sandbox,
    )
    async with worker:
        await open_tickets("tierflow", client, task_queue, WARM_UP)
        await wait_in_tier1(client, task_queue, WARM_UP)
        gc.collect()
        tracemalloc.start(frames)
        try:
            first = tracemalloc.take_snapshot()
            await open_tickets(
                "tierflow", client, task_queue, count, distinct_policies=distinct_policies
            )
            await wait_in_tier1(client, task_queue, WARM_UP + count)
            await asyncio.sleep(1.0)
            gc.collect()
            second = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    key = "traceback" if frames > 1 else "lineno"
    stats = second.compare_to(first, key)
    rows: list[tuple[str, float]] = []
    total = sum(s.size_diff for s in stats)
    rows.append(("TOTAL", total / 1024 / count))
    for s in stats[:top]:
        where = " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in s.traceback)
        rows.append((where, s.size_diff / 1024 / count))
    return rows
