"""`worker.py` as operators run it: a real process, a real server, real signals."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from tierflow.activities import TierflowActivities
from tierflow.devserver import free_port
from tierflow.worker import parse_args, worker_for

WORKER = str(Path(__file__).parent.parent / "worker.py")


class TestWorkerProcess:
    async def test_unreachable_server_is_one_clear_line(self) -> None:
        """With no server listening, the worker exits 1 with one line and no traceback."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            WORKER,
            "--address",
            f"127.0.0.1:{free_port()}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1
        lines = err.decode().strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("error: cannot reach the Temporal server")
        assert "Traceback" not in err.decode() + out.decode()

    @pytest.mark.integration
    async def test_sigterm_stops_the_worker_cleanly(
        self, temporal_env: WorkflowEnvironment
    ) -> None:
        """SIGTERM makes a running worker log its stop and exit 0."""
        address = temporal_env.client.service_client.config.target_host
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            WORKER,
            "--address",
            address,
            "--task-queue",
            "sigterm-test",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        started = await asyncio.wait_for(proc.stderr.readline(), 60)
        assert json.loads(started)["event"] == "worker started"
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0
        events = [json.loads(line)["event"] for line in rest.decode().splitlines()]
        assert events[-1] == "worker stopped"


class TestSettingsHonoured:
    """What the settings say is what the worker runs with, read from the worker itself."""

    @pytest.mark.parametrize("sandboxed", [True, False])
    async def test_cache_size_and_sandbox_reach_the_worker(
        self, client: Client, task_queue: str, sandboxed: bool
    ) -> None:
        """``--cache`` and ``--no-sandbox`` (or their variables) configure the real worker."""
        argv = ["--task-queue", task_queue, "--cache", "123"]
        settings = parse_args([*argv, "--sandbox" if sandboxed else "--no-sandbox"])
        async with TierflowActivities() as activities:
            config = worker_for(client, settings, activities).config()
        assert config["max_cached_workflows"] == 123
        runner = config["workflow_runner"]
        assert isinstance(runner, SandboxedWorkflowRunner) is sandboxed
        assert isinstance(runner, UnsandboxedWorkflowRunner) is not sandboxed
        assert config["task_queue"] == task_queue
