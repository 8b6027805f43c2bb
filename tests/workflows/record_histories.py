"""Record ticket histories for the replay tests: ``python -m tests.workflows.record_histories``.

Run it when a deliberate workflow change (behind ``workflow.patched``) should be pinned by a
new recording; the recordings already in ``tests/histories`` stay, so tickets started by older
code keep being replayed against the current code.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.activities.servers import SmtpCapture
from tests.waiting import eventually
from tierflow.activities import Settings, TierflowActivities
from tierflow.client import TicketClient, workflow_id_for
from tierflow.devserver import ensure_temporal_binary
from tierflow.statemachine import EscalationReason
from tierflow.statemachine.text import NOTE_MAX
from tierflow.workflows import search_attributes
from tierflow.workflows.deliveries import RetryDeliveries
from tierflow.workflows.messages import (
    Assign,
    CustomerFeedback,
    CustomerReply,
    Decide,
    RequestEscalation,
    Resolve,
    Respond,
    WaitCustomer,
)

from .support import fast_policy, running_worker, ticket, wait_for
from .test_deliveries import Outage

HISTORIES = Path(__file__).parent.parent / "histories"


async def _failing(tickets: TicketClient, ticket_id: str, *, none: bool = False) -> bool:
    """Whether the ticket has failing deliveries (with ``none``: has none)."""
    return bool(await tickets.deliveries(ticket_id)) != none


async def _breach_and_follow_up(tickets: TicketClient) -> str:
    t = ticket("Recorded: breach, escalation, resolution, survey")
    await tickets.open(t, fast_policy(resolution="2s", follow_up="1s"))
    await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=20)
    await tickets.assign(t.id, Assign(actor="Robin Ortiz", assignee="Riley Chen"))
    await tickets.respond(t.id, Respond(actor="Robin Ortiz", message="on it"))
    await tickets.resolve(t.id, Resolve(actor="Robin Ortiz", resolution="fixed"))
    await asyncio.sleep(1.5)
    await tickets.customer_feedback(t.id, CustomerFeedback(score=5))
    await wait_for(tickets, t.id, lambda s: s.state == "closed", timeout=20)
    return t.id


async def _approval_and_waiting(tickets: TicketClient) -> str:
    t = ticket("Recorded: approval and waiting", customer={"status": "vip"})
    await tickets.open(t, fast_policy(resolution="60s"))
    await wait_for(tickets, t.id, lambda s: s.state == "tier2")
    reasons = [EscalationReason.LIMITED_AUTHORITY]
    await tickets.request_escalation(t.id, RequestEscalation(actor="Robin Ortiz", reasons=reasons))
    await tickets.approve(t.id, Decide(actor="Morgan Lee"))
    await tickets.wait_customer(t.id, WaitCustomer(actor="Quinn Walsh"))
    await tickets.customer_reply(t.id, CustomerReply(message="logs attached"))
    await wait_for(tickets, t.id, lambda s: s.state == "tier3")
    return t.id


async def _continued_as_new(tickets: TicketClient) -> str:
    t = ticket("Recorded: continue-as-new")
    await tickets.open(t, fast_policy(resolution="60s"), history_limit=30)
    for n in range(8):
        await tickets.act(t.id, "note", {"actor": "Jo Park", "text": f"note {n}"})
    await tickets.resolve(t.id, Resolve(actor="Jo Park", resolution="done"))
    return t.id


async def _timeline_budget(tickets: TicketClient) -> str:
    """Maximal notes fill the run's timeline: it continues as new (the patched rule)."""
    t = ticket("Recorded: timeline budget")
    await tickets.open(t, fast_policy(resolution="60s"))
    note = "\U0001f600" * (NOTE_MAX - 4)
    for n in range(16):
        await tickets.act(t.id, "note", {"actor": "Jo Park", "text": f"{n:02d} {note}"})
    await tickets.resolve(t.id, Resolve(actor="Jo Park", resolution="done"))
    return t.id


async def _delivery_outage(tickets: TicketClient, outage: Outage) -> str:
    """Chat down: the landing's chat message fails, is kept and retried; chat back, an
    operator's retry delivers it (the patched delivery path)."""
    t = ticket("Recorded: delivery outage")
    outage.down.add("/chat")
    await tickets.open(t, fast_policy(resolution="60s"))
    await eventually(lambda: _failing(tickets, t.id), within=20)
    outage.down.clear()
    await tickets.retry_deliveries(t.id, RetryDeliveries(actor="Morgan Lee"))
    await eventually(lambda: _failing(tickets, t.id, none=True), within=20)
    await tickets.resolve(t.id, Resolve(actor="Jo Park", resolution="done"))
    return t.id


async def record() -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(ensure_temporal_binary()),
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
    )
    try:
        queue = f"record-{uuid.uuid4().hex[:8]}"
        async with running_worker(env.client, queue) as tickets:
            for name, scenario in (
                ("breach_and_follow_up", _breach_and_follow_up),
                ("approval_and_waiting", _approval_and_waiting),
                ("continued_as_new", _continued_as_new),
                ("timeline_budget", _timeline_budget),
            ):
                ticket_id = await scenario(tickets)
                handle = env.client.get_workflow_handle(workflow_id_for(ticket_id), run_id=None)
                # For a ticket that continued as new, record its first run (the CAN path).
                desc = await handle.describe()
                run_id = desc.raw_description.workflow_execution_info.first_run_id
                history = await env.client.get_workflow_handle(
                    workflow_id_for(ticket_id), run_id=run_id or None
                ).fetch_history()
                _write(name, history)
        with SmtpCapture() as smtp, Outage() as outage:
            acts = TierflowActivities(
                Settings(
                    smtp_host=smtp.host, smtp_port=smtp.port, chat_webhook_url=f"{outage.url}/chat"
                )
            )
            async with running_worker(env.client, f"{queue}-outage", acts) as tickets:
                ticket_id = await _delivery_outage(tickets, outage)
                history = await env.client.get_workflow_handle(
                    workflow_id_for(ticket_id)
                ).fetch_history()
                _write("delivery_outage", history)
    finally:
        await env.shutdown()


def _write(name: str, history: WorkflowHistory) -> None:
    path = HISTORIES / f"{name}.json"
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print(f"recorded {path} ({len(history.events)} events)")


if __name__ == "__main__":
    asyncio.run(record())
