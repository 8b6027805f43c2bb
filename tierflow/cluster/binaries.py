"""The Temporal server and its SQL tool, of the pinned version, built from the Go module once
per machine into ``<cache>/cluster/bin`` (as :mod:`tierflow.devserver` builds the CLI), and the
schema files, which ship in the module Go downloaded."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tierflow.cluster.layout import SERVER_MODULE, SERVER_VERSION
from tierflow.devserver import BinaryUnavailableError, cache_dir

PACKAGES = (f"{SERVER_MODULE}/cmd/server", f"{SERVER_MODULE}/cmd/tools/sql")


@dataclass(frozen=True)
class Binaries:
    server: Path
    sql_tool: Path
    schema_dir: Path  # …/schema/postgresql/v12


def bin_dir() -> Path:
    return cache_dir() / "cluster" / "bin"


def _version(binary: Path) -> str:
    try:
        return subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return ""


def _is_pinned(binary: Path) -> bool:
    return binary.exists() and f"version {SERVER_VERSION}" in _version(binary)


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BinaryUnavailableError(
            f"the Temporal server {SERVER_VERSION} is not built here and Go is not available "
            "to build it: install Go (https://go.dev/dl/) and rerun"
        )
    return go


def _schema_dir(go: str) -> Path:
    modcache = subprocess.run(
        [go, "env", "GOMODCACHE"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(modcache) / f"{SERVER_MODULE}@v{SERVER_VERSION}" / "schema" / "postgresql" / "v12"


def ensure_binaries(say: Callable[[str], None] = print) -> Binaries:
    """The pinned server and SQL tool (built the first time) and the schema directory."""
    target = bin_dir()
    server, sql_tool = target / "server", target / "sql"
    go = _go()
    if not (_is_pinned(server) and _is_pinned(sql_tool)):
        target.mkdir(parents=True, exist_ok=True)
        say(
            f"Building the Temporal server {SERVER_VERSION} and its SQL tool into {target} (first "
            "time on this machine only; it takes several minutes). Go prints each package:"
        )
        modules = [f"{package}@v{SERVER_VERSION}" for package in PACKAGES]
        result = subprocess.run(
            [go, "install", "-v", *modules], env={**os.environ, "GOBIN": str(target)}, check=False
        )
        if result.returncode != 0 or not (_is_pinned(server) and _is_pinned(sql_tool)):
            raise BinaryUnavailableError(
                f"`go install {' '.join(modules)}` failed (exit {result.returncode}); see the "
                "output above. It needs the Go module proxy (GOPROXY) to be reachable."
            )
    schema = _schema_dir(go)
    if not schema.is_dir():
        # The binaries were built, then the module cache was cleaned: fetch the module again.
        say(f"Downloading {SERVER_MODULE}@v{SERVER_VERSION} for its schema files")
        subprocess.run([go, "mod", "download", f"{SERVER_MODULE}@v{SERVER_VERSION}"], check=True)
    return Binaries(server, sql_tool, schema)
