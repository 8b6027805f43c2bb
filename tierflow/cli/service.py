"""Long-running commands: ``server`` (the embedded dev server), ``worker``, ``api``, ``demo``."""

from __future__ import annotations

import asyncio
import importlib
import signal
from pathlib import Path
from typing import Annotated

import typer

from tierflow.cli._common import console, fail, guarded, settings_of
from tierflow.devserver import BinaryUnavailableError, DevServer, ensure_temporal_binary


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def server(
    data: Annotated[Path, typer.Option(help="where the server keeps its SQLite data")] = Path(
        ".data"
    ),
    port: Annotated[int, typer.Option(help="frontend (gRPC) port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Web UI port")] = 8233,
) -> None:
    """Start the Temporal dev server (SQLite, Web UI, Tierflow's search attributes) until Ctrl-C."""
    try:
        binary = ensure_temporal_binary(say=console.print)
    except BinaryUnavailableError as err:
        fail(str(err))
    dev = DevServer(binary=binary, data_dir=data, port=port, ui_port=ui_port)
    if dev.already_running():
        console.print(f"A Temporal server is already running on {dev.address}; using it is fine.")
        return
    dev.start()
    try:
        try:
            asyncio.run(dev.wait_ready())
        except RuntimeError as err:
            fail(str(err))
        console.print(f"Temporal dev server on [bold]{dev.address}[/bold], data in {data}")
        console.print(f"Web UI: [link={dev.ui_url}]{dev.ui_url}[/link]  — Ctrl-C stops it")
        # Sleep until a signal; SIGTERM is turned into the same clean stop as Ctrl-C.
        signal.signal(signal.SIGTERM, _interrupt)
        assert dev.process is not None
        dev.process.wait()
        fail(f"the dev server exited with code {dev.process.returncode}; see {data}/temporal.log")
    except KeyboardInterrupt:
        console.print("stopping the dev server…")
    finally:
        dev.stop()


def worker(ctx: typer.Context) -> None:
    """Run the ticket worker until Ctrl-C (uses the global --address/--namespace/--task-queue)."""
    from tierflow.logs import configure_logging
    from tierflow.worker import run_worker

    configure_logging()
    with guarded():
        asyncio.run(run_worker(settings_of(ctx)))


def api(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    token: Annotated[
        str | None,
        typer.Option(envvar="TIERFLOW_API_TOKEN", help="bearer token (env TIERFLOW_API_TOKEN)"),
    ] = None,
) -> None:
    """Serve the HTTP API for host systems (OpenAPI at /docs)."""
    import uvicorn

    from tierflow.api import create_app

    app = create_app(token=token or None, settings=settings_of(ctx))
    if not token:
        console.print("[yellow]no TIERFLOW_API_TOKEN: the API is open to anyone who reaches it")
    with guarded():
        uvicorn.run(app, host=host, port=port)


def demo(ctx: typer.Context) -> None:
    """Run the demo: several tickets escalating on a real dev server (extra args go to it)."""
    # Imported only when asked for: the demo pulls in the worker and its activities.
    module = importlib.import_module("tierflow.demo")
    module.main(list(ctx.args))
