"""Tierflow's own worker: the :class:`~tierflow.plugin.TierflowPlugin` on a worker of its own.

``tierflow worker`` (and ``python worker.py``, a shell over it) runs :func:`run_worker`.
SIGINT or SIGTERM stops it cleanly: running activities finish (within a grace period) before
the process exits. With ``--processes N`` (``TIERFLOW_WORKER_PROCESSES``) it runs
:func:`run_worker_processes`: a supervisor with N worker processes on the same task queue.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from multiprocessing.connection import wait as wait_for_exits
from types import FrameType
from typing import Annotated, Any

import structlog
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig, WorkerTuner

from tierflow.activities import Settings, TierflowActivities
from tierflow.config import DEFAULT_CACHE_SIZE, MAX_WORKER_PROCESSES, TemporalSettings
from tierflow.connect import ConnectionConfigError, ServerUnreachableError, connect
from tierflow.encryption import EncryptionCodec
from tierflow.plugin import TierflowPlugin
from tierflow.telemetry import (
    configure_tracing,
    install_metrics_runtime,
    is_traced,
    metrics_bind_problem,
    tracing_interceptor,
)

log = structlog.get_logger("tierflow.worker")

# How long the supervisor waits for its children to stop after SIGTERM: the worker's own
# graceful shutdown (10 s for running activities) and some margin; then it kills them.
CHILD_STOP_TIMEOUT = 30.0


class WorkerSettings(BaseSettings):
    """How a Tierflow worker runs: cache, sandbox and tuning. Environment variables
    ``TIERFLOW_<FIELD>`` (e.g. ``TIERFLOW_MAX_CACHED_WORKFLOWS``); flags of ``tierflow worker``
    override them. Unset tuning fields keep Temporal's defaults."""

    model_config = SettingsConfigDict(env_prefix="TIERFLOW_", extra="ignore", env_ignore_empty=True)

    max_cached_workflows: Annotated[int, Field(ge=0)] = DEFAULT_CACHE_SIZE
    workflow_sandbox: bool = True
    # Fixed slots: how many workflow tasks and activities run at once, and poller counts.
    max_concurrent_workflow_tasks: Annotated[int | None, Field(ge=2)] = None
    max_concurrent_activities: Annotated[int | None, Field(ge=1)] = None
    workflow_task_pollers: Annotated[int | None, Field(ge=2)] = None
    activity_task_pollers: Annotated[int | None, Field(ge=1)] = None
    # Or a resource-based tuner: slots follow the host's CPU and memory use toward targets.
    tuner_target_cpu: Annotated[float | None, Field(gt=0, le=1)] = None
    tuner_target_memory: Annotated[float | None, Field(gt=0, le=1)] = None
    # How long to wait for the server at start-up (None: as long as it takes, with backoff).
    server_wait: Annotated[float | None, Field(ge=0)] = None
    # After a worker dies, its cached tickets' tasks wait this long on its sticky queue
    # before any other worker takes them: short, so a crash costs seconds, not ten; long
    # enough that a busy live worker keeps its cache (a task that misses it is replayed).
    sticky_queue_timeout: Annotated[float, Field(gt=0, le=60)] = 3.0
    # Worker Versioning: this worker serves one build of a deployment; tickets are pinned to
    # the build they started on and move to the current one when they continue as new.
    deployment_name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    build_id: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    # Monitoring: a Prometheus endpoint (host:port) for Temporal's and Tierflow's metrics,
    # and OpenTelemetry traces of every ticket's workflow, updates and activities.
    metrics_bind: Annotated[str | None, Field(min_length=1, max_length=300)] = None
    tracing: bool = False
    # Worker processes on the task queue (run_worker_processes); child k of N serves its
    # metrics on the port of ``metrics_bind`` plus k.
    worker_processes: Annotated[int, Field(ge=1, le=MAX_WORKER_PROCESSES)] = 1

    @field_validator("metrics_bind")
    @classmethod
    def _bind_address(cls, value: str | None) -> str | None:
        problem = None if value is None else metrics_bind_problem(value)
        if problem is not None:
            raise ValueError(f"metrics bind address: {problem}")
        return value

    @model_validator(mode="after")
    def _one_kind_of_tuning(self) -> WorkerSettings:
        targets = (self.tuner_target_cpu, self.tuner_target_memory)
        if (targets[0] is None) != (targets[1] is None):
            raise ValueError("a resource-based tuner needs both a CPU and a memory target")
        if (self.deployment_name is None) != (self.build_id is None):
            raise ValueError("Worker Versioning needs both a deployment name and a build id")
        slots = (self.max_concurrent_workflow_tasks, self.max_concurrent_activities)
        if targets[0] is not None and any(v is not None for v in slots):
            raise ValueError("choose fixed slots or a resource-based tuner, not both")
        return self

    def worker_options(self) -> dict[str, Any]:
        """These settings as ``Worker(...)`` keyword arguments."""
        options: dict[str, Any] = {
            "max_cached_workflows": self.max_cached_workflows,
            "sticky_queue_schedule_to_start_timeout": timedelta(seconds=self.sticky_queue_timeout),
        }
        if self.tuner_target_cpu is not None and self.tuner_target_memory is not None:
            options["tuner"] = WorkerTuner.create_resource_based(
                target_memory_usage=self.tuner_target_memory,
                target_cpu_usage=self.tuner_target_cpu,
            )
        if self.deployment_name is not None and self.build_id is not None:
            options["deployment_config"] = WorkerDeploymentConfig(
                version=WorkerDeploymentVersion(self.deployment_name, self.build_id),
                use_worker_versioning=True,
                default_versioning_behavior=VersioningBehavior.PINNED,
            )
        for name, value in (
            ("max_concurrent_workflow_tasks", self.max_concurrent_workflow_tasks),
            ("max_concurrent_activities", self.max_concurrent_activities),
            # A ticket's own wake-ups send as local activities: the same cap holds for them,
            # or a limit meant to spare a rate-limited mail relay would not.
            ("max_concurrent_local_activities", self.max_concurrent_activities),
            ("max_concurrent_workflow_task_polls", self.workflow_task_pollers),
            ("max_concurrent_activity_task_polls", self.activity_task_pollers),
        ):
            if value is not None:
                options[name] = value
        return options


def worker_plugin(
    activities: TierflowActivities | None = None,
    *,
    settings: Settings | None = None,
    sandboxed: bool = True,
) -> TierflowPlugin:
    """The plugin of Tierflow's own worker: the ticket workflow and the activities. The
    replay net (:mod:`tierflow.replay`) replays histories with this same plugin."""
    return TierflowPlugin(activities=activities, settings=settings, sandboxed=sandboxed)


def build_worker(
    client: Client,
    task_queue: str,
    *,
    activities: TierflowActivities | None = None,
    settings: WorkerSettings | None = None,
    sandboxed: bool | None = None,
) -> Worker:
    """Tierflow's own worker for ``task_queue``: the :class:`TierflowPlugin` on a worker of
    its own, as the CLI, the demo, tests and benchmarks run it.

    ``sandboxed`` (default: the settings' choice) runs the ticket workflow in Temporal's
    Python sandbox. The sandbox re-imports the workflow module for every ticket it loads and
    proxies module access, which on a busy worker costs about half its CPU (see
    docs/benchmarks.md). The workflow code is deterministic without it (pure ``statemachine/``,
    ``workflow.now()``, no I/O; the test suite runs it sandboxed, which would catch a
    forbidden call, and replays recorded histories), so high-volume deployments may turn it
    off.
    """
    settings = settings or WorkerSettings()
    plugin = worker_plugin(
        activities, sandboxed=settings.workflow_sandbox if sandboxed is None else sandboxed
    )
    return Worker(
        client,
        task_queue=task_queue,
        plugins=[plugin],
        # A traced client's interceptor reaches its workers already.
        interceptors=[tracing_interceptor()] if settings.tracing and not is_traced(client) else [],
        graceful_shutdown_timeout=timedelta(seconds=10),
        **settings.worker_options(),
    )


def _encryption_line(client: Client) -> str:
    """``off``, or the key ids (never a key): which key encrypts, which decrypt."""
    codec = client.data_converter.payload_codec
    if not isinstance(codec, EncryptionCodec):
        return "off"
    return f"AES-256-GCM, encrypting with {codec.key_id!r}, decrypting {', '.join(codec.key_ids)}"


async def _connect_when_up(
    settings: TemporalSettings, wait: float | None, stop: asyncio.Event
) -> Client | None:
    """Connect, waiting for the server with backoff (a worker may start before its server,
    as in a compose stack); None if stopped meanwhile. A configuration mistake (a missing
    certificate, an unknown profile) is raised at once; waiting would not mend it. After
    ``wait`` seconds (None: never) the last reason is raised."""
    loop = asyncio.get_running_loop()
    give_up = None if wait is None else loop.time() + wait
    delay = 0.5
    while True:
        try:
            return await connect(settings)
        except ConnectionConfigError:
            raise
        except ServerUnreachableError as err:
            if give_up is not None and loop.time() + delay > give_up:
                raise
            log.warning("waiting for the Temporal server", reason=str(err), retry_in_s=delay)
        try:
            await asyncio.wait_for(stop.wait(), delay)
            return None
        except TimeoutError:
            delay = min(delay * 2, 10.0)


async def run_worker(
    settings: TemporalSettings,
    worker_settings: WorkerSettings | None = None,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Connect, then poll until ``stop`` is set (by SIGINT/SIGTERM when not given).

    With ``metrics_bind`` the process's Temporal runtime serves Prometheus metrics there
    (installed before connecting: a client keeps the runtime it connected with); with
    ``tracing`` the worker traces through OpenTelemetry (see :mod:`tierflow.telemetry`).
    """
    worker_settings = worker_settings or WorkerSettings()
    if worker_settings.metrics_bind is not None:
        install_metrics_runtime(worker_settings.metrics_bind)
    if worker_settings.tracing:
        configure_tracing()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await _connect_when_up(settings, worker_settings.server_wait, stop)
    if client is None:
        log.info("worker stopped")
        return
    async with build_worker(client, settings.task_queue, settings=worker_settings):
        log.info(
            "worker started",
            address=client.service_client.config.target_host,
            identity=client.identity,
            namespace=client.namespace,
            task_queue=settings.task_queue,
            encryption=_encryption_line(client),
            **worker_settings.model_dump(exclude_none=True),
        )
        await stop.wait()
        log.info("worker stopping")
    log.info("worker stopped")


class WorkerProcessExitError(RuntimeError):
    """A child of :func:`run_worker_processes` exited on its own; the others were stopped."""


def _nth_metrics_bind(bind: str | None, index: int) -> str | None:
    """Child ``index``'s metrics address: the port of ``bind`` plus ``index``."""
    if bind is None or index == 0:
        return bind
    host, _, port = bind.rpartition(":")
    return f"{host}:{int(port) + index}"


def _worker_child(
    settings: TemporalSettings, worker_settings: WorkerSettings, index: int, log_json: bool | None
) -> None:
    """One child of :func:`run_worker_processes`: a whole worker, with its own client."""
    from tierflow.logs import configure_logging

    configure_logging(json=log_json)
    structlog.contextvars.bind_contextvars(worker_process=index + 1, pid=os.getpid())
    try:
        asyncio.run(_run_while_parent_lives(settings, worker_settings))
    except KeyboardInterrupt:  # a terminal's Ctrl-C reaches the children too
        pass
    except Exception as err:  # one line for the supervisor's log, no traceback
        log.error("worker process failed", error=str(err) or type(err).__name__)
        sys.exit(1)


async def _run_while_parent_lives(
    settings: TemporalSettings, worker_settings: WorkerSettings
) -> None:
    """Run a worker that stops (gracefully) once its supervisor is gone — killed with SIGKILL,
    or a process manager that signalled only the supervisor — so that a restarted unit does not
    poll beside orphans of the last one."""
    stop = asyncio.Event()
    parent = os.getppid()

    async def watch_parent() -> None:
        while os.getppid() == parent:
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
                return  # stopping anyway
            except TimeoutError:
                pass
        log.warning("supervisor gone; worker process stopping")
        stop.set()

    watching = asyncio.create_task(watch_parent())
    try:
        await run_worker(settings, worker_settings, stop=stop)
    finally:
        watching.cancel()


def run_worker_processes(
    settings: TemporalSettings,
    worker_settings: WorkerSettings | None = None,
    processes: int | None = None,
    *,
    log_json: bool | None = None,
) -> None:
    """Run ``processes`` (default ``worker_settings.worker_processes``) worker processes on
    ``settings.task_queue`` until SIGINT or SIGTERM, which is passed on to every child (each
    stops as :func:`run_worker` does). Blocks; call it from the main thread of a program whose
    entry point is guarded by ``if __name__ == "__main__"`` (the children are spawned).

    Nothing is restarted: when a child exits on its own (a crash, a server that stayed away
    past ``server_wait``), the others are stopped and :class:`WorkerProcessExitError` is raised,
    so the process manager (systemd, Kubernetes, compose) restarts the whole unit and sees
    the failure, instead of a supervisor hiding a crash loop. With one process it runs the
    worker in this process.
    """
    worker_settings = worker_settings or WorkerSettings()
    n = worker_settings.worker_processes if processes is None else processes
    if not 1 <= n <= MAX_WORKER_PROCESSES:
        raise ValueError(f"worker processes must be 1 to {MAX_WORKER_PROCESSES}, not {n}")
    if n == 1:
        asyncio.run(run_worker(settings, worker_settings))
        return
    spawn = multiprocessing.get_context("spawn")
    children = [
        spawn.Process(
            target=_worker_child,
            args=(
                settings,
                worker_settings.model_copy(
                    update={
                        "worker_processes": 1,
                        "metrics_bind": _nth_metrics_bind(worker_settings.metrics_bind, k),
                    }
                ),
                k,
                log_json,
            ),
            name=f"tierflow-worker-{k + 1}",
        )
        for k in range(n)
    ]
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    exited: multiprocessing.process.BaseProcess | None = None
    try:
        for child in children:
            child.start()
        log.info(
            "worker processes started",
            processes=n,
            pids=[c.pid for c in children],
            task_queue=settings.task_queue,
        )
        while not stop.is_set() and exited is None:
            # A child's sentinel is ready once it exited (before it can be reaped).
            ready = wait_for_exits([c.sentinel for c in children], timeout=0.5)
            exited = next((c for c in children if c.sentinel in ready), None)
        if stop.is_set():
            # Ctrl-C at a terminal reaches the children too: one may be done before we look.
            exited = None
        log.info("worker processes stopping", processes=n)
    finally:
        # Whatever happened here, no child outlives the supervisor.
        _stop_children(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if exited is not None:
        raise WorkerProcessExitError(
            f"worker process {exited.name} (pid {exited.pid}) exited with code "
            f"{exited.exitcode}; stopped the other {n - 1}"
        )
    log.info("worker processes stopped", processes=n)


def _stop_children(children: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """SIGTERM to every live child, then wait; kill any still running after the timeout."""
    started = [c for c in children if c.pid is not None]
    for child in started:
        if child.is_alive():
            child.terminate()  # SIGTERM: the worker's own graceful stop
    give_up = time.monotonic() + CHILD_STOP_TIMEOUT
    for child in started:
        child.join(max(0.0, give_up - time.monotonic()))
        if child.is_alive():
            log.warning("worker process did not stop; killing it", pid=child.pid)
            child.kill()
            child.join()
