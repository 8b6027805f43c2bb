"""A benchmark worker in a process of its own, so its memory can be measured alone.

    python -m benchmarks.worker_process --address HOST:PORT --task-queue Q \
        --kind tierflow|baseline --cache N --ready FILE

It writes FILE once polling and runs until SIGTERM or SIGINT. Tierflow's worker is built by
``worker.build_worker`` exactly as production runs it, with every channel unconfigured (each
delivery is skipped and logged): the benchmark measures Tierflow and Temporal, not SMTP — but
for ``--chat-webhook``, the capacity suite's slow channel.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from benchmarks.baseline import BaselineAgentTicket, BaselineTicket, baseline_effects
from tierflow.activities import Settings, TierflowActivities
from tierflow.config import TemporalSettings
from tierflow.connect import connect, connect_local, resolve
from tierflow.logs import configure_logging
from tierflow.worker import WorkerSettings, build_worker

# How many workflow tasks a Tierflow benchmark worker runs at once, when not its default.
SLOTS_ENV = "BENCH_WORKFLOW_TASK_SLOTS"
# Temporal's own default for how long a dead worker's sticky tasks wait before any worker.
TEMPORAL_STICKY_TIMEOUT = 10.0


def _worker(
    kind: str,
    client: Client,
    task_queue: str,
    cache: int,
    sandbox: bool,
    sticky: float | None,
    chat_webhook: str | None = None,
) -> Worker:
    if kind == "baseline":
        return Worker(
            client,
            task_queue=task_queue,
            workflows=[BaselineTicket, BaselineAgentTicket],
            activities=[baseline_effects],
            max_cached_workflows=cache,
            workflow_runner=SandboxedWorkflowRunner() if sandbox else UnsandboxedWorkflowRunner(),
            sticky_queue_schedule_to_start_timeout=timedelta(
                seconds=TEMPORAL_STICKY_TIMEOUT if sticky is None else sticky
            ),
        )
    settings = Settings(_env_file=None, chat_webhook_url=chat_webhook)
    tuning = WorkerSettings(max_cached_workflows=cache, workflow_sandbox=sandbox)
    # `python -m benchmarks --workflow-task-slots N` (default: Tierflow's own default).
    slots = os.environ.get(SLOTS_ENV)
    if slots:
        tuning.max_concurrent_workflow_tasks = int(slots)
    if sticky is not None:
        tuning.sticky_queue_timeout = sticky
    return build_worker(
        client, task_queue, activities=TierflowActivities(settings), settings=tuning
    )


# A worker started (again) while the fault suite has its server stopped waits for it, as
# `tierflow worker` does, for at most this long.
SERVER_WAIT = 120.0


async def _connect_mtls(address: str, kind: str) -> Client:
    """The fault suite's cluster target (benchmarks.fault_targets): mTLS, as its client
    configuration (TEMPORAL_TLS_*) says."""
    settings = TemporalSettings.model_construct(temporal_address=address)
    if kind != "baseline":
        return await connect(settings)
    return await Client.connect(address, tls=resolve(settings).tls)


async def _connect_waiting(address: str, kind: str) -> Client:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + SERVER_WAIT
    while True:
        try:
            if os.environ.get("TEMPORAL_TLS_CLIENT_CERT_PATH"):
                return await _connect_mtls(address, kind)
            if kind == "baseline":
                return await Client.connect(address)
            return await connect_local(address)
        except Exception:
            if loop.time() > give_up:
                raise
            await asyncio.sleep(0.5)


async def serve(
    address: str,
    task_queue: str,
    kind: str,
    cache: int,
    sandbox: bool,
    ready: Path,
    sticky: float | None = None,
    chat_webhook: str | None = None,
) -> None:
    client = await _connect_waiting(address, kind)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with _worker(kind, client, task_queue, cache, sandbox, sticky, chat_webhook):
        await asyncio.to_thread(ready.write_text, str(os.getpid()))
        # What `tierflow worker` logs once it polls (the fault suite waits for this line).
        print("worker started", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--kind", choices=["tierflow", "baseline"], required=True)
    parser.add_argument("--cache", type=int, required=True)
    parser.add_argument("--ready", type=Path, required=True)
    parser.add_argument("--sandbox", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--sticky-timeout", type=float, help="sticky queue schedule-to-start timeout, seconds"
    )
    parser.add_argument(
        "--chat-webhook", help="Tierflow's chat channel (the only one configured), a URL"
    )
    args = parser.parse_args(argv)
    # Channel settings of the host must not leak in: every delivery is skipped.
    for key in [k for k in os.environ if k.startswith("TIERFLOW_")]:
        del os.environ[key]
    configure_logging("INFO", json=True)
    asyncio.run(
        serve(
            args.address,
            args.task_queue,
            args.kind,
            args.cache,
            args.sandbox,
            args.ready,
            args.sticky_timeout,
            args.chat_webhook,
        )
    )


if __name__ == "__main__":
    main()
