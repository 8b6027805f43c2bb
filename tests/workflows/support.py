"""Helpers for ticket-workflow tests: tickets, policies with SLAs of seconds, a running worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client

from tierflow.activities import Settings, TierflowActivities
from tierflow.client import TicketClient
from tierflow.statemachine import Policy, Ticket, default_policy, policy_from_data
from tierflow.worker import build_worker
from tierflow.workflows.messages import TicketStatus


def ticket(subject: str = "Cannot log in", **overrides: Any) -> Ticket:
    """A ticket with a unique id; ``overrides`` replace fields (``customer`` merges)."""
    customer = {"id": "C-1", "name": "Ana Silva", "email": "ana@example.com", "status": "standard"}
    customer.update(overrides.pop("customer", {}))
    data: dict[str, Any] = {
        "id": f"T-{uuid.uuid4().hex[:10]}",
        "subject": subject,
        "description": "",
        "channel": "email",
        "customer": customer,
        "created_at": datetime.now(UTC),
    }
    data.update(overrides)
    return Ticket.model_validate(data)


def fast_policy(
    *,
    resolution: str = "4s",
    first_response: str | None = None,
    levels: list[dict[str, Any]] | None = None,
    follow_up: str = "2s",
    calendar: dict[str, Any] | None = None,
    warning_fraction: float = 0.5,
    **extra: Any,
) -> Policy:
    """The default policy with SLAs of seconds for every priority and tier."""
    data = default_policy().model_dump(mode="json")
    targets = {"resolution": resolution, "first_response": first_response, "next_response": None}
    data["sla"] = {
        "warning_fraction": warning_fraction,
        "targets": {p: dict(targets) for p in ("low", "normal", "high", "urgent", "critical")},
        "per_tier": {},
    }
    data["escalation"] = {
        "levels": levels
        or [
            {
                "name": "senior-takes-over",
                "after": "0s",
                "actions": ["notify_owner", "reassign_next_tier"],
            },
            {"name": "supervisor", "after": "60s", "actions": ["notify_supervisor"]},
            {"name": "manager", "after": "120s", "actions": ["notify_manager"]},
            {"name": "director", "after": "180s", "actions": ["notify_director"]},
        ],
        "repeat_last": False,
    }
    data["follow_up"] = {"delay": follow_up, "survey": True, "reopen_below": 3}
    if calendar is not None:
        data["calendar"] = calendar
    data.update(extra)
    return policy_from_data(data, "<test policy>")


def quiet_activities() -> TierflowActivities:
    """Activities with every channel unconfigured: deliveries are skipped, not attempted."""
    return TierflowActivities(Settings(_env_file=None))


@asynccontextmanager
async def running_worker(
    client: Client,
    task_queue: str,
    activities: TierflowActivities | None = None,
    *,
    sandboxed: bool = True,
) -> AsyncIterator[TicketClient]:
    """A worker on ``task_queue`` for the block, and a ticket client that uses it."""
    worker = build_worker(
        client, task_queue, activities=activities or quiet_activities(), sandboxed=sandboxed
    )
    async with worker:
        yield TicketClient(client, task_queue)


async def wait_for(
    tickets: TicketClient,
    ticket_id: str,
    predicate: Callable[[TicketStatus], bool],
    timeout: float = 30.0,
) -> TicketStatus:
    """Poll the status query until ``predicate`` holds; fail with the last status if not."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await tickets.status(ticket_id)
        if predicate(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached in {timeout}s; last status: {status}")
        await asyncio.sleep(0.2)


async def wait_for_timeline(
    tickets: TicketClient, ticket_id: str, text: str, within: float = 20
) -> None:
    """Wait until a timeline entry's summary contains ``text``."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if any(text in e.summary for e in await tickets.timeline(ticket_id)):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"no timeline entry with {text!r} within {within}s")
