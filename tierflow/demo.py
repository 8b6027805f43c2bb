"""`make demo`: several tickets through Tierflow on a real Temporal dev server.

Starts (or reuses) the local dev server with the Web UI, runs a worker in this process, opens a
handful of tickets under the demo policy (the default policy with SLAs of seconds), acts on
some as agents and supervisors would, lets the SLA timers escalate the others on their own,
then prints what happened to each ticket and where to see them in the UI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tierflow.activities import Settings, TierflowActivities
from tierflow.client import ActionRejected, TicketClient, TicketError, workflow_id_for
from tierflow.connect import ServerUnreachableError, connect_local
from tierflow.devserver import (
    BinaryUnavailableError,
    DevServer,
    ensure_search_attributes,
    ensure_temporal_binary,
)
from tierflow.logs import configure_logging
from tierflow.statemachine import EscalationReason, Ticket, demo_policy
from tierflow.worker import build_worker
from tierflow.workflows.messages import (
    Assign,
    Close,
    CustomerFeedback,
    Decide,
    Escalate,
    RequestEscalation,
    Resolve,
    Respond,
    TicketStatus,
)

# Wide enough for the report table even when output is not a terminal (CI, pipes).
console = Console(width=max(Console().width, 130))
DEMO_QUEUE = "tierflow-demo"


@dataclass
class Story:
    """One demo ticket: what comes in, what people do, and when the story is over."""

    ticket: Ticket
    plot: str
    act: Callable[[TicketClient, str], Awaitable[None]]
    done: Callable[[TicketStatus], bool]


def _ticket(
    run: str, n: int, subject: str, *, customer: dict[str, str] | None = None, **kw: object
) -> Ticket:
    who = {"id": f"C-{n}", "name": "Ana Silva", "email": "ana@example.com", **(customer or {})}
    return Ticket.model_validate(
        {
            "id": f"DEMO-{run}-{n}",
            "subject": subject,
            "channel": kw.pop("channel", "email"),
            "customer": who,
            "created_at": datetime.now(UTC),
            **kw,
        }
    )


async def _solved_at_once(tickets: TicketClient, tid: str) -> None:
    await tickets.assign(tid, Assign(actor="Jo Park", assignee="Alex Kim"))
    await tickets.respond(tid, Respond(actor="Jo Park", message="Try the reset link I sent."))
    await tickets.resolve(tid, Resolve(actor="Jo Park", resolution="password reset"))
    await asyncio.sleep(1)
    await tickets.customer_feedback(tid, CustomerFeedback(score=5, comment="thanks!"))


async def _approval_flow(tickets: TicketClient, tid: str) -> None:
    reasons = [EscalationReason.LIMITED_KNOWLEDGE]
    await tickets.escalate(
        tid, Escalate(actor="Jo Park", reasons=reasons, note="needs a specialist")
    )
    await tickets.request_escalation(
        tid, RequestEscalation(actor="Robin Ortiz", reasons=[EscalationReason.LIMITED_ACCESS])
    )
    await tickets.approve(tid, Decide(actor="Riley Chen", note="engineering, please"))


async def _nothing(tickets: TicketClient, tid: str) -> None:
    return None


async def _resolved_then_closed(tickets: TicketClient, tid: str) -> None:
    await tickets.resolve(tid, Resolve(actor="Sky Adams", resolution="refund issued"))
    await tickets.close(tid, Close(actor="Sky Adams", note="customer confirmed by phone"))


def stories(run: str) -> list[Story]:
    """The demo's tickets, one per thing worth seeing."""
    return [
        Story(
            _ticket(run, 1, "Cannot log in after password change"),
            "agent solves it in tier 1; good feedback closes it",
            _solved_at_once,
            lambda s: s.state == "closed",
        ),
        Story(
            _ticket(run, 2, "Charged twice on my invoice"),
            "'invoice' routes it to the billing team; resolved and closed",
            _resolved_then_closed,
            lambda s: s.state == "closed",
        ),
        Story(
            _ticket(run, 3, "Dashboard shows wrong totals", customer={"status": "vip"}),
            "VIP skips tier 1; nobody acts, the SLA breaches and it escalates by itself",
            _nothing,
            lambda s: s.tier == "tier3",
        ),
        Story(
            _ticket(run, 4, "Possible security breach in our account"),
            "a security breach is critical and goes straight to engineering",
            _nothing,
            lambda s: s.tier == "tier3",
        ),
        Story(
            _ticket(run, 5, "Export to CSV times out", channel="chat"),
            "agent escalates to tier 2; tier 2 asks to escalate; a supervisor approves",
            _approval_flow,
            lambda s: s.tier == "tier3",
        ),
        Story(
            _ticket(run, 6, "Notifications arrive late", impacted_customers=120),
            "120 customers hit: priority raised; unresolved in tier 1, a senior takes over",
            _nothing,
            lambda s: s.escalations > 0,
        ),
    ]


async def _play(tickets: TicketClient, story: Story, within: float) -> TicketStatus:
    tid = story.ticket.id
    await story.act(tickets, tid)
    deadline = time.monotonic() + within
    while True:
        status = await tickets.status(tid)
        if story.done(status) or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.5)


def _report(results: list[tuple[Story, TicketStatus]]) -> Table:
    table = Table(title="What happened to each ticket", show_lines=True)
    for column in ("ticket", "story", "state", "tier/team", "priority", "escalations", "SLA"):
        table.add_column(column)
    for story, s in results:
        last = s.last_escalation
        esc = f"{s.escalations}" + (
            f" (last: {last.type}, {', '.join(last.reasons)})" if last else ""
        )
        table.add_row(
            f"{s.ticket_id}\n{s.subject}",
            story.plot,
            s.state,
            f"{s.tier or '—'}/{s.team or '—'}",
            str(s.priority),
            esc,
            "breached" if s.breached else "ok",
        )
    return table


async def run_demo(*, keep_running: bool, data_dir: Path, port: int, ui_port: int) -> None:
    """Run the demonstration end to end (see the module docstring)."""
    binary = ensure_temporal_binary(console.print)
    server = DevServer(binary, data_dir, port=port, ui_port=ui_port)
    if server.already_running():
        console.print(f"Using the Temporal dev server already running at {server.address}")
    else:
        console.print(f"Starting the Temporal dev server at {server.address} (data in {data_dir})")
        server.start()
        await server.wait_ready()
    try:
        client = await connect_local(server.address, server.namespace)
        added = await ensure_search_attributes(client, server.namespace)
        if added:
            console.print(f"Registered search attributes: {', '.join(added)}")
        run = datetime.now(UTC).strftime("%H%M%S")
        tickets = TicketClient(client, DEMO_QUEUE)
        policy = demo_policy()
        async with TierflowActivities(Settings()) as acts:
            worker = build_worker(client, DEMO_QUEUE, activities=acts)
            async with worker:
                console.print(f"Worker polling task queue {DEMO_QUEUE!r}; opening tickets…")
                plays = stories(run)
                for story in plays:
                    opened = await tickets.open(story.ticket, policy, opened_by="demo")
                    console.print(f"  opened {opened.ticket_id} → workflow {opened.workflow_id}")
                statuses = await asyncio.gather(*(_play(tickets, s, 90) for s in plays))
                results = list(zip(plays, statuses, strict=True))
                console.print(_report(results))
                try:
                    await tickets.approve(plays[3].ticket.id, Decide(actor="Morgan Lee"))
                except ActionRejected as err:
                    console.print(f"An invalid action is refused, history untouched: [i]{err}[/]")
                console.print(
                    f"\nSee every ticket in the Temporal UI: {server.ui_url}/namespaces/"
                    f"{server.namespace}/workflows\nFilter them with e.g. "
                    "TicketTier='tier3' AND TicketSlaBreached=true"
                )
                if keep_running:
                    console.print("Server and worker keep running; Ctrl-C stops them.")
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.Event().wait()
                else:
                    # Demo tickets left open would keep escalating on every later run's worker.
                    for story in plays:
                        if await tickets.is_running(story.ticket.id):
                            await client.get_workflow_handle(
                                workflow_id_for(story.ticket.id)
                            ).terminate(reason="demo finished")
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run Tierflow's demonstration.")
    parser.add_argument(
        "--keep-running", action="store_true", help="keep server and worker up for the UI"
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument("--port", type=int, default=7233)
    parser.add_argument("--ui-port", type=int, default=8233)
    args = parser.parse_args(argv)
    # Deliveries are skipped in the demo (no channel is configured); keep the output readable.
    configure_logging("ERROR")
    try:
        asyncio.run(
            run_demo(
                keep_running=args.keep_running,
                data_dir=args.data_dir,
                port=args.port,
                ui_port=args.ui_port,
            )
        )
    except (BinaryUnavailableError, ServerUnreachableError, TicketError, RuntimeError) as err:
        raise SystemExit(f"error: {err}") from None
    except KeyboardInterrupt:
        console.print("stopped")


if __name__ == "__main__":
    main()
