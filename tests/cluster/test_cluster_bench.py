"""The benchmarks on the production-shaped cluster (``--target cluster``): a tiny run of every
suite produces the same figures as on the dev server, each checked as the dev server's smoke test
checks them (the class below inherits its tests), and the document names the cluster."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.benchmarks import test_smoke
from tests.cluster.conftest import ClusterBenchmark


@pytest.fixture(scope="module")
def doc(cluster_benchmark: ClusterBenchmark) -> dict[str, Any]:
    """One tiny run of every suite through the command line, on a cluster of its own."""
    return cluster_benchmark("--tiny")


class TestTinyRunOnTheCluster(test_smoke.TestTinyRun):
    def test_the_document_names_its_server(self, doc: dict[str, Any]) -> None:
        """The figures say they came from the cluster, not the dev server."""
        assert doc["temporal"]["target"] == doc["config"]["target"] == "cluster"
        assert doc["temporal"]["server"].startswith("Temporal server 1.29.1 cluster on PostgreSQL")

    def test_the_cluster_is_gone(self, doc: dict[str, Any]) -> None:
        """Nothing of the run's cluster outlives it: its run directory and database were
        removed, and no process is left working in them (another run's cluster, whose
        directories still exist, is not this test's business)."""
        for proc in os.listdir("/proc"):
            if not proc.isdigit():
                continue
            try:
                cwd = os.readlink(f"/proc/{proc}/cwd")
            except OSError:
                continue
            ours = "tierflow-bench-" in cwd or "tierflow-cluster-" in cwd
            assert not (ours and cwd.endswith(" (deleted)")), f"process {proc} left in {cwd}"
