"""``tierflow tickets list``: the tickets matching one :class:`~tierflow.listing.TicketFilter`,
of the tiers and teams the actor reads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tierflow.client import TicketClient
from tierflow.files import load_policy
from tierflow.listing import TicketFilter, ticket_filter
from tierflow.statemachine import (
    CustomerStatus,
    Forbidden,
    Priority,
    default_policy,
    readable_area,
)

from . import render
from ._common import console, default_actor, fail, guarded, run_with_client

tickets_app = typer.Typer(help="Find tickets.", no_args_is_help=True)


def _described(name: str) -> str | None:
    """A filter's help: its description in the one filter model every interface lists by."""
    return TicketFilter.model_fields[name].description


@tickets_app.command("list")
def list_tickets(
    ctx: typer.Context,
    actor: Annotated[
        str,
        typer.Option(
            "--actor",
            default_factory=default_actor,
            help="whose tickets: those this person reads (env TIERFLOW_ACTOR, or $USER)",
        ),
    ],
    state: Annotated[str | None, typer.Option(help=_described("state"))] = None,
    tier: Annotated[str | None, typer.Option(help=_described("tier"))] = None,
    team: Annotated[str | None, typer.Option(help=_described("team"))] = None,
    priority: Annotated[Priority | None, typer.Option()] = None,
    breached: Annotated[
        bool | None, typer.Option("--breached/--not-breached", help=_described("breached"))
    ] = None,
    customer_status: Annotated[CustomerStatus | None, typer.Option()] = None,
    running: Annotated[bool, typer.Option("--running", help=_described("running_only"))] = False,
    delivery_failing: Annotated[
        bool | None,
        typer.Option(
            "--delivery-failing/--delivery-ok", help="some delivery keeps failing, or none"
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
    every: Annotated[
        bool, typer.Option("--all", help="every ticket, whoever reads it (an operator's view)")
    ] = False,
    policy_file: Annotated[
        Path | None, typer.Option("--policy", help="the policy YAML that says who reads what")
    ] = None,
) -> None:
    """Tickets matching every filter given (Temporal visibility; newest first), of the tiers
    and teams the actor reads under the policy (default: the packaged one); --all lists every
    ticket.

    A running ticket whose workflow task is failing is marked, and named with the reason.
    """
    within = None
    if not every:
        with guarded():
            policy = load_policy(policy_file) if policy_file is not None else default_policy()
        try:
            within = readable_area(policy, actor)
        except Forbidden as err:
            fail(f"{err.message} (an operator lists every ticket with --all)")

    with guarded():
        filters = ticket_filter(
            state=state,
            tier=tier,
            team=team,
            priority=priority,
            breached=breached,
            customer_status=customer_status,
            running_only=running,
            delivery_failing=delivery_failing,
        )

    async def work(tickets: TicketClient) -> None:
        found = await tickets.list(
            filters, within=within, limit=limit, with_summary=not as_json, check_tasks=True
        )
        if as_json:
            for row in found:
                typer.echo(row.model_dump_json())
        elif found:
            console.print(render.list_table(found))
            for row in found:
                if row.unreadable is not None:
                    # Plain text: the id may hold characters rich would read as markup.
                    console.print(
                        f"{row.ticket_id} cannot be read now: {row.unreadable}",
                        markup=False,
                        highlight=False,
                        soft_wrap=True,
                    )
        else:
            console.print("no tickets match")

    run_with_client(ctx, work)


__all__ = ["tickets_app"]
