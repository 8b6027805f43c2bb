"""Run Tierflow's worker: the ticket workflow and its activities on one task queue.

    python worker.py [--address HOST:PORT] [--namespace NS] [--task-queue QUEUE]

Flags default to ``TIERFLOW_TEMPORAL_ADDRESS``, ``TIERFLOW_NAMESPACE`` and
``TIERFLOW_TASK_QUEUE``, and those to the local dev server. SIGINT or SIGTERM stops it cleanly:
running activities finish (within a grace period) before the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from tierflow.activities import TierflowActivities
from tierflow.config import DEFAULT_CACHE_SIZE, TemporalSettings
from tierflow.connect import ServerUnreachableError, connect
from tierflow.logs import configure_logging
from tierflow.workflows import TicketWorkflow

log = structlog.get_logger("tierflow.worker")


def build_worker(
    client: Client,
    task_queue: str,
    *,
    activities: TierflowActivities | None = None,
    max_cached_workflows: int = DEFAULT_CACHE_SIZE,
    sandboxed: bool = True,
) -> Worker:
    """The worker for ``task_queue``, as the CLI, the demo, tests and benchmarks all run it.

    ``sandboxed=False`` runs the ticket workflow outside Temporal's Python sandbox. The sandbox
    re-imports the workflow module for every ticket it loads and proxies module access, which
    on a busy worker costs about half its CPU (see README, Benchmarks). The workflow code is
    deterministic without it (pure ``statemachine/``, ``workflow.now()``, no I/O; the test
    suite runs it sandboxed, which would catch a forbidden call, and replays recorded
    histories), so high-volume deployments may turn it off.
    """
    acts = activities or TierflowActivities()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[TicketWorkflow],
        activities=acts.all(),
        max_cached_workflows=max_cached_workflows,
        workflow_runner=SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner(),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def worker_for(
    client: Client, settings: TemporalSettings, activities: TierflowActivities
) -> Worker:
    """The worker ``settings`` describe: task queue, cache size and sandbox as configured."""
    return build_worker(
        client,
        settings.task_queue,
        activities=activities,
        max_cached_workflows=settings.max_cached_workflows,
        sandboxed=settings.workflow_sandbox,
    )


async def run_worker(settings: TemporalSettings, *, stop: asyncio.Event | None = None) -> None:
    """Connect, then poll until ``stop`` is set (by SIGINT/SIGTERM when not given)."""
    client = await connect(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with (
        TierflowActivities() as activities,
        worker_for(client, settings, activities),
    ):
        log.info(
            "worker started",
            address=settings.temporal_address,
            namespace=settings.namespace,
            task_queue=settings.task_queue,
            sandboxed=settings.workflow_sandbox,
            cache=settings.max_cached_workflows,
        )
        await stop.wait()
        log.info("worker stopping")
    log.info("worker stopped")


def parse_args(argv: list[str] | None = None) -> TemporalSettings:
    """Flags override the environment, which overrides the local defaults."""
    env = TemporalSettings()
    parser = argparse.ArgumentParser(description="Run the Tierflow worker.")
    parser.add_argument("--address", default=env.temporal_address, help="Temporal frontend")
    parser.add_argument("--namespace", default=env.namespace)
    parser.add_argument("--task-queue", default=env.task_queue)
    parser.add_argument(
        "--cache", type=int, default=env.max_cached_workflows, help="max cached workflows"
    )
    parser.add_argument(
        "--sandbox",
        action=argparse.BooleanOptionalAction,
        default=env.workflow_sandbox,
        help="run the ticket workflow in Temporal's sandbox (default: on)",
    )
    args = parser.parse_args(argv)
    return TemporalSettings(
        temporal_address=args.address,
        namespace=args.namespace,
        task_queue=args.task_queue,
        max_cached_workflows=args.cache,
        workflow_sandbox=args.sandbox,
    )


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    configure_logging()
    try:
        asyncio.run(run_worker(settings))
    except ServerUnreachableError as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
