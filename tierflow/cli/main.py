"""The ``tierflow`` command line: the app, its global options and its command groups."""

from __future__ import annotations

from typing import Annotated

import typer

from tierflow.cli import analytics, service
from tierflow.cli.policy import policy_app
from tierflow.cli.tickets import ticket_app, tickets_app
from tierflow.config import TemporalSettings

app = typer.Typer(
    name="tierflow",
    help="Durable help-desk ticket escalation on Temporal.",
    no_args_is_help=True,
    # Errors are printed as one line by the commands; never dump locals in a traceback.
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
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
    env = TemporalSettings()
    ctx.obj = TemporalSettings(
        temporal_address=address or env.temporal_address,
        namespace=namespace or env.namespace,
        task_queue=task_queue or env.task_queue,
    )


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
