"""The benchmark's own Temporal server and worker processes.

Each run starts a server of its own on free ports, so figures never mix with another run's
tickets: by default the Temporal CLI's dev server, its SQLite in memory or in a temporary folder;
with ``target="cluster"`` the production-shaped cluster of :mod:`tierflow.cluster` (separate
frontend, history, matching and worker processes on PostgreSQL), its run directory and database
in the temporary folder, reached over mTLS with the cluster's client certificate. Workers run in
child processes (``benchmarks.worker_process``); their resident memory is sampled from ``/proc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tierflow.devserver import ensure_temporal_binary, free_port
from tierflow.workflows import search_attributes

from .fault_targets import ClusterServer
from .profile import Sampler

_ACTION = re.compile(r'^action\{action_type="([^"]+)",namespace="default"[^}]*\} (\S+)$')
TARGETS = ("devserver", "cluster")


@dataclass
class BenchServer:
    """A running server: its address, a Tierflow client and a plain-JSON client."""

    address: str
    # The frontend's Prometheus metrics (the dev server's, or the cluster frontend's).
    metrics_url: str
    client: Client
    plain: Client
    workdir: Path
    # What a worker process needs beyond --address to connect (the cluster's TEMPORAL_TLS_*).
    client_env: dict[str, str] = field(default_factory=dict)

    def actions(self) -> dict[str, float]:
        """The server's own ``action`` counters (what Temporal Cloud would bill), by type."""
        text = urllib.request.urlopen(self.metrics_url, timeout=10).read().decode()
        totals: dict[str, float] = {}
        for line in text.splitlines():
            m = _ACTION.match(line)
            if m:
                totals[m.group(1)] = totals.get(m.group(1), 0.0) + float(m.group(2))
        return totals

    def child_env(self) -> dict[str, str] | None:
        """A worker process's environment (None: the host's, as on the dev server)."""
        return worker_env(self.client_env) if self.client_env else None


def worker_env(client_env: dict[str, str]) -> dict[str, str]:
    """The host's environment without its Temporal or Tierflow settings, plus the server's
    client configuration: a worker connects to the run's server, never to the host's."""
    host = {k: v for k, v in os.environ.items() if not k.startswith(("TIERFLOW_", "TEMPORAL_"))}
    return host | client_env


@contextlib.asynccontextmanager
async def bench_server(
    db_file: bool = False, target: str = "devserver"
) -> AsyncIterator[BenchServer]:
    """Start a server of the run's own; stop it and delete its data on exit.

    On the dev server, by default its SQLite database is in memory (as
    ``WorkflowEnvironment.start_local`` and the test suite run it). With ``db_file`` it is a file in
    the temporary folder: on a small machine the server's synchronous disk writes then bound every
    figure, not Tierflow. ``target="cluster"`` brings up a cluster instead (``db_file`` does not
    apply: its database is PostgreSQL).
    """
    with tempfile.TemporaryDirectory(prefix="tierflow-bench-") as tmp:
        if target == "cluster":
            async with _cluster(Path(tmp)) as server:
                yield server
        else:
            async with _devserver(Path(tmp), db_file) as server:
                yield server


@contextlib.asynccontextmanager
async def _devserver(workdir: Path, db_file: bool) -> AsyncIterator[BenchServer]:
    metrics_port = free_port()
    db = ["--db-filename", str(workdir / "temporal.db")] if db_file else []
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(ensure_temporal_binary()),
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        dev_server_extra_args=["--metrics-port", str(metrics_port), *db],
    )
    try:
        address = env.client.service_client.config.target_host
        yield BenchServer(
            address=address,
            metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
            client=env.client,
            plain=await Client.connect(address),
            workdir=workdir,
        )
    finally:
        await env.shutdown()


@contextlib.asynccontextmanager
async def _cluster(workdir: Path) -> AsyncIterator[BenchServer]:
    """The cluster, cold in ``workdir/cluster`` (test CA, database, schema, registrations);
    down and purged on exit, so nothing of it keeps running or stays on disk."""
    cluster = ClusterServer(workdir)
    try:
        await cluster.start()
        client, plain = await cluster.clients()
        yield BenchServer(
            address=cluster.address,
            metrics_url=cluster.cluster.layout.metrics_url,
            client=client,
            plain=plain,
            workdir=workdir,
            client_env=cluster.client_env(),
        )
    finally:
        await asyncio.to_thread(cluster.close)


def read_rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in KiB, from ``/proc/<pid>/status``."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


@dataclass
class WorkerProcess:
    """A worker in a child process, with its memory sampled while it runs."""

    server: BenchServer
    kind: str
    cache: int
    # Both kinds run under the same workflow runner, so the comparison stays fair.
    sandbox: bool = True
    task_queue: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:10]}")
    # Which of several worker processes on the same task queue (names its log and ready file).
    instance: int = 0
    sample_every: float = 0.5
    # Where py-spy writes this worker's stacks while it runs (None: not profiled).
    profile: Path | None = None
    # Tierflow's chat channel (a loopback receiver), the only one configured.
    chat_webhook: str | None = None
    samples: list[tuple[float, int]] = field(default_factory=list)
    peak_hwm_kib: int = 0
    _proc: subprocess.Popen[bytes] | None = None
    _sampler: asyncio.Task[None] | None = None
    _profiler: Sampler | None = None

    @property
    def peak_rss_mib(self) -> float:
        """The largest resident set seen: the kernel's high-water mark, or our samples."""
        peak = max([self.peak_hwm_kib, *(kib for _, kib in self.samples)])
        return peak / 1024

    @property
    def pid(self) -> int | None:
        """The worker process's id, once started."""
        return self._proc.pid if self._proc is not None else None

    def rss_mib_now(self) -> float:
        return self.samples[-1][1] / 1024 if self.samples else 0.0

    def _spawn(self, ready: Path) -> subprocess.Popen[bytes]:
        log_path = self.server.workdir / f"{self.task_queue}-{self.instance}.log"
        with open(log_path, "wb") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.worker_process",
                    "--address",
                    self.server.address,
                    "--task-queue",
                    self.task_queue,
                    "--kind",
                    self.kind,
                    "--cache",
                    str(self.cache),
                    "--sandbox" if self.sandbox else "--no-sandbox",
                    "--ready",
                    str(ready),
                    *(["--chat-webhook", self.chat_webhook] if self.chat_webhook else []),
                ],
                env=self.server.child_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def __aenter__(self) -> WorkerProcess:
        ready = self.server.workdir / f"{self.task_queue}-{self.instance}.ready"
        self._proc = await asyncio.to_thread(self._spawn, ready)
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"benchmark worker did not start; see {self.server.workdir}")
            await asyncio.sleep(0.05)
        self._sampler = asyncio.create_task(self._sample())
        if self.profile is not None:
            self._profiler = Sampler(self._proc.pid, self.profile)
            self._profiler.start()
        return self

    async def _sample(self) -> None:
        assert self._proc is not None
        start = time.monotonic()
        while self._proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                rss, hwm = read_rss_kib(self._proc.pid)
                self.samples.append((time.monotonic() - start, rss))
                self.peak_hwm_kib = max(self.peak_hwm_kib, hwm)
            await asyncio.sleep(self.sample_every)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._proc is not None
        with contextlib.suppress(OSError, ValueError):
            _, hwm = read_rss_kib(self._proc.pid)
            self.peak_hwm_kib = max(self.peak_hwm_kib, hwm)
        if self._sampler is not None:
            self._sampler.cancel()
        if self._profiler is not None:
            await asyncio.to_thread(self._profiler.stop)
        self._proc.terminate()
        try:
            await asyncio.to_thread(self._proc.wait, 30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            await asyncio.to_thread(self._proc.wait)
