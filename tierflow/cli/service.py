"""Long-running commands: ``server`` (the embedded dev server), ``worker``, ``api``, ``demo``."""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from tierflow.cli._common import console, fail, guarded, settings_of
from tierflow.config import MAX_WORKER_PROCESSES
from tierflow.devserver import BinaryUnavailableError, DevServer, ensure_temporal_binary
from tierflow.encryption import KEYS_ENV
from tierflow.encryption import configured as encryption_configured

# Where `tierflow api` serves the codec routes by default.
DEFAULT_CODEC_ENDPOINT = "http://127.0.0.1:8000/codec"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def server(
    data: Annotated[Path, typer.Option(help="where the server keeps its SQLite data")] = Path(
        ".data"
    ),
    port: Annotated[int, typer.Option(help="frontend (gRPC) port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Web UI port")] = 8233,
    codec_endpoint: Annotated[
        str | None,
        typer.Option(
            help="the UI's codec server, to show encrypted tickets decoded (default with "
            f"{KEYS_ENV} set: {DEFAULT_CODEC_ENDPOINT}, served by `tierflow api`)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the Temporal dev server (SQLite, Web UI, Tierflow's search attributes) until Ctrl-C."""
    try:
        binary = ensure_temporal_binary(say=console.print)
    except BinaryUnavailableError as err:
        fail(str(err))
    if codec_endpoint is None and encryption_configured():
        codec_endpoint = DEFAULT_CODEC_ENDPOINT
    dev = DevServer(
        binary=binary,
        data_dir=data,
        port=port,
        ui_port=ui_port,
        codec_endpoint=codec_endpoint or None,
    )
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
        if dev.codec_endpoint:
            console.print(
                f"The UI decodes through {dev.codec_endpoint}: run `tierflow api` beside it "
                "(same TIERFLOW_ENCRYPTION_KEYS; docs/privacy.md)"
            )
        # Sleep until a signal; SIGTERM is turned into the same clean stop as Ctrl-C.
        signal.signal(signal.SIGTERM, _interrupt)
        assert dev.process is not None
        dev.process.wait()
        fail(f"the dev server exited with code {dev.process.returncode}; see {data}/temporal.log")
    except KeyboardInterrupt:
        console.print("stopping the dev server…")
    finally:
        dev.stop()


def worker(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Option(help="Temporal frontend host:port")] = None,
    namespace: Annotated[str | None, typer.Option(help="Temporal namespace")] = None,
    task_queue: Annotated[str | None, typer.Option(help="the workers' task queue")] = None,
    cache: Annotated[
        int | None,
        typer.Option(help="tickets kept in memory (env TIERFLOW_MAX_CACHED_WORKFLOWS)", min=0),
    ] = None,
    sandbox: Annotated[
        bool | None,
        typer.Option(
            "--sandbox/--no-sandbox",
            help="run the ticket workflow in Temporal's sandbox (env TIERFLOW_WORKFLOW_SANDBOX)",
            show_default=False,
        ),
    ] = None,
    max_workflow_tasks: Annotated[
        int | None, typer.Option(help="workflow tasks at once (fixed slots)", min=2)
    ] = None,
    max_activities: Annotated[
        int | None, typer.Option(help="activities at once (fixed slots)", min=1)
    ] = None,
    workflow_pollers: Annotated[int | None, typer.Option(min=2)] = None,
    activity_pollers: Annotated[int | None, typer.Option(min=1)] = None,
    target_cpu: Annotated[
        float | None, typer.Option(help="resource-based tuner: CPU target, 0-1", min=0, max=1)
    ] = None,
    target_memory: Annotated[
        float | None, typer.Option(help="resource-based tuner: memory target, 0-1", min=0, max=1)
    ] = None,
    deployment: Annotated[
        str | None, typer.Option(help="Worker Versioning: deployment name (with --build-id)")
    ] = None,
    build_id: Annotated[
        str | None, typer.Option(help="Worker Versioning: this worker's build id")
    ] = None,
    metrics_bind: Annotated[
        str | None,
        typer.Option(
            help="serve Prometheus metrics on host:port, e.g. 0.0.0.0:9464 "
            "(env TIERFLOW_METRICS_BIND)"
        ),
    ] = None,
    tracing: Annotated[
        bool | None,
        typer.Option(
            "--tracing/--no-tracing",
            help="OpenTelemetry traces, exported over OTLP (env TIERFLOW_TRACING)",
            show_default=False,
        ),
    ] = None,
    server_wait: Annotated[
        float | None,
        typer.Option(
            help="seconds to wait for the server at start (default: as long as it takes)",
            min=0,
        ),
    ] = None,
    sticky_timeout: Annotated[
        float | None,
        typer.Option(help="seconds a dead worker's tickets wait on its sticky queue", min=0.1),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            envvar="TIERFLOW_WORKER_PROCESSES",
            help="worker processes on the task queue; if one exits, all stop (exit 1)",
            min=1,
            max=MAX_WORKER_PROCESSES,
        ),
    ] = 1,
) -> None:
    """Run the ticket worker until Ctrl-C or SIGTERM. Flags override TIERFLOW_* variables."""
    from tierflow.logs import configure_logging
    from tierflow.telemetry import TelemetryError
    from tierflow.worker import WorkerProcessExitError, WorkerSettings, run_worker_processes

    settings = settings_of(ctx)
    overrides = {
        "temporal_address": address,
        "namespace": namespace,
        "task_queue": task_queue,
    }
    tuning = {
        "max_cached_workflows": cache,
        "workflow_sandbox": sandbox,
        "max_concurrent_workflow_tasks": max_workflow_tasks,
        "max_concurrent_activities": max_activities,
        "workflow_task_pollers": workflow_pollers,
        "activity_task_pollers": activity_pollers,
        "tuner_target_cpu": target_cpu,
        "tuner_target_memory": target_memory,
        "deployment_name": deployment,
        "build_id": build_id,
        "metrics_bind": metrics_bind,
        "tracing": tracing,
        "server_wait": server_wait,
        "sticky_queue_timeout": sticky_timeout,
        "worker_processes": processes,
    }
    configure_logging()
    with guarded():
        settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        worker_settings = WorkerSettings.model_validate(
            {k: v for k, v in tuning.items() if v is not None}
        )
        try:
            run_worker_processes(settings, worker_settings, log_json=not sys.stderr.isatty())
        except (TelemetryError, WorkerProcessExitError) as err:
            fail(str(err))


def api(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="serve without authentication: anyone who reaches the port acts as anyone",
        ),
    ] = False,
    policy_file: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="the policy YAML tickets are opened with, which says who may open and list",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API for host systems (OpenAPI at /docs). Callers authenticate with
    signed tokens (TIERFLOW_JWT_*) or API keys (TIERFLOW_API_KEYS_FILE); see
    docs/hosting-and-embedding.md."""
    import uvicorn

    from tierflow.api import create_app
    from tierflow.files import load_policy

    with guarded():
        policy = load_policy(policy_file) if policy_file is not None else None

    if insecure_no_auth and not _loopback(host):
        fail(
            f"--insecure-no-auth serves only on this machine's loopback (127.0.0.1, ::1, "
            f"localhost), not on {host[:60]!r}: anyone who reaches the port would act as anyone; "
            "configure identities (TIERFLOW_API_KEYS_FILE or TIERFLOW_JWT_*) to serve others",
            code=2,
        )
    try:
        app = create_app(
            settings=settings_of(ctx), insecure_no_auth=insecure_no_auth, policy=policy
        )
    except ValueError as err:  # IdentityConfigError, or a settings value pydantic refused
        fail(str(err))
    if insecure_no_auth:
        console.print("[yellow]--insecure-no-auth: the API is open to anyone who reaches it")
    with guarded():
        uvicorn.run(app, host=host, port=port)


def _loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``): reachable from here only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def demo(ctx: typer.Context) -> None:
    """Run the demo: several tickets escalating on a real dev server (extra args go to it)."""
    # Imported only when asked for: the demo pulls in the worker and its activities.
    module = importlib.import_module("tierflow.demo")
    module.main(list(ctx.args))
