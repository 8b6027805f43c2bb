"""``tierflow report``: the escalation review over the tickets the visibility store lists."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tierflow.cli import render
from tierflow.cli._common import console, err_console, one_line, run_with_client
from tierflow.client import TicketClient
from tierflow.report import EscalationReport, build_report, read_histories


def report(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="the figures as JSON")] = False,
    limit: Annotated[int, typer.Option(min=1, help="at most this many tickets")] = 1000,
    running: Annotated[bool, typer.Option("--running", help="open tickets only")] = False,
) -> None:
    """Escalation review: by type, reason, team, tier; SLA compliance; time per tier.

    Also breaches by priority. Needs a running worker: it queries every ticket, closed ones too.
    A ticket that cannot be read is left out of the figures and named with the reason.
    """

    async def work(tickets: TicketClient) -> EscalationReport:
        # Only tickets on our task queue: its workers are the ones that answer the queries.
        found = await tickets.list(running_only=running, limit=limit, task_queue=tickets.task_queue)
        # The bar goes to stderr so that `--json` output stays clean on stdout.
        with Progress(
            TextColumn("querying tickets"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as progress:
            task = progress.add_task("tickets", total=len(found))
            reading = await read_histories(tickets, found, progress=lambda: progress.advance(task))
        return build_report(reading.histories, reading.unreadable)

    figures = run_with_client(ctx, work)
    if figures.unreadable:
        left_out = len(figures.unreadable)
        first = figures.unreadable[0]
        err_console.print(
            one_line(
                f"warning: {left_out} ticket(s) could not be read and are left out of the "
                f"figures (listed as unreadable), e.g. {first.ticket_id}: {first.reason}"
            ),
            style="yellow",
            markup=False,
            soft_wrap=True,
        )
    if as_json:
        typer.echo(figures.model_dump_json(indent=2))
        return
    for table in render.report_tables(figures):
        console.print(table)
