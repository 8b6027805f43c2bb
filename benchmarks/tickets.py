"""Tickets and policies for the benchmarks: the default policy with SLAs of seconds.

Built from the packaged default policy, so the benchmarks exercise the same triage rules,
tiers and escalation ladder as production; only the durations shrink.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from tierflow.client import workflow_id_for
from tierflow.statemachine import Policy, Ticket, default_policy, policy_from_data

from . import baseline

PRIORITIES = ("low", "normal", "high", "urgent", "critical")
# Long enough never to fire during a benchmark run.
NEVER = "30d"


def ticket(prefix: str = "B", subject: str = "Cannot log in") -> Ticket:
    """A plain ticket: triaged to tier 1 by the default rules (no keyword, standard customer)."""
    return Ticket.model_validate(
        {
            "id": f"{prefix}-{uuid.uuid4().hex[:12]}",
            "subject": subject,
            "description": "",
            "channel": "email",
            "customer": {
                "id": "C-1",
                "name": "Ana Silva",
                "email": "ana@example.com",
                "status": "standard",
            },
            "created_at": datetime.now(UTC),
        }
    )


def agent_name(n: int) -> str:
    """The name of benchmark agent ``n``: one of the frontline agents :func:`policy` adds."""
    return f"Agent {n:04d}"


def _ms(d: timedelta) -> str:
    return f"{max(1, round(d.total_seconds() * 1000))}ms"


def policy(
    resolution: timedelta,
    *,
    follow_up: timedelta = timedelta(days=30),
    warning_fraction: float = 0.5,
    tier2_resolution: str = NEVER,
    agents: int = 0,
    notify_on_assignment: bool = True,
) -> Policy:
    """The default policy with a tier-1 resolution target of ``resolution`` for every
    priority; after the automatic escalation, tier 2 gets ``tier2_resolution``.
    ``notify_on_assignment=False``: an assignment tells nobody (nor the host).

    Level 1 of the ladder ("notify_owner + reassign_next_tier") fires at the breach; the
    later levels are pushed out of reach so one breach costs one escalation. ``agents`` named
    frontline agents (:func:`agent_name`) join the policy's people: only they may act.
    """
    data: dict[str, Any] = default_policy().model_dump(mode="json")
    frontline = next(t for t in data["teams"] if t["name"] == "frontline")
    frontline["recipients"] += [
        {"name": agent_name(n), "role": "agent", "channels": []} for n in range(agents)
    ]
    tier1 = {"resolution": _ms(resolution), "first_response": None, "next_response": None}
    tier2 = {"resolution": tier2_resolution, "first_response": None, "next_response": None}
    data["sla"] = {
        "warning_fraction": warning_fraction,
        "targets": {p: dict(tier1) for p in PRIORITIES},
        "per_tier": {"tier2": {p: dict(tier2) for p in PRIORITIES}},
    }
    data["escalation"] = {
        "levels": [
            {
                "name": "senior-takes-over",
                "after": "0s",
                "actions": ["notify_owner", "reassign_next_tier"],
            },
            {"name": "supervisor", "after": NEVER, "actions": ["notify_supervisor"]},
            {"name": "manager", "after": "31d", "actions": ["notify_manager"]},
            {"name": "director", "after": "32d", "actions": ["notify_director"]},
        ],
        "repeat_last": False,
    }
    data["follow_up"] = {"delay": _ms(follow_up), "survey": True, "reopen_below": 3}
    data.setdefault("notify", {})["on_assignment"] = notify_on_assignment
    return policy_from_data(data, "<benchmark policy>")


async def start_baseline(
    client: Client, spec: baseline.BaselineSpec, task_queue: str, prefix: str
) -> WorkflowHandle[Any, Any]:
    """Start a bare-Temporal ticket (id ``ticket-<prefix>-<random>``) with its first search
    attributes, as Tierflow's client starts a ticket with its own."""
    return await client.start_workflow(
        baseline.BaselineTicket.run,
        spec,
        id=workflow_id_for(f"{prefix}-{uuid.uuid4().hex[:12]}"),
        task_queue=task_queue,
        search_attributes=baseline.initial_attributes(),
    )
