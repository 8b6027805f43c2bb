"""Bring the cluster up, report on it, take it down, and (for the fault suite) kill and restart
one of its processes. Each server process runs in a session of its own and is tracked by a pid
file in the run directory, so ``down`` from another shell finds and stops exactly what ``up``
started."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tierflow.cluster import certs
from tierflow.cluster.binaries import Binaries, ensure_binaries
from tierflow.cluster.layout import (
    CONFIG_TEMPLATE,
    DB_USER,
    NAMESPACE,
    RETENTION,
    SCHEMA_STEPS,
    Layout,
    Service,
    schema_step_args,
)
from tierflow.cluster.postgres import Postgres
from tierflow.connect import resolve
from tierflow.devserver import ensure_search_attributes, port_open
from tierflow.workflows import search_attributes


class ClusterError(RuntimeError):
    """The cluster cannot come up (or go down) as asked; the message says why and what to do."""


class Cluster:
    def __init__(self, layout: Layout, say: Callable[[str], None] = print) -> None:
        self.layout = layout
        self.say = say
        self.postgres = Postgres(layout.postgres_dir, layout.postgres_port)
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._binaries: Binaries | None = None

    # What runs.
    def _pid_file(self, service: Service) -> Path:
        return self.layout.pid_dir / f"{service.name}.pid"

    def pid(self, name: str) -> int | None:
        """The pid of the live server process ``name`` of this cluster, or None."""
        child = self._children.get(name)
        if child is not None:
            # Started by this object: its own handle knows (right after the fork, before the
            # exec, /proc would still show Python's command line).
            return child.pid if child.poll() is None else None
        service = self.layout.service(name)
        try:
            pid = int(self._pid_file(service).read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        # A recycled pid belongs to some other program: ours runs the template for this role.
        if b"--allow-no-auth" in cmdline and service.role.encode() in cmdline:
            return pid
        return None

    def strays(self) -> list[int]:
        """Server processes of this cluster (started in its run directory) that no pid file
        names: left by an ``up`` that was interrupted, or one whose pid file was lost."""
        known = {self.pid(s.name) for s in self.layout.services}
        found: list[int] = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) in known:
                continue
            try:
                if proc.joinpath("cwd").resolve() != self.layout.run_dir.resolve():
                    continue
                cmdline = proc.joinpath("cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--allow-no-auth" in cmdline and b"start" in cmdline:
                found.append(int(proc.name))
        return found

    def _stop_strays(self) -> None:
        strays = self.strays()
        for pid in strays:
            self.say(f"Stopping a stray server process of this cluster (pid {pid})")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while strays and time.monotonic() < deadline:
            strays = [pid for pid in strays if Path(f"/proc/{pid}").exists()]
            time.sleep(0.1)
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def status(self) -> dict[str, str]:
        """Each part and whether it runs."""
        report = {"postgresql": "running" if self.postgres.running() else "stopped"}
        for service in self.layout.services:
            pid = self.pid(service.name)
            report[service.name] = f"running (pid {pid})" if pid else "stopped"
        return report

    # Up.
    def _check_state(self) -> None:
        """A second ``up`` must use the shard count the database was made with."""
        if not CONFIG_TEMPLATE.is_file():
            raise ClusterError(
                f"the server's configuration {CONFIG_TEMPLATE} is missing: the cluster runs from "
                "a Tierflow checkout (make cluster)"
            )
        state = self.layout.state_file
        if not state.exists() or not self.postgres.initialized:
            return
        recorded = json.loads(state.read_text())
        shards, base_port = int(recorded["shards"]), int(recorded["base_port"])
        running = [s.name for s in self.layout.services if self.pid(s.name)]
        if running and base_port != self.layout.base_port:
            raise ClusterError(
                f"the cluster runs on base port {base_port} ({', '.join(running)}): `down` it "
                f"first to move it to {self.layout.base_port}"
            )
        if shards != self.layout.shards:
            raise ClusterError(
                f"the cluster's database was made with {shards} history shards, not "
                f"{self.layout.shards} (a database keeps its count): pass --shards {shards}, "
                "or `down --purge` first to start afresh"
            )

    def _password(self) -> str:
        path = self.layout.password_file
        if path.exists():
            return path.read_text().strip()
        if self.postgres.initialized:
            raise ClusterError(
                f"the database password file {path} is gone: `down --purge` and `up` again"
            )
        password = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")
        return password

    def up(self) -> float:
        """Bring every part up (reusing what a previous run built); the seconds it took. If
        any part fails to come up, everything is taken down again before the error is raised
        (but a cluster already running is left alone when this ``up`` is refused)."""
        started = time.monotonic()
        layout = self.layout
        for directory in (layout.run_dir, layout.log_dir, layout.pid_dir):
            directory.mkdir(parents=True, exist_ok=True)
        os.chmod(layout.run_dir, 0o700)
        self._check_state()
        try:
            self._up()
        except BaseException:
            self.say("Start-up failed: taking down what started")
            self.down()
            raise
        return time.monotonic() - started

    def _up(self) -> None:
        layout = self.layout
        self._binaries = binaries = ensure_binaries(self.say)
        if certs.ensure_certificates(layout.tls_dir):
            self.say(f"Made a test CA and the cluster's certificates in {layout.tls_dir}")
        password = self._password()
        self._stop_strays()
        running = [s.name for s in layout.services if self.pid(s.name)]
        busy = [p for p in layout.ports if port_open("127.0.0.1", p)]
        if busy and not running and not self.postgres.running():
            raise ClusterError(
                f"ports {', '.join(map(str, busy))} are taken by something else: choose "
                "another --base-port"
            )
        if not self.postgres.initialized:
            self.say(f"Initializing PostgreSQL in {self.postgres.data_dir}")
            self.postgres.initialize(DB_USER, password)
        self.say(
            f"Waiting for PostgreSQL to accept connections on 127.0.0.1:{layout.postgres_port}"
        )
        self.postgres.start()
        self.say(
            "Applying Temporal's schema (temporal, temporal_visibility) with temporal-sql-tool"
        )
        self._apply_schema(binaries, password)
        layout.state_file.write_text(
            json.dumps({"shards": layout.shards, "base_port": layout.base_port}) + "\n"
        )
        # The first process on a new database writes the cluster's metadata; processes that
        # start beside it race it to the same row and exit ("duplicate key"). So one first.
        first, *others = layout.services
        if self.pid(first.name) is None:
            self.start_service(first.name, password)
        self.wait_listening(first.name)
        for service in others:
            if self.pid(service.name) is None:
                self.start_service(service.name, password)
        for service in others:
            self.wait_listening(service.name)
        asyncio.run(self._register())
        layout.client_env_file.write_text(layout.client_env_text())
        layout.client_profile_file.write_text(layout.client_profile_text())

    def _apply_schema(self, binaries: Binaries, password: str) -> None:
        env = {**os.environ, "SQL_PASSWORD": password}
        base = [str(binaries.sql_tool), "--plugin", "postgres12", "--ep", "127.0.0.1"]
        base += ["-p", str(self.layout.postgres_port), "-u", DB_USER]
        log = self.layout.log_dir / "schema.log"
        for step in SCHEMA_STEPS:
            args = [*base, "--db", step.database, *schema_step_args(step, str(binaries.schema_dir))]
            with log.open("a") as out:
                result = subprocess.run(args, env=env, stdout=out, stderr=out, check=False)
            if result.returncode != 0 and not step.once:
                raise ClusterError(
                    f"temporal-sql-tool {' '.join(step.args[:1])} on {step.database} failed; "
                    f"see {log}"
                )

    def start_service(self, name: str, password: str | None = None) -> None:
        """Start one server process (again, after a kill)."""
        service = self.layout.service(name)
        binaries = self._binaries or ensure_binaries(self.say)
        self._binaries = binaries
        env = {
            **os.environ,
            **self.layout.server_env(service, password or self._password()),
        }
        log = (self.layout.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            self.layout.server_command(binaries.server, service),
            env=env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.layout.run_dir,
        )
        log.close()
        self._children[name] = process
        self._pid_file(service).write_text(f"{process.pid}\n")

    def wait_listening(self, name: str, timeout: float = 120.0) -> None:
        service = self.layout.service(name)
        # Every service listens for the membership ring (the worker service serves no gRPC).
        port = service.membership_port
        self.say(f"Waiting for {name} to join the membership ring (127.0.0.1:{port})")
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", port):
            if self.pid(name) is None:
                raise ClusterError(
                    f"{name} exited while starting; see {self.layout.log_dir / (name + '.log')}"
                )
            if time.monotonic() > deadline:
                raise ClusterError(f"{name} did not listen within {timeout:g} s")
            time.sleep(0.2)

    async def connect(self) -> Client:
        """A plain SDK client over mTLS, as the client configuration says (no namespace check:
        it may not exist yet)."""
        target = resolve(environ=self.layout.client_settings())
        return await Client.connect(target.address, namespace=target.namespace, tls=target.tls)

    async def _register(self, timeout: float = 120.0) -> None:
        """The namespace, then Tierflow's search attributes, waiting for each to take."""
        self.say(f"Waiting for the frontend to answer over mTLS on {self.layout.address}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                client = await self.connect()
                break
            except RuntimeError:  # "not healthy yet", "connection refused", …
                if loop.time() > deadline:
                    raise ClusterError("the frontend did not answer; see its log") from None
                await asyncio.sleep(0.5)
        service = client.workflow_service
        self.say(f"Registering namespace {NAMESPACE!r} and Tierflow's search attributes")
        while True:
            try:
                await service.describe_namespace(DescribeNamespaceRequest(namespace=NAMESPACE))
                await ensure_search_attributes(client, NAMESPACE)
                break
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    await self._register_namespace(client)
                elif loop.time() > deadline:
                    raise ClusterError(f"registration did not take: {err.message}") from None
                await asyncio.sleep(0.5)

        # The frontend learns a namespace's attributes when it refreshes its namespace cache
        # (every few seconds): until then a ticket's start is refused ("no mapping defined").
        self.say("Waiting for the frontend to know Tierflow's search attributes")
        query = " OR ".join(f"{key.name} IS NOT NULL" for key in search_attributes.ALL)
        while True:
            try:
                await client.count_workflows(query)
                return
            except RPCError as err:
                if loop.time() > deadline:
                    raise ClusterError(
                        f"the search attributes did not take: {err.message}"
                    ) from None
                await asyncio.sleep(0.5)

    @staticmethod
    async def _register_namespace(client: Client) -> None:
        retention = Duration()
        retention.FromTimedelta(RETENTION)
        try:
            await client.workflow_service.register_namespace(
                RegisterNamespaceRequest(
                    namespace=NAMESPACE, workflow_execution_retention_period=retention
                )
            )
        except RPCError as err:
            if err.status != RPCStatusCode.ALREADY_EXISTS:
                raise

    # Faults and down.
    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` to one server process (SIGKILL: no goodbye to the ring)."""
        pid = self.pid(name)
        if pid is None:
            raise ClusterError(f"{name} is not running")
        os.kill(pid, sig)
        child = self._children.get(name)
        if child is not None:
            child.wait()

    def stop_service(self, name: str, timeout: float = 20.0) -> None:
        pid = self.pid(name)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.pid(name) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.pid(name) is not None:
            os.kill(pid, signal.SIGKILL)
        child = self._children.get(name)
        if child is not None:
            child.wait()
        self._pid_file(self.layout.service(name)).unlink(missing_ok=True)

    def down(self, purge: bool = False) -> None:
        """Stop every server process, then PostgreSQL; ``purge`` also drops the database."""
        for service in reversed(self.layout.services):
            if self.pid(service.name) is not None:
                self.say(f"Stopping {service.name}")
            self.stop_service(service.name)
        self._stop_strays()
        if self.postgres.initialized and self.postgres.running():
            self.say("Stopping PostgreSQL")
        self.postgres.stop()
        if purge:
            shutil.rmtree(self.postgres.directory, ignore_errors=True)
            self.layout.password_file.unlink(missing_ok=True)
            self.layout.state_file.unlink(missing_ok=True)
            self.say(f"Removed the database ({self.postgres.directory})")
