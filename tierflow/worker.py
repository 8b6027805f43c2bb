"""Tierflow's own worker: the :class:`~tierflow.plugin.TierflowPlugin` on a worker of its own.

``tierflow worker`` (and ``python worker.py``, a shell over it) runs :func:`run_worker`.
SIGINT or SIGTERM stops it cleanly: running activities finish (within a grace period) before
the process exits.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from typing import Annotated, Any

import structlog
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig, WorkerTuner

from tierflow.activities import TierflowActivities
from tierflow.config import DEFAULT_CACHE_SIZE, TemporalSettings
from tierflow.connect import ConnectionConfigError, ServerUnreachableError, connect
from tierflow.plugin import TierflowPlugin
from tierflow.telemetry import (
    configure_tracing,
    install_metrics_runtime,
    is_traced,
    metrics_bind_problem,
    tracing_interceptor,
)

log = structlog.get_logger("tierflow.worker")


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
            ("max_concurrent_workflow_task_polls", self.workflow_task_pollers),
            ("max_concurrent_activity_task_polls", self.activity_task_pollers),
        ):
            if value is not None:
                options[name] = value
        return options


def build_worker(
    client: Client,
    task_queue: str,
    *,
    activities: TierflowActivities | None = None,
    settings: WorkerSettings | None = None,
    sandboxed: bool | None = None,
) -> Worker:
    """Tierflow's own worker for ``task_queue``: the :class:`TierflowPlugin` on a worker of
    its own (with the pre-namespacing type names, for tickets of earlier versions), as the
    CLI, the demo, tests and benchmarks run it.

    ``sandboxed`` (default: the settings' choice) runs the ticket workflow in Temporal's
    Python sandbox. The sandbox re-imports the workflow module for every ticket it loads and
    proxies module access, which on a busy worker costs about half its CPU (see README,
    Benchmarks). The workflow code is deterministic without it (pure ``statemachine/``,
    ``workflow.now()``, no I/O; the test suite runs it sandboxed, which would catch a
    forbidden call, and replays recorded histories), so high-volume deployments may turn it
    off.
    """
    settings = settings or WorkerSettings()
    plugin = TierflowPlugin(
        activities=activities,
        sandboxed=settings.workflow_sandbox if sandboxed is None else sandboxed,
        legacy_type_names=True,
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
            namespace=client.namespace,
            task_queue=settings.task_queue,
            **worker_settings.model_dump(exclude_none=True),
        )
        await stop.wait()
        log.info("worker stopping")
    log.info("worker stopped")
