"""The ``tierflow`` command line: the app, its global options and its command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tierflow import __version__
from tierflow.cli import analytics, service
from tierflow.cli._common import GlobalOptions, GuardedGroup
from tierflow.cli.api_keys import api_keys_app
from tierflow.cli.keys import keys_app
from tierflow.cli.listing import tickets_app
from tierflow.cli.policy import policy_app
from tierflow.cli.tickets import ticket_app

app = typer.Typer(
    name="tierflow",
    help="Durable help-desk ticket escalation on Temporal.",
    no_args_is_help=True,
    # Every error is one line (GuardedGroup); never dump locals in a traceback.
    cls=GuardedGroup,
    pretty_exceptions_show_locals=False,
)


def _print_version(wanted: bool) -> None:
    """``--version``: print the installed version and stop before any command runs."""
    if wanted:
        typer.echo(f"tierflow {__version__}")
        raise typer.Exit


@app.callback()
def options(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="print Tierflow's version and exit",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
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
    profile: Annotated[
        str | None,
        typer.Option(help="profile of the Temporal config file (env TEMPORAL_PROFILE)"),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(help="Temporal config file, TOML (env TEMPORAL_CONFIG_FILE)"),
    ] = None,
    tls: Annotated[
        bool | None,
        typer.Option(
            "--tls/--no-tls", help="use TLS or not (env TEMPORAL_TLS)", show_default=False
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(help="client certificate for mTLS (env TEMPORAL_TLS_CLIENT_CERT_PATH)"),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(help="client key for mTLS (env TEMPORAL_TLS_CLIENT_KEY_PATH)"),
    ] = None,
    tls_ca: Annotated[
        Path | None,
        typer.Option(help="CA of the server's certificate (env TEMPORAL_TLS_SERVER_CA_CERT_PATH)"),
    ] = None,
    tls_server_name: Annotated[
        str | None,
        typer.Option(help="server name to verify (env TEMPORAL_TLS_SERVER_NAME)"),
    ] = None,
) -> None:
    """Connection options apply to every command; they default to the environment: Tierflow's
    TIERFLOW_* variables, then Temporal's TEMPORAL_* variables and config-file profile. An API
    key is read from TEMPORAL_API_KEY or the profile only, never from the command line."""
    # Checked (with the environment) only by the commands that connect: see settings_of.
    ctx.obj = GlobalOptions(
        address=address,
        namespace=namespace,
        task_queue=task_queue,
        profile=profile,
        config_file=config_file,
        tls=tls,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_ca=tls_ca,
        tls_server_name=tls_server_name,
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
app.add_typer(keys_app, name="keys")
app.add_typer(api_keys_app, name="api-keys")
