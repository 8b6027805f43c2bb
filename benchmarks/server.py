"""The benchmark's own Temporal dev server and worker processes.

Each run starts a dev server of its own on free ports, with its SQLite file in a temporary
folder, so figures never mix with another run's tickets. Workers run in child processes
(``benchmarks.worker_process``); their resident memory is sampled from ``/proc``.
"""

from __future__ import annotations

import asyncio
import contextlib
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

from .profile import Sampler

_ACTION = re.compile(r'^action\{action_type="([^"]+)",namespace="default"[^}]*\} (\S+)$')


@dataclass
class BenchServer:
    """A running dev server: its address, a Tierflow client and a plain-JSON client."""

    env: WorkflowEnvironment
    address: str
    metrics_url: str
    client: Client
    plain: Client
    workdir: Path

    def actions(self) -> dict[str, float]:
        """The server's own ``action`` counters (what Temporal Cloud would bill), by type."""
        text = urllib.request.urlopen(self.metrics_url, timeout=10).read().decode()
        totals: dict[str, float] = {}
        for line in text.splitlines():
            m = _ACTION.match(line)
            if m:
                totals[m.group(1)] = totals.get(m.group(1), 0.0) + float(m.group(2))
        return totals


@contextlib.asynccontextmanager
async def bench_server(db_file: bool = False) -> AsyncIterator[BenchServer]:
    """Start a dev server on free ports; stop it and delete its data on exit.

    By default its SQLite database is in memory (as ``WorkflowEnvironment.start_local`` and the
    test suite run it). With ``db_file`` it is a file in the temporary folder: on a small
    machine the server's synchronous disk writes then bound every figure, not Tierflow.
    """
    with tempfile.TemporaryDirectory(prefix="tierflow-bench-") as tmp:
        metrics_port = free_port()
        db = ["--db-filename", str(Path(tmp) / "temporal.db")] if db_file else []
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(ensure_temporal_binary()),
            search_attributes=search_attributes.ALL,
            data_converter=pydantic_data_converter,
            dev_server_log_level="error",
            dev_server_extra_args=[
                "--metrics-port",
                str(metrics_port),
                *db,
            ],
        )
        try:
            address = env.client.service_client.config.target_host
            plain = await Client.connect(address)
            yield BenchServer(
                env=env,
                address=address,
                metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
                client=env.client,
                plain=plain,
                workdir=Path(tmp),
            )
        finally:
            await env.shutdown()


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
