"""Agent-action latency: concurrent agents acting on open tickets through Temporal updates.

Every action is a real update through :class:`tierflow.client.TicketClient` (validated by the
workflow, written to its history, answered with the ticket's new status); the round trip is
measured at the agent, from sending the update to holding the answer.

The bare baseline (``kind="baseline"``) does the same with plain Temporal: the same agents,
tickets and actions against :class:`~benchmarks.baseline.BaselineAgentTicket`, whose updates
validate, change the state and answer it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client

from tierflow.client import TicketClient, workflow_id_for
from tierflow.workflows.messages import AddNote, Assign

from . import baseline, tickets
from .lifecycle import Kind, wait_for_tier

# People of the default policy's frontline team; assigning alternates between them.
ASSIGNEES = ("Alex Kim", "Frontline queue")


@dataclass
class LatencyResult:
    kind: Kind
    agents: int
    tickets: int
    actions: int
    elapsed: float
    round_trips: list[float]
    by_action: dict[str, list[float]]


async def open_tickets(
    client: Client,
    task_queue: str,
    count: int,
    concurrency: int = 32,
    *,
    agents: int = 0,
    notify_on_assignment: bool = True,
) -> list[str]:
    """Open ``count`` tickets whose SLA will not fire during the run; wait until in tier 1.
    Their policy names ``agents`` frontline agents, who may act on them."""
    tc = TicketClient(client, task_queue)
    policy = tickets.policy(
        timedelta(days=1), agents=agents, notify_on_assignment=notify_on_assignment
    )
    gate = asyncio.Semaphore(concurrency)

    async def one() -> str:
        t = tickets.ticket("A")
        async with gate:
            opened = await tc.open(t, policy)
        await wait_for_tier(client, opened.workflow_id, "tier1")
        return t.id

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def open_bare_tickets(
    client: Client,
    task_queue: str,
    count: int,
    concurrency: int = 32,
    *,
    notify_assignee: bool = False,
) -> list[str]:
    """Start ``count`` bare tickets; wait until each ran its first task (its tier-1 upsert).
    With ``notify_assignee`` their assignments notify as Tierflow's do (one activity)."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> str:
        workflow_id = workflow_id_for(f"BA-{uuid.uuid4().hex[:12]}")
        async with gate:
            await client.start_workflow(
                baseline.BaselineAgentTicket.run,
                notify_assignee,
                id=workflow_id,
                task_queue=task_queue,
                search_attributes=baseline.initial_attributes(),
            )
        await wait_for_tier(client, workflow_id, "tier1")
        return workflow_id

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def run(
    client: Client,
    task_queue: str,
    *,
    kind: Kind = "tierflow",
    agents: int = 50,
    tickets_per_agent: int = 2,
    actions_per_agent: int = 20,
    progress: Callable[[], None] | None = None,
    notifying: bool = True,
) -> LatencyResult:
    """Each agent alternates ``note`` and ``assign`` on its own tickets, as fast as answered.
    ``notifying``: an assignment tells the assignee and the host, in an activity the answer
    does not wait for (Tierflow's policy setting; the bare tickets do the same); without it an
    action only changes the ticket and answers."""
    count = agents * tickets_per_agent
    if kind == "tierflow":
        ids = await open_tickets(
            client, task_queue, count, agents=agents, notify_on_assignment=notifying
        )
    else:
        ids = await open_bare_tickets(client, task_queue, count, notify_assignee=notifying)
    tc = TicketClient(client, task_queue)
    by_action: dict[str, list[float]] = {"note": [], "assign": []}

    async def agent(n: int) -> None:
        mine = ids[n * tickets_per_agent : (n + 1) * tickets_per_agent]
        actor = tickets.agent_name(n)
        for i in range(actions_per_agent):
            ticket_id = mine[i % len(mine)]
            text, assignee = f"checked logs ({i})", ASSIGNEES[(i // 2) % len(ASSIGNEES)]
            action = "note" if i % 2 == 0 else "assign"
            began = time.perf_counter()
            if kind == "baseline":
                handle = client.get_workflow_handle(ticket_id)
                if action == "note":
                    await handle.execute_update(baseline.BaselineAgentTicket.note, text)
                else:
                    await handle.execute_update(baseline.BaselineAgentTicket.assign, assignee)
            elif action == "note":
                await tc.note(ticket_id, AddNote(actor=actor, text=text))
            else:
                await tc.assign(ticket_id, Assign(actor=actor, assignee=assignee))
            by_action[action].append(time.perf_counter() - began)
            if progress is not None:
                progress()

    start = time.monotonic()
    await asyncio.gather(*(agent(n) for n in range(agents)))
    elapsed = time.monotonic() - start
    all_trips = [t for trips in by_action.values() for t in trips]
    return LatencyResult(kind, agents, len(ids), len(all_trips), elapsed, all_trips, by_action)
