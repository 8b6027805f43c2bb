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
from temporalio.worker import Worker

from activities import TierflowActivities
from tierflow.config import TemporalSettings
from tierflow.connect import ServerUnreachableError, connect
from tierflow.logs import configure_logging
from workflows import TicketWorkflow

log = structlog.get_logger("tierflow.worker")

# How many ticket workflows stay in memory between tasks. It bounds the worker's memory, not
# the number of open tickets: an evicted ticket is rebuilt from its history when it next wakes.
DEFAULT_CACHE_SIZE = 1000


def build_worker(
    client: Client,
    task_queue: str,
    *,
    activities: TierflowActivities | None = None,
    max_cached_workflows: int = DEFAULT_CACHE_SIZE,
) -> Worker:
    """The worker for ``task_queue``, as the CLI, the demo, tests and benchmarks all run it."""
    acts = activities or TierflowActivities()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[TicketWorkflow],
        activities=acts.all(),
        max_cached_workflows=max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run_worker(settings: TemporalSettings, *, stop: asyncio.Event | None = None) -> None:
    """Connect, then poll until ``stop`` is set (by SIGINT/SIGTERM when not given)."""
    client = await connect(settings.temporal_address, settings.namespace)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with (
        TierflowActivities() as activities,
        build_worker(client, settings.task_queue, activities=activities),
    ):
        log.info(
            "worker started",
            address=settings.temporal_address,
            namespace=settings.namespace,
            task_queue=settings.task_queue,
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
    args = parser.parse_args(argv)
    return TemporalSettings(
        temporal_address=args.address, namespace=args.namespace, task_queue=args.task_queue
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
