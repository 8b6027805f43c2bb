"""Record ticket histories for the replay tests: ``python -m tests.workflows.record_histories``
(every scenario) or ``… record_histories NAME …`` (those only; ``--list`` names them).

The recordings in ``tests/histories`` are the 1.0 baseline: every history this build's tickets
make must replay (tests/workflows/test_replay.py). Record again when a change of the commands
a ticket issues ships as a new build (Worker Versioning), and keep the previous build's
recordings under a prefix while its tickets may still replay on the new code (a hotfix patch:
see PATCHES.md, where each patch names the recording that takes its new branch).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.activities.servers import SmtpCapture, _CaptureHandler
from tests.waiting import eventually
from tierflow.activities import Settings, TierflowActivities
from tierflow.client import TicketClient, workflow_id_for
from tierflow.devserver import ensure_temporal_binary
from tierflow.statemachine import EscalationReason
from tierflow.statemachine.text import NOTE_MAX
from tierflow.workflows import search_attributes
from tierflow.workflows.messages import (
    Assign,
    Close,
    CustomerFeedback,
    CustomerReply,
    Decide,
    RequestEscalation,
    Resolve,
    Respond,
    WaitCustomer,
)
from tierflow.workflows.outbox.failing import RetryDeliveries

from .support import fast_policy, running_worker, ticket, wait_for
from .test_deliveries import Outage, activities_for

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
    await tickets.retry_deliveries(t.id, RetryDeliveries(actor="Jordan Diaz"))
    await eventually(lambda: _failing(tickets, t.id, none=True), within=20)
    await tickets.resolve(t.id, Resolve(actor="Jo Park", resolution="done"))
    return t.id


async def _ended(tickets: TicketClient, ticket_id: str) -> None:
    """Wait for the ticket's workflow to return."""
    handle = tickets.client.get_workflow_handle(workflow_id_for(ticket_id))
    await asyncio.wait_for(handle.result(), timeout=60)


async def _closed_continues_as_new(tickets: TicketClient, outage: Outage) -> str:
    """Chat down, the ticket resolved and closed: its failing chat messages keep being
    retried, and the closed ticket continues as new once its history reaches the limit (the
    patched rule); chat back, an operator's retry delivers them and the ticket ends."""
    t = ticket("Recorded: closed while messages fail")
    outage.down.add("/chat")
    await tickets.open(t, fast_policy(resolution="600s"), history_limit=60)
    await eventually(lambda: _failing(tickets, t.id), within=20)
    await tickets.resolve(t.id, Resolve(actor="Jo Park", resolution="done"))
    await tickets.close(t.id, Close(actor="Jo Park"))
    handle = tickets.client.get_workflow_handle(workflow_id_for(t.id))
    first = (await handle.describe()).run_id

    async def continued() -> bool:
        if (await handle.describe()).run_id != first:
            return True
        # Each operator retry adds a round's events: the history reaches its limit sooner.
        await tickets.retry_deliveries(t.id, RetryDeliveries(actor="Jordan Diaz"))
        return False

    await eventually(continued, within=60, every=1.0)
    outage.down.clear()
    await tickets.retry_deliveries(t.id, RetryDeliveries(actor="Jordan Diaz"))
    await _ended(tickets, t.id)
    return t.id


class _TroubleSlowlyRefused(_CaptureHandler):
    """Answers the "deliveries failing" email after ``delay`` seconds with 451, while the
    capture's ``refusing`` is set (other mail as usual)."""

    def __init__(self, capture: SlowTroubleCapture, delay: float) -> None:
        super().__init__(capture)
        self._slow = capture
        self._delay = delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        if self._slow.refusing and "-delivery_failing-" in text:  # in its Message-ID
            await asyncio.sleep(self._delay)
            return "451 4.3.0 Relay overloaded, try again later"
        return await super().handle_DATA(server, session, envelope)


class SlowTroubleCapture(SmtpCapture):
    """An SMTP capture whose "deliveries failing" emails are refused slowly (see above)."""

    def __init__(self, delay: float = 6.0) -> None:
        super().__init__()
        self.refusing = True
        self._controller.handler = _TroubleSlowlyRefused(self, delay)


async def _ends_while_delivering(
    tickets: TicketClient, outage: Outage, smtp: SlowTroubleCapture
) -> str:
    """The closing's sync to the host fails, and the owner's "deliveries failing" email is
    still on its way (a slow relay that then refuses it) when an operator's retry delivers the
    sync: the ticket's last deliveries hand back a failure after nothing was failing, and it
    sends and retries that too before it ends (drain-before-closing)."""
    t = ticket("Recorded: ends while delivering")
    await tickets.open(t, fast_policy(resolution="600s"))
    await tickets.resolve(t.id, Resolve(actor="Jo Park", resolution="done"))
    outage.down.add("/sync")
    await tickets.close(t.id, Close(actor="Jo Park"))
    await eventually(lambda: _failing(tickets, t.id), within=20)
    outage.down.clear()
    await tickets.retry_deliveries(t.id, RetryDeliveries(actor="Jordan Diaz"))

    async def email_failing() -> bool:
        return any(d.channel == "email" for d in await tickets.deliveries(t.id))

    # The refused email is kept and retried; the relay takes it from then on.
    await eventually(email_failing, within=40)
    smtp.refusing = False
    await _ended(tickets, t.id)
    return t.id


Scenario = Callable[[TicketClient], Awaitable[str]]


async def record(names: set[str] | None = None) -> None:
    """Record every scenario, or those in ``names``."""

    def wanted(name: str) -> bool:
        return names is None or name in names

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(ensure_temporal_binary()),
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
    )
    try:
        queue = f"record-{uuid.uuid4().hex[:8]}"
        async with running_worker(env.client, queue) as tickets:
            plain: tuple[tuple[str, Scenario], ...] = (
                ("breach_and_follow_up", _breach_and_follow_up),
                ("approval_and_waiting", _approval_and_waiting),
                ("continued_as_new", _continued_as_new),
                ("timeline_budget", _timeline_budget),
            )
            for name, scenario in plain:
                if not wanted(name):
                    continue
                ticket_id = await scenario(tickets)
                handle = env.client.get_workflow_handle(workflow_id_for(ticket_id), run_id=None)
                # For a ticket that continued as new, record its first run (the CAN path).
                desc = await handle.describe()
                run_id = desc.raw_description.workflow_execution_info.first_run_id
                history = await env.client.get_workflow_handle(
                    workflow_id_for(ticket_id), run_id=run_id or None
                ).fetch_history()
                _write(name, history)
        if wanted("delivery_outage"):
            with SmtpCapture() as smtp, Outage() as outage:
                acts = TierflowActivities(
                    Settings(
                        smtp_host=smtp.host,
                        smtp_port=smtp.port,
                        chat_webhook_url=f"{outage.url}/chat",
                    )
                )
                async with running_worker(env.client, f"{queue}-outage", acts) as tickets:
                    ticket_id = await _delivery_outage(tickets, outage)
                    history = await env.client.get_workflow_handle(
                        workflow_id_for(ticket_id)
                    ).fetch_history()
                    _write("delivery_outage", history)
        if wanted("closed_continues_as_new"):
            with SmtpCapture() as smtp, Outage() as outage:
                acts = activities_for(smtp, outage)
                async with running_worker(env.client, f"{queue}-closed", acts) as tickets:
                    ticket_id = await _closed_continues_as_new(tickets, outage)
                    _write("closed_continues_as_new", await _first_run(env, ticket_id))
        if wanted("ends_while_delivering"):
            with SlowTroubleCapture() as slow, Outage() as outage:
                acts = activities_for(slow, outage)
                async with running_worker(env.client, f"{queue}-ending", acts) as tickets:
                    ticket_id = await _ends_while_delivering(tickets, outage, slow)
                    _write("ends_while_delivering", await _first_run(env, ticket_id))
    finally:
        await env.shutdown()


async def _first_run(env: WorkflowEnvironment, ticket_id: str) -> WorkflowHistory:
    """The history of the ticket's first run (for one that continued as new, the CAN path)."""
    handle = env.client.get_workflow_handle(workflow_id_for(ticket_id))
    first = (await handle.describe()).raw_description.workflow_execution_info.first_run_id
    return await env.client.get_workflow_handle(handle.id, run_id=first or None).fetch_history()


SCENARIOS = (
    "breach_and_follow_up",
    "approval_and_waiting",
    "continued_as_new",
    "timeline_budget",
    "delivery_outage",
    "closed_continues_as_new",
    "ends_while_delivering",
)


def _write(name: str, history: WorkflowHistory) -> None:
    path = HISTORIES / f"{name}.json"
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print(f"recorded {path} ({len(history.events)} events)")


def main(argv: list[str]) -> None:
    if argv == ["--list"]:
        print("\n".join(SCENARIOS))
        return
    unknown = sorted(set(argv) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}; --list names them")
    asyncio.run(record(set(argv) or None))


if __name__ == "__main__":
    main(sys.argv[1:])
