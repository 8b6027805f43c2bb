"""`worker.py` as operators run it: a real process, a real server, real signals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from tests.waiting import eventually
from tests.workflows.support import fast_policy, ticket, wait_for
from tierflow.client import TicketClient
from tierflow.devserver import DevServer, free_port
from tierflow.worker import WorkerSettings, build_worker

WORKER = str(Path(__file__).parent.parent / "worker.py")


class TestWorkerProcess:
    async def test_gives_up_after_its_wait_with_one_clear_line(self, worker_script: Path) -> None:
        """With no server listening, the worker waits (logging why) as long as it was told,
        then exits 1 with one error line and no traceback."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(worker_script),
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

    async def test_a_worker_started_before_its_server_waits_for_it(
        self, tmp_path: Path, temporal_binary: Path
    ) -> None:
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
        server = DevServer(temporal_binary, tmp_path, port=port, ui_port=free_port())
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


async def _pollers(client: Client, task_queue: str) -> set[str]:
    """Identities of the workers polling ``task_queue`` for workflow tasks."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {p.identity for p in response.pollers}


async def _start_processes(
    address: str, task_queue: str, n: int, *, new_session: bool = False
) -> tuple[asyncio.subprocess.Process, list[dict[str, Any]]]:
    """``worker.py --processes n``, once all ``n`` children logged "worker started" (with
    ``new_session``, in a process group of its own, as at a terminal)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        WORKER,
        "--address",
        address,
        "--task-queue",
        task_queue,
        "--processes",
        str(n),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=new_session,
    )
    assert proc.stderr is not None
    started: list[dict[str, Any]] = []
    while len(started) < n:
        line = json.loads(await asyncio.wait_for(proc.stderr.readline(), 90))
        if line["event"] == "worker started":
            started.append(line)
    return proc, started


def _log_lines(stream: bytes) -> list[dict[str, Any]]:
    """The supervisor's and its children's stderr, one JSON log line each; a line that is not
    one fails with the whole stream, so the process that wrote it can be told."""
    lines: list[dict[str, Any]] = []
    for line in stream.decode().split("\n"):  # log lines end in \n only (not str.splitlines)
        if not line:
            continue
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON log line: {line!r}\nin:\n{stream.decode()}")
    return lines


def _exited(pid: int) -> bool:
    """The process is gone, or a zombie nobody reaped yet (its parent died before it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@contextlib.asynccontextmanager
async def _supervisor(
    address: str, task_queue: str, n: int, *, new_session: bool = False
) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[dict[str, Any]]]]:
    """:func:`_start_processes`, killed at the end if a test left it running."""
    proc, started = await _start_processes(address, task_queue, n, new_session=new_session)
    try:
        yield proc, started
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


class TestWorkerProcesses:
    """``tierflow worker --processes N``: N workers on one task queue under one supervisor."""

    async def test_both_children_poll_and_serve_tickets_and_sigterm_stops_them(
        self, client: Client, task_queue: str
    ) -> None:
        """Two children poll the same task queue (two identities among its pollers), tickets
        escalate on their deadlines, and SIGTERM stops both children and the supervisor."""
        address = client.service_client.config.target_host
        async with _supervisor(address, task_queue, 2) as (proc, started):
            assert sorted(line["worker_process"] for line in started) == [1, 2]

            async def both_polling() -> bool:  # the server lists a poller once its poll arrived
                return len(await _pollers(client, task_queue)) >= 2

            await eventually(both_polling, within=30)
            assert len(await _pollers(client, task_queue)) == 2
            tickets = TicketClient(client, task_queue)
            opened = [ticket(f"Cannot log in ({k})") for k in range(4)]
            for t in opened:
                await tickets.open(t, fast_policy(resolution="2s"))
            for t in opened:
                await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=60)
            proc.send_signal(signal.SIGTERM)
            _, rest = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0
            lines = _log_lines(rest)
            stopped = [line for line in lines if line["event"] == "worker stopped"]
            assert sorted(line["worker_process"] for line in stopped) == [1, 2]
            assert lines[-1]["event"] == "worker processes stopped"

    async def test_ctrl_c_at_a_terminal_stops_everyone_cleanly(
        self, client: Client, task_queue: str
    ) -> None:
        """Ctrl-C sends SIGINT to the whole process group, children included: each stops
        gracefully and the supervisor exits 0 (a child done first is no failure)."""
        address = client.service_client.config.target_host
        async with _supervisor(address, task_queue, 2, new_session=True) as (proc, started):
            os.killpg(proc.pid, signal.SIGINT)
            _, rest = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0
            lines = _log_lines(rest)
            assert lines[-1]["event"] == "worker processes stopped"
            for line in started:
                with pytest.raises(ProcessLookupError):
                    os.kill(line["pid"], 0)

    async def test_a_child_that_dies_stops_the_others_with_one_line(
        self, client: Client, task_queue: str
    ) -> None:
        """Nothing is restarted: when a child is killed, the supervisor stops the other one
        and exits 1 with one error line naming the child and its exit code."""
        address = client.service_client.config.target_host
        async with _supervisor(address, task_queue, 2) as (proc, started):
            os.kill(started[0]["pid"], signal.SIGKILL)
            _, rest = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 1
            last = rest.decode().strip().splitlines()[-1]
            assert last.startswith("error: worker process tierflow-worker-")
            assert f"(pid {started[0]['pid']}) exited with code -9" in last
            with pytest.raises(ProcessLookupError):
                os.kill(started[1]["pid"], 0)

    async def test_children_stop_when_their_supervisor_is_killed(
        self, client: Client, task_queue: str
    ) -> None:
        """A supervisor gone with SIGKILL (or signalled alone by a process manager) leaves no
        orphans polling beside the unit restarted after it: its children stop by themselves."""
        address = client.service_client.config.target_host
        proc, started = await _start_processes(address, task_queue, 2)
        try:
            proc.kill()
            await proc.wait()
            await eventually(lambda: all(_exited(line["pid"]) for line in started))
        finally:
            for line in started:
                if not _exited(line["pid"]):
                    os.kill(line["pid"], signal.SIGKILL)

    @pytest.mark.parametrize("value", ["0", "65", "two"])
    async def test_a_bad_count_is_one_line_and_exit_2(
        self, value: str, worker_script: Path
    ) -> None:
        """``--processes`` takes 1 to 64; anything else is a usage error on one line."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(worker_script),
            "--processes",
            value,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2
        lines = err.decode().strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("error: invalid value for '--processes'")
        assert out == b""


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
        tuned_config = tuned_worker.config(active_config=True)
        assert tuned_config["tuner"] is not None
        assert tuned_config.get("max_concurrent_workflow_tasks") is None  # the tuner's to say
        # Unset, the slots are Temporal's own (see docs/benchmarks.md: fewer raise the capacity
        # below overload, and collapse under it).
        plain = build_worker(client, f"{task_queue}-plain", settings=WorkerSettings())
        assert plain.config(active_config=True).get("max_concurrent_workflow_tasks") is None

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
