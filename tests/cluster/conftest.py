"""The cluster lane: a Temporal cluster on PostgreSQL of the module's own (tierflow.cluster),
brought up cold in a fresh run directory and taken down, database and all, afterwards."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import main as run_benchmarks
from tierflow.cluster.layout import MAX_BASE_PORT, PORT_SPAN, Layout
from tierflow.cluster.processes import Cluster
from tierflow.devserver import port_open


def free_base_port() -> int:
    """A base port whose fifty neighbours nothing listens on."""
    for _ in range(50):
        base = random.randrange(20000, MAX_BASE_PORT, 100)
        if not any(port_open("127.0.0.1", base + i) for i in range(PORT_SPAN)):
            return base
    raise RuntimeError("no free range of ports for the cluster")


@dataclass
class RunningCluster:
    cluster: Cluster
    cold_up: float  # seconds
    warm_up: float


@pytest.fixture(scope="module")
def temporal_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    """Up cold (CA, initdb, schema), down, up warm (reusing all three), then yielded; down
    and purged at the end, whatever happened."""
    run_dir: Path = tmp_path_factory.mktemp("cluster")
    layout = Layout(run_dir, base_port=free_base_port(), shards=4)
    cluster = Cluster(layout, say=lambda line: print(f"[cluster] {line}"))
    try:
        cold = cluster.up()
        cluster.down()
        started = time.monotonic()
        warm = cluster.up()
        assert time.monotonic() - started >= warm
        yield RunningCluster(cluster, cold, warm)
    finally:
        cluster.down(purge=True)


ClusterBenchmark = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def cluster_benchmark(tmp_path_factory: pytest.TempPathFactory) -> ClusterBenchmark:
    """``python -m benchmarks <args> --target cluster --json <file>``: the benchmarks on a
    cluster of their own (up cold, down and purged at the end); the figures as written."""

    def run(*args: str) -> dict[str, Any]:
        out = tmp_path_factory.mktemp("bench") / "figures.json"
        run_benchmarks([*args, "--target", "cluster", "--json", str(out)])
        written: dict[str, Any] = json.loads(out.read_text())
        return written

    return run
