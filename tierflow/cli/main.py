"""The ``tierflow`` command line: the app, its global options and its command groups."""

from __future__ import annotations

from typing import Annotated

import typer

from tierflow.cli import analytics, service
from tierflow.cli._common import GlobalOptions, GuardedGroup
from tierflow.cli.policy import policy_app
from tierflow.cli.tickets import ticket_app, tickets_app

app = typer.Typer(
    name="tierflow",
    help="Durable help-desk ticket escalation on Temporal.",
    no_args_is_help=True,
    # Every error is one line (GuardedGroup); never dump locals in a traceback.
    cls=GuardedGroup,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def options(
    ctx: typer.Context,
    address: Annotated[
        str | None,
        typer.Option(help="Temporal frontend host:port (env TIERFLOW_TEMPORAL_ADDRESS)"),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option(help="Temporal namespace (env TIERFLOW_NAMESPACE)")
    ] = None,
    task_queue: Annotated[
        str | None, typer.Option(help="the workers' task queue (env TIERFLOW_TASK_QUEUE)")
    ] = None,
) -> None:
    """Connection options apply to every command; they default to the environment."""
    # Checked (with the environment) only by the commands that connect: see settings_of.
    ctx.obj = GlobalOptions(address=address, namespace=namespace, task_queue=task_queue)


app.command("server")(service.server)
app.command("worker")(service.worker)
app.command("api")(service.api)
app.command("demo", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    service.demo
)
app.command("report")(analytics.report)
app.add_typer(ticket_app, name="ticket")
app.add_typer(tickets_app, name="tickets")
app.add_typer(policy_app, name="policy")
