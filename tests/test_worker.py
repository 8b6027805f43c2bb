"""`worker.py` as operators run it: a real process, a real server, real signals."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from tierflow.devserver import free_port
from tierflow.worker import WorkerSettings, build_worker

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
        self, client: Client, task_queue: str, sandboxed: bool, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``TIERFLOW_MAX_CACHED_WORKFLOWS`` and ``TIERFLOW_WORKFLOW_SANDBOX`` (and the flags
        ``tierflow worker`` turns into the same settings) configure the real worker."""
        monkeypatch.setenv("TIERFLOW_MAX_CACHED_WORKFLOWS", "123")
        monkeypatch.setenv("TIERFLOW_WORKFLOW_SANDBOX", str(sandboxed).lower())
        config = build_worker(client, task_queue, settings=WorkerSettings()).config(
            active_config=True
        )
        assert config["max_cached_workflows"] == 123
        runner = config["workflow_runner"]
        assert isinstance(runner, SandboxedWorkflowRunner) is sandboxed
        assert isinstance(runner, UnsandboxedWorkflowRunner) is not sandboxed
        assert config["task_queue"] == task_queue

    async def test_tuning_reaches_the_worker(self, client: Client, task_queue: str) -> None:
        """Fixed slots and pollers, or a resource-based tuner, are the worker's own."""
        fixed = WorkerSettings(
            max_concurrent_workflow_tasks=7,
            max_concurrent_activities=9,
            workflow_task_pollers=3,
            activity_task_pollers=4,
        )
        config = build_worker(client, task_queue, settings=fixed).config(active_config=True)
        assert config["max_concurrent_workflow_tasks"] == 7
        assert config["max_concurrent_activities"] == 9
        assert config["max_concurrent_workflow_task_polls"] == 3
        assert config["max_concurrent_activity_task_polls"] == 4
        tuned = WorkerSettings(tuner_target_cpu=0.7, tuner_target_memory=0.8)
        # One worker per task queue in a process: the second looks at a queue of its own.
        tuned_worker = build_worker(client, f"{task_queue}-tuned", settings=tuned)
        assert tuned_worker.config(active_config=True)["tuner"] is not None

    async def test_worker_versioning_reaches_the_worker(
        self, client: Client, task_queue: str
    ) -> None:
        """A deployment name and build id turn on Worker Versioning, tickets pinned."""
        versioned = WorkerSettings(deployment_name="help-desk", build_id="2026.11.29")
        config = build_worker(client, task_queue, settings=versioned).config(active_config=True)
        deployment = config["deployment_config"]
        assert deployment is not None
        assert deployment.use_worker_versioning
        assert deployment.version.deployment_name == "help-desk"
        assert deployment.version.build_id == "2026.11.29"
        assert deployment.default_versioning_behavior == VersioningBehavior.PINNED
        with pytest.raises(ValueError, match="both a deployment name and a build id"):
            WorkerSettings(build_id="x")

    def test_conflicting_tuning_is_refused(self) -> None:
        """Slots and a resource-based tuner exclude each other; a lone target is incomplete."""
        with pytest.raises(ValueError, match="not both"):
            WorkerSettings(
                max_concurrent_activities=3, tuner_target_cpu=0.5, tuner_target_memory=0.5
            )
        with pytest.raises(ValueError, match="both a CPU and a memory"):
            WorkerSettings(tuner_target_cpu=0.5)
