"""What the fault suite breaks: a dev server on a database file or a production-shaped cluster,
and supervised workers.

:class:`FileServer` is ``temporal server start-dev --db-filename`` on a fixed port, which can be
stopped (SIGTERM) or killed (SIGKILL) and started again on the same port and file.
:class:`ClusterServer` is :mod:`tierflow.cluster` (separate frontend, history, matching and
worker processes on PostgreSQL, the frontend on mTLS), one of whose processes is killed with
SIGKILL and started again, or whose PostgreSQL is restarted.
:class:`Supervised` runs a worker command in a child process, kills it with SIGKILL (or stops
it gracefully with SIGTERM) and starts it again when told, and — like systemd or Kubernetes
would — starts it again whenever it exits by itself (each such exit is recorded).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from tierflow.cluster.layout import MAX_BASE_PORT, PORT_SPAN, Layout
from tierflow.cluster.processes import Cluster
from tierflow.config import TemporalSettings
from tierflow.connect import connect, connect_local, resolve
from tierflow.devserver import DevServer, ensure_temporal_binary, free_port, port_open

# How long a worker told to stop gracefully may take (its own grace for running activities
# is 10 s, see tierflow.worker) before it is killed.
STOP_GRACE = 30.0


class FileServer:
    """A dev server whose data survives it: SQLite in ``workdir/temporal.db``."""

    def __init__(self, workdir: Path) -> None:
        self._dev = DevServer(
            binary=ensure_temporal_binary(),
            data_dir=workdir,
            port=free_port(),
            ui_port=free_port(),
        )

    @property
    def address(self) -> str:
        return self._dev.address

    async def start(self) -> float:
        """Start on the same port and file; the epoch moment it listened."""
        self._dev.start()
        await self._dev.wait_ready(timeout=120)
        return time.time()

    async def stop(self, sig: signal.Signals) -> float:
        """SIGTERM (graceful) or SIGKILL; return the epoch moment the signal was sent."""
        proc = self._dev.process
        assert proc is not None
        sent = time.time()
        proc.send_signal(sig)
        try:
            await asyncio.to_thread(proc.wait, 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)
        return sent

    def close(self) -> None:
        self._dev.stop()

    def client_env(self) -> dict[str, str]:
        """What a worker needs beyond ``--address`` to connect: nothing (plaintext)."""
        return {}

    async def clients(self) -> tuple[Client, Client]:
        """Tierflow's client and a plain SDK client (the bare baseline's)."""
        return await connect_local(self.address), await Client.connect(self.address)


# The cluster's faults: (kind, the process SIGKILLed, or None for PostgreSQL's restart).
CLUSTER_FAULTS = {
    "history_sigkill": "history-2",
    "matching_sigkill": "matching",
    "frontend_sigkill": "frontend",
    "postgres_restart": None,
}


def free_base_port() -> int:
    """A base port whose neighbours nothing listens on (the cluster uses PORT_SPAN of them)."""
    for base in range(22000, MAX_BASE_PORT, PORT_SPAN * 2):
        if not any(port_open("127.0.0.1", base + i) for i in range(PORT_SPAN)):
            return base
    raise RuntimeError("no free range of ports for the cluster")


class ClusterServer:
    """The production-shaped cluster, in the suite's work directory, reached over mTLS exactly
    as a production client would (the client certificate the cluster's test CA signed)."""

    def __init__(self, workdir: Path, shards: int = 16) -> None:
        layout = Layout(workdir / "cluster", base_port=free_base_port(), shards=shards)
        self.cluster = Cluster(layout, say=lambda line: None)

    @property
    def address(self) -> str:
        return self.cluster.layout.address

    def _settings(self) -> TemporalSettings:
        tls = self.cluster.layout.tls_dir
        return TemporalSettings.model_construct(
            temporal_address=self.address,
            tls_ca=tls / "ca.pem",
            tls_cert=tls / "client.pem",
            tls_key=tls / "client-key.pem",
            tls_server_name="localhost",
        )

    def client_env(self) -> dict[str, str]:
        return self.cluster.layout.client_settings()

    async def clients(self) -> tuple[Client, Client]:
        settings = self._settings()
        tierflow = await connect(settings, environment=False)
        target = resolve(settings, environment=False)
        return tierflow, await Client.connect(target.address, tls=target.tls)

    async def start(self) -> float:
        """Bring the cluster up (cold: CA, database, schema); the epoch moment it answered."""
        await asyncio.to_thread(self.cluster.up)
        return time.time()

    async def fault(self, kind: str, down: float) -> dict[str, Any]:
        """One fault: SIGKILL a process and start it again ``down`` s later (as a process
        manager would), or restart PostgreSQL (a fast shutdown, then start)."""
        name = CLUSTER_FAULTS[kind]
        stopped = time.time()
        if name is None:
            await asyncio.to_thread(self.cluster.postgres.stop)
            await asyncio.sleep(down)
            await asyncio.to_thread(self.cluster.postgres.start)
        else:
            await asyncio.to_thread(self.cluster.kill, name, signal.SIGKILL)
            await asyncio.sleep(down)
            await asyncio.to_thread(self.cluster.start_service, name)
            await asyncio.to_thread(self.cluster.wait_listening, name)
        return {"signal": kind, "stopped": stopped, "listening": time.time()}

    def close(self) -> None:
        """Down, database and all: nothing of the cluster stays running or on disk."""
        self.cluster.down(purge=True)


@dataclass
class Supervised:
    """A worker command in a child process, started again whenever it is not running."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    # How long a process manager waits before starting a process that exited or was killed.
    restart_delay: float = 1.0
    starts: list[float] = field(default_factory=list)
    # (moment, exit code) of every exit the suite did not cause.
    exits: list[tuple[float, int]] = field(default_factory=list)
    kills: list[float] = field(default_factory=list)
    terms: list[float] = field(default_factory=list)
    # The line a started worker logs once it polls, and the moments each start logged it.
    ready_text: bytes = b"worker started"
    polling: list[float] = field(default_factory=list)
    _proc: subprocess.Popen[bytes] | None = None
    _watch: asyncio.Task[None] | None = None
    _busy: bool = False
    _readiness: set[asyncio.Future[None]] = field(default_factory=set)

    def _spawn(self) -> None:
        with open(self.log_path, "ab") as log:
            offset = log.tell()
            self._proc = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts.append(time.time())
        self._readiness.add(asyncio.ensure_future(self._watch_ready(self._proc, offset)))

    async def _watch_ready(self, proc: subprocess.Popen[bytes], offset: int) -> None:
        """Record when this start logged ``ready_text`` (it polls from then on)."""
        while proc.poll() is None:
            if self.ready_text in self._log_since(offset):
                self.polling.append(time.time())
                return
            await asyncio.sleep(0.05)

    def _log_since(self, offset: int) -> bytes:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read()

    async def start(self) -> None:
        self._spawn()
        self._watch = asyncio.create_task(self._supervise())

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            proc = self._proc
            if self._busy or proc is None or proc.poll() is None:
                continue
            self.exits.append((time.time(), proc.returncode))
            await asyncio.sleep(self.restart_delay)
            if not self._busy:
                self._spawn()

    async def kill_and_restart(self) -> tuple[float, float]:
        """SIGKILL the process, wait ``restart_delay``, start it again: (killed, started)."""
        return await self.restart(signal.SIGKILL)

    async def restart(self, sig: signal.Signals) -> tuple[float, float]:
        """Stop the process with ``sig`` (SIGTERM: its graceful stop, SIGKILL after
        ``STOP_GRACE`` s), wait ``restart_delay``, start it again: (signalled, started)."""
        assert self._proc is not None
        self._busy = True
        try:
            signalled = time.time()
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, sig)
            try:
                await asyncio.to_thread(self._proc.wait, STOP_GRACE)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                await asyncio.to_thread(self._proc.wait)
            (self.kills if sig == signal.SIGKILL else self.terms).append(signalled)
            await asyncio.sleep(self.restart_delay)
            self._spawn()
            return signalled, self.starts[-1]
        finally:
            self._busy = False

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for watching in self._readiness:
            watching.cancel()
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)
