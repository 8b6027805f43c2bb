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

from tierflow.devserver import DevServer, ensure_temporal_binary, free_port
from tierflow.worker import WorkerSettings, build_worker

WORKER = str(Path(__file__).parent.parent / "worker.py")


class TestWorkerProcess:
    async def test_gives_up_after_its_wait_with_one_clear_line(self) -> None:
        """With no server listening, the worker waits (logging why) as long as it was told,
        then exits 1 with one error line and no traceback."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            WORKER,
            "--address",
            f"127.0.0.1:{free_port()}",
            "--server-wait",
            "1",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1
        lines = err.decode().strip().splitlines()
        assert lines[-1].startswith("error: cannot reach the Temporal server")
        waits = [json.loads(line) for line in lines[:-1]]
        assert waits
        assert all(w["event"] == "waiting for the Temporal server" for w in waits)
        assert "Traceback" not in err.decode() + out.decode()

    @pytest.mark.integration
    async def test_a_worker_started_before_its_server_waits_for_it(self, tmp_path: Path) -> None:
        """Started first, the worker waits with backoff; once the server listens it
        connects and serves tickets."""
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            WORKER,
            "--address",
            f"127.0.0.1:{port}",
            "--task-queue",
            "late-server",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        server = DevServer(ensure_temporal_binary(), tmp_path, port=port, ui_port=free_port())
        try:
            first = json.loads(await asyncio.wait_for(proc.stderr.readline(), 60))
            assert first["event"] == "waiting for the Temporal server"
            server.start()
            await server.wait_ready()
            while True:  # the next lines: more waiting, then the start
                line = json.loads(await asyncio.wait_for(proc.stderr.readline(), 90))
                if line["event"] != "waiting for the Temporal server":
                    break
            assert line["event"] == "worker started"
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            server.stop()

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
