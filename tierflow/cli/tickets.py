"""``tierflow ticket ...`` (one ticket: open, read, act, customer events) and ``tierflow
tickets list``. Every action's input is validated by its pydantic model before connecting."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel

from tierflow.client import TicketClient
from tierflow.files import load_policy, read_text
from tierflow.statemachine import (
    Channel,
    CustomerStatus,
    EscalationReason,
    EscalationType,
    Policy,
    Priority,
    Ticket,
)
from tierflow.statemachine.inputs import (
    MAX_FILE_BYTES,
    InputError,
    clip,
    load_json,
    quoted,
)
from tierflow.workflows.actions import ACTION_SPECS
from tierflow.workflows.messages import CustomerFeedback, CustomerReply, TicketStatus
from tierflow.workflows.outbox.failing import DeliveryView, DropDelivery, RetryDeliveries

from . import render
from ._common import console, default_actor, fail, guarded, run_with_client

ticket_app = typer.Typer(help="Open one ticket, read it, and act on it.", no_args_is_help=True)
CommandFunction = TypeVar("CommandFunction", bound=Callable[..., Any])

# Every ticket's id has this shape (Ticket.id); anything else is refused before connecting.
_TICKET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def _ticket_id(value: str) -> str:
    if not _TICKET_ID.fullmatch(value):
        raise typer.BadParameter(
            f"{quoted(value)} is not a ticket id (1-128 letters, digits and . _ : -)"
        )
    return value


TicketId = Annotated[
    str, typer.Argument(help="the ticket's id in the host system", callback=_ticket_id)
]
ActorOpt = Annotated[
    str,
    typer.Option(
        "--actor", default_factory=default_actor, help="who acts (env TIERFLOW_ACTOR, or $USER)"
    ),
]
NoteOpt = Annotated[str, typer.Option("--note", help="a note kept with the action")]


# --- opening and reading ------------------------------------------------------------------------


MAX_TICKET_BYTES = MAX_FILE_BYTES


def _ticket_from(file: Path | None, fields: dict[str, Any]) -> Ticket:
    """The ticket from a JSON file of at most MAX_TICKET_BYTES (flags override its keys), or
    from flags alone."""
    data: dict[str, Any] = {}
    if file is not None:
        name = clip(str(file))
        try:
            loaded = load_json(read_text(file, MAX_TICKET_BYTES))
        except InputError as err:
            fail(f"ticket file {name}: {err}")
        if not isinstance(loaded, dict):
            fail(f"ticket file {name}: expected a JSON object")
        data.update(loaded)
        if not isinstance(data.get("customer") or {}, dict):
            fail(f"ticket file {name}: customer: expected an object (id, name, email, …)")
    customer = dict(data.get("customer") or {})
    for key in ("id", "name", "email", "phone", "status"):
        value = fields.pop(f"customer_{key}")
        if value is not None:
            customer[key] = value
    data["customer"] = customer
    data.update({k: v for k, v in fields.items() if v not in (None, [])})
    data.setdefault("created_at", datetime.now(UTC).isoformat())
    return Ticket.model_validate(data)


@ticket_app.command("open")
def open_ticket(
    ctx: typer.Context,
    ticket_id: Annotated[str | None, typer.Option("--id", help="ticket id")] = None,
    subject: Annotated[str | None, typer.Option(help="one-line subject")] = None,
    description: Annotated[str | None, typer.Option(help="the customer's words")] = None,
    channel: Annotated[Channel | None, typer.Option(help="where it came from")] = None,
    customer_id: Annotated[str | None, typer.Option("--customer-id")] = None,
    customer_name: Annotated[str | None, typer.Option("--customer-name")] = None,
    customer_email: Annotated[str | None, typer.Option("--email")] = None,
    customer_phone: Annotated[str | None, typer.Option("--phone")] = None,
    customer_status: Annotated[CustomerStatus | None, typer.Option("--customer-status")] = None,
    priority: Annotated[Priority | None, typer.Option(help="initial priority")] = None,
    category: Annotated[str | None, typer.Option(help="issue type, if known")] = None,
    tags: Annotated[list[str] | None, typer.Option("--tag", help="repeatable")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="ticket JSON")] = None,
    policy_file: Annotated[Path | None, typer.Option("--policy", help="policy YAML")] = None,
    opened_by: Annotated[str, typer.Option("--opened-by")] = "cli",
) -> None:
    """Open a ticket (opening it again is harmless: it reports the running one)."""
    fields: dict[str, Any] = {
        "id": ticket_id,
        "subject": subject,
        "description": description,
        "channel": channel,
        "customer_id": customer_id,
        "customer_name": customer_name,
        "customer_email": customer_email,
        "customer_phone": customer_phone,
        "customer_status": customer_status,
        "priority": priority,
        "category": category,
        "tags": tags or [],
    }
    policy: Policy | None = None
    with guarded():
        ticket = _ticket_from(file, fields)
        policy = load_policy(policy_file) if policy_file is not None else None

    async def work(tickets: TicketClient) -> None:
        opened = await tickets.open(ticket, policy, opened_by=opened_by)
        verb = "opened" if opened.created else "was already open"
        console.print(f"[bold]{opened.ticket_id}[/bold] {verb} (workflow {opened.workflow_id})")
        console.print(render.status_line(await tickets.status(opened.ticket_id)))

    run_with_client(ctx, work)


@ticket_app.command("show")
def show(ctx: typer.Context, ticket_id: TicketId) -> None:
    """The ticket now: state, tier, owner, SLA targets and what may be done next."""

    async def work(tickets: TicketClient) -> None:
        console.print(render.status_table(await tickets.status(ticket_id)))

    run_with_client(ctx, work)


@ticket_app.command("timeline")
def timeline(ctx: typer.Context, ticket_id: TicketId) -> None:
    """The ticket's audit trail, oldest first."""

    async def work(tickets: TicketClient) -> None:
        console.print(render.timeline_table(ticket_id, await tickets.timeline(ticket_id)))

    run_with_client(ctx, work)


# --- actions ---------------------------------------------------------------------------------


def _action_command(name: str) -> Callable[[CommandFunction], CommandFunction]:
    """Register a ``tierflow ticket`` command for the registry's action ``name``
    (workflows/actions.py): its command name and help come from there."""
    spec = ACTION_SPECS[name]
    return ticket_app.command(spec.command, help=spec.summary)


def _act(ctx: typer.Context, ticket_id: str, action: str, payload: dict[str, Any]) -> None:
    """Validate the action's input, run it, print where the ticket is now."""
    with guarded():
        message: BaseModel = ACTION_SPECS[action].message.model_validate(payload)

    async def work(tickets: TicketClient) -> TicketStatus:
        return await tickets.act(ticket_id, action, message)

    status = run_with_client(ctx, work)
    console.print(render.status_line(status))


@_action_command("assign")
def assign(
    ctx: typer.Context,
    ticket_id: TicketId,
    assignee: Annotated[str, typer.Argument(help="a person named in the policy")],
    actor: ActorOpt,
    team: Annotated[str | None, typer.Option(help="a team of the same tier")] = None,
) -> None:
    _act(ctx, ticket_id, "assign", {"actor": actor, "assignee": assignee, "team": team})


@_action_command("respond")
def respond(
    ctx: typer.Context,
    ticket_id: TicketId,
    actor: ActorOpt,
    message: Annotated[str, typer.Option(help="what the customer was told")] = "",
) -> None:
    _act(ctx, ticket_id, "respond", {"actor": actor, "message": message})


ReasonsOpt = Annotated[
    list[EscalationReason], typer.Option("--reason", help="why (repeatable, at least one)")
]


@_action_command("escalate")
def escalate(
    ctx: typer.Context,
    ticket_id: TicketId,
    actor: ActorOpt,
    reasons: ReasonsOpt,
    tier: Annotated[str | None, typer.Option(help="target tier (default: the next)")] = None,
    team: Annotated[str | None, typer.Option(help="target team")] = None,
    functional: Annotated[
        bool, typer.Option("--functional", help="sideways to a team, not up a tier")
    ] = False,
    assignee: Annotated[str | None, typer.Option()] = None,
    note: NoteOpt = "",
) -> None:
    kind = EscalationType.FUNCTIONAL if functional else EscalationType.HIERARCHICAL
    payload = {
        "actor": actor,
        "type": kind,
        "tier": tier,
        "team": team,
        "assignee": assignee,
        "reasons": reasons,
        "note": note,
    }
    _act(ctx, ticket_id, "escalate", payload)


@_action_command("request_escalation")
def request_escalation(
    ctx: typer.Context,
    ticket_id: TicketId,
    actor: ActorOpt,
    reasons: ReasonsOpt,
    tier: Annotated[str | None, typer.Option()] = None,
    team: Annotated[str | None, typer.Option()] = None,
    note: NoteOpt = "",
) -> None:
    payload = {"actor": actor, "tier": tier, "team": team, "reasons": reasons, "note": note}
    _act(ctx, ticket_id, "request_escalation", payload)


@_action_command("approve")
def approve(ctx: typer.Context, ticket_id: TicketId, actor: ActorOpt, note: NoteOpt = "") -> None:
    _act(ctx, ticket_id, "approve", {"actor": actor, "note": note})


@_action_command("reject")
def reject(ctx: typer.Context, ticket_id: TicketId, actor: ActorOpt, note: NoteOpt = "") -> None:
    _act(ctx, ticket_id, "reject", {"actor": actor, "note": note})


@_action_command("set_priority")
def set_priority(
    ctx: typer.Context,
    ticket_id: TicketId,
    priority: Annotated[Priority, typer.Argument()],
    actor: ActorOpt,
    note: NoteOpt = "",
) -> None:
    _act(ctx, ticket_id, "set_priority", {"actor": actor, "priority": priority, "note": note})


@_action_command("note")
def note(
    ctx: typer.Context, ticket_id: TicketId, text: Annotated[str, typer.Argument()], actor: ActorOpt
) -> None:
    _act(ctx, ticket_id, "note", {"actor": actor, "text": text})


@_action_command("wait_customer")
def wait_customer(
    ctx: typer.Context, ticket_id: TicketId, actor: ActorOpt, note: NoteOpt = ""
) -> None:
    _act(ctx, ticket_id, "wait_customer", {"actor": actor, "note": note})


@_action_command("resolve")
def resolve(
    ctx: typer.Context,
    ticket_id: TicketId,
    resolution: Annotated[str, typer.Argument(help="what fixed it")],
    actor: ActorOpt,
) -> None:
    _act(ctx, ticket_id, "resolve", {"actor": actor, "resolution": resolution})


@_action_command("reopen")
def reopen(
    ctx: typer.Context,
    ticket_id: TicketId,
    reason: Annotated[str, typer.Argument()],
    actor: ActorOpt,
) -> None:
    _act(ctx, ticket_id, "reopen", {"actor": actor, "reason": reason})


@_action_command("close")
def close(ctx: typer.Context, ticket_id: TicketId, actor: ActorOpt, note: NoteOpt = "") -> None:
    _act(ctx, ticket_id, "close", {"actor": actor, "note": note})


# --- customer events ----------------------------------------------------------------------------


@ticket_app.command("reply")
def reply(
    ctx: typer.Context,
    ticket_id: TicketId,
    message: Annotated[str, typer.Option(help="the customer's reply")] = "",
) -> None:
    """Record that the customer replied (resumes a waiting ticket, reopens a resolved one)."""
    with guarded():
        event = CustomerReply(message=message)

    async def work(tickets: TicketClient) -> None:
        await tickets.customer_reply(ticket_id, event)

    run_with_client(ctx, work)
    console.print(f"[bold]{ticket_id}[/bold]: customer reply recorded")


@ticket_app.command("feedback")
def feedback(
    ctx: typer.Context,
    ticket_id: TicketId,
    score: Annotated[int, typer.Argument(help="1 (bad) to 5 (great)")],
    comment: Annotated[str, typer.Option()] = "",
) -> None:
    """Record the customer's satisfaction score (a low score reopens the ticket)."""
    with guarded():
        event = CustomerFeedback(score=score, comment=comment)

    async def work(tickets: TicketClient) -> None:
        await tickets.customer_feedback(ticket_id, event)

    run_with_client(ctx, work)
    console.print(f"[bold]{ticket_id}[/bold]: feedback {score}/5 recorded")


# --- deliveries that keep failing ---------------------------------------------------------


def _print_deliveries(ticket_id: str, found: list[DeliveryView]) -> None:
    if not found:
        console.print(f"[bold]{ticket_id}[/bold]: no failing delivery")
        return
    for d in found:
        state = "waiting" if d.waiting else f"{d.attempts} attempt(s)"
        to = f"to {d.recipient} " if d.recipient else ""
        retry = f"next retry {d.next_retry_at:%H:%M:%S}Z; " if d.next_retry_at else ""
        # Plain text: the key and the error may hold characters rich would read as markup.
        console.print(
            render.plain(
                f"{d.key}  {d.what} ({to}{state}; {retry}until {d.give_up_at:%Y-%m-%d %H:%M}Z): "
                f"{d.error}"
            ),
            markup=False,
            highlight=False,
            soft_wrap=True,  # one line per item, however narrow the terminal
        )


@ticket_app.command("deliveries")
def deliveries(ctx: typer.Context, ticket_id: TicketId) -> None:
    """The ticket's deliveries that keep failing (retried until the delivery horizon)."""

    async def work(tickets: TicketClient) -> list[DeliveryView]:
        return await tickets.deliveries(ticket_id)

    _print_deliveries(ticket_id, run_with_client(ctx, work))


@_action_command("retry_deliveries")
def retry_delivery(ctx: typer.Context, ticket_id: TicketId, actor: ActorOpt) -> None:
    with guarded():
        message = RetryDeliveries(actor=actor)

    async def work(tickets: TicketClient) -> list[DeliveryView]:
        return await tickets.retry_deliveries(ticket_id, message)

    found = run_with_client(ctx, work)
    console.print(f"[bold]{ticket_id}[/bold]: retrying {len(found)} delivery(ies) now")


@_action_command("drop_delivery")
def drop_delivery(
    ctx: typer.Context,
    ticket_id: TicketId,
    key: Annotated[str, typer.Argument(help="the delivery's key, as `deliveries` lists it")],
    actor: ActorOpt,
) -> None:
    with guarded():
        message = DropDelivery(actor=actor, key=key)

    async def work(tickets: TicketClient) -> list[DeliveryView]:
        return await tickets.drop_delivery(ticket_id, message)

    _print_deliveries(ticket_id, run_with_client(ctx, work))


__all__ = ["ticket_app"]
