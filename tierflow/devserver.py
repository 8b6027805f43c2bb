"""The real Temporal server for development, demos and tests: the Temporal CLI's dev server.

The CLI is pinned (v1.5.1: server 1.29.1, UI 2.42.1). We use a ``temporal`` on PATH or in the
cache when it is that version; otherwise we build it once per machine from the Go module proxy
into ``~/.cache/tierflow/bin`` (``TIERFLOW_CACHE`` moves it). Nothing else is downloaded.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client

from tierflow.server_limits import dev_server_args
from tierflow.workflows import search_attributes

CLI_VERSION = "1.5.1"
CLI_MODULE = f"github.com/temporalio/cli/cmd/temporal@v{CLI_VERSION}"
# `go install` builds report "0.0.0-DEV" as the CLI version, so the pin is checked on the
# server and UI versions that the CLI embeds, which identify v1.5.1 exactly.
PINNED_COMPONENTS = ("Server 1.29.1", "UI 2.42.1")


class BinaryUnavailableError(RuntimeError):
    """The pinned Temporal CLI is not installed and cannot be built here."""


def cache_dir() -> Path:
    """Tierflow's per-machine cache, outside any checkout."""
    explicit = os.environ.get("TIERFLOW_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tierflow"


def _is_pinned(binary: Path) -> bool:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return False
    return all(part in out for part in PINNED_COMPONENTS)


def ensure_temporal_binary(say: Callable[[str], None] = print) -> Path:
    """Return the pinned ``temporal`` binary, building it with ``go install`` the first time."""
    candidates = [Path(p) for p in (shutil.which("temporal"),) if p]
    cached = cache_dir() / "bin" / "temporal"
    candidates.append(cached)
    for candidate in candidates:
        if candidate.exists() and _is_pinned(candidate):
            return candidate
    go = shutil.which("go")
    if go is None:
        raise BinaryUnavailableError(
            f"the Temporal CLI v{CLI_VERSION} is not installed and Go is not available to build "
            f"it. Install Go (https://go.dev/dl/) and rerun, or run `go install {CLI_MODULE}` "
            "and put `temporal` on PATH."
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    say(
        f"Building the Temporal CLI v{CLI_VERSION} into {cached.parent} (first time on this "
        "machine only; it takes several minutes). Go prints each package as it compiles:"
    )
    env = {**os.environ, "GOBIN": str(cached.parent)}
    # -v prints each package as it is built, so the long first build shows progress.
    result = subprocess.run([go, "install", "-v", CLI_MODULE], env=env, check=False)
    if result.returncode != 0 or not _is_pinned(cached):
        raise BinaryUnavailableError(
            f"`go install {CLI_MODULE}` failed (exit {result.returncode}); see the output above. "
            "It needs the Go module proxy (GOPROXY) to be reachable."
        )
    say(f"Temporal CLI ready: {cached}")
    return cached


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def search_attribute_args() -> list[str]:
    """``--search-attribute Name=Type`` arguments registering Tierflow's attributes."""
    args: list[str] = []
    for name, kind in search_attributes.cli_definitions().items():
        args += ["--search-attribute", f"{name}={kind}"]
    return args


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register any of Tierflow's search attributes the server lacks; return those added.

    Needed when Tierflow meets a server it did not start (one already running, or an older one).
    """
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    # The SDK's value types carry the wire enum's numbers, so they convert directly.
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in search_attributes.ALL
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


@dataclass
class DevServer:
    """A ``temporal server start-dev`` process with Tierflow's search attributes registered."""

    binary: Path
    data_dir: Path
    port: int = 7233
    ui_port: int = 8233
    ip: str = "127.0.0.1"
    namespace: str = "default"
    # The UI's codec server (Tierflow's API: ``http://127.0.0.1:8000/codec``), or None.
    codec_endpoint: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.ip}:{self.ui_port}"

    def already_running(self) -> bool:
        return port_open(self.ip, self.port)

    def start(self) -> None:
        """Start the server in the background, logging to ``data_dir/temporal.log``."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "temporal.log").open("ab")
        cmd = [
            str(self.binary),
            "server",
            "start-dev",
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--namespace",
            self.namespace,
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            "--log-level",
            "warn",
            *search_attribute_args(),
            *dev_server_args(),
        ]
        if self.codec_endpoint:
            cmd += ["--ui-codec-endpoint", self.codec_endpoint]
        # A new session keeps Ctrl-C in the terminal from reaching the server before we stop it.
        self.process = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the frontend answers (listening is not enough: it says "not healthy
        yet" for a moment), or fail with where to find the server's own log."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the Temporal dev server exited with code {self.process.returncode}; "
                    f"see {self.data_dir / 'temporal.log'}"
                )
            if port_open(self.ip, self.port) and await self._answers():
                return
            if loop.time() > deadline:
                raise RuntimeError(f"the Temporal dev server was not ready within {timeout}s")
            await asyncio.sleep(0.2)

    async def _answers(self) -> bool:
        try:
            await Client.connect(self.address, namespace=self.namespace)
        except RuntimeError:  # "Frontend is not healthy yet", and its like
            return False
        return True

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server we started (never one we merely found running)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main() -> None:
    """``python -m tierflow.devserver``: make sure the pinned binary exists (used by make)."""
    try:
        path = ensure_temporal_binary()
    except BinaryUnavailableError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"Temporal CLI: {path}")


if __name__ == "__main__":
    main()
