"""Tickets on the production-shaped cluster: Tierflow's own worker, connected over mTLS exactly
as to a secured production cluster (the Temporal configuration the cluster writes), escalates
every ticket once even though a history process is SIGKILLed while their deadlines run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.service import RPCError

from benchmarks import fault_analysis, history, tickets
from tests.cluster.conftest import RunningCluster
from tests.waiting import eventually
from tierflow.client import TicketClient, workflow_id_for
from tierflow.cluster.layout import Layout
from tierflow.cluster.processes import Cluster, ClusterError
from tierflow.connect import ServerUnreachableError, connect

TICKETS = 6


@pytest.fixture
def cluster_env(
    temporal_cluster: RunningCluster, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """This process's environment as a user's after sourcing the cluster's client.env."""
    for name in list(os.environ):
        if name.startswith(("TEMPORAL_", "TIERFLOW_")):
            monkeypatch.delenv(name)
    settings = temporal_cluster.cluster.layout.client_settings()
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return settings


@pytest.fixture
def worker(cluster_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """``tierflow worker`` in a child process, configured by the environment alone; yields
    its task queue once it polls."""
    queue = f"cluster-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tierflow.cli", "worker", "--task-queue", queue],
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while b"worker started" not in log_path.read_bytes():
            assert process.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, "the worker did not start polling in 60 s"
            time.sleep(0.2)
        yield queue
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_the_frontend_refuses_a_client_without_a_certificate(
    cluster_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """mTLS is real: the same settings without the client certificate are refused."""
    monkeypatch.delenv("TEMPORAL_TLS_CLIENT_CERT_PATH")
    monkeypatch.delenv("TEMPORAL_TLS_CLIENT_KEY_PATH")
    with pytest.raises(ServerUnreachableError, match="client certificate"):
        await connect(timeout=5)
    monkeypatch.setenv("TEMPORAL_TLS", "false")
    monkeypatch.delenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH")
    monkeypatch.delenv("TEMPORAL_TLS_SERVER_NAME")
    with pytest.raises(ServerUnreachableError):
        await connect(timeout=5)


async def test_tickets_escalate_once_through_a_history_process_kill(
    temporal_cluster: RunningCluster, worker: str
) -> None:
    print(
        f"cluster up: cold {temporal_cluster.cold_up:.1f} s, warm {temporal_cluster.warm_up:.1f} s"
    )
    client = await connect()
    assert (await client.service_client.check_health()) is True
    ticket_client = TicketClient(client, worker)
    ids: list[str] = []
    for n in range(TICKETS):
        ticket = tickets.ticket("CL")
        # Deadlines from 20 to 30 s out: the kill below falls before all of them.
        resolution = timedelta(seconds=20 + 2 * n)
        await ticket_client.open(ticket, tickets.policy(resolution, warning_fraction=0.75))
        ids.append(workflow_id_for(ticket.id))

    cluster = temporal_cluster.cluster
    cluster.kill("history-2")
    assert cluster.pid("history-2") is None
    assert cluster.pid("history-1") is not None

    # The surviving history process takes the dead one's shards over; every ticket escalates.
    fates: list[fault_analysis.Fate] = []

    async def all_escalated() -> bool:
        nonlocal fates
        try:
            fates = [fault_analysis.fate(w, await history.fetch(client, w)) for w in ids]
        except RPCError:  # a shard being handed over answers "unavailable" for a moment
            fates = []
        return bool(fates) and all(f.escalated is not None for f in fates)

    await eventually(all_escalated, within=180, every=2)
    assert len(fates) == TICKETS, "the tickets' histories could not be read"
    assert [f.lost for f in fates] == [None] * TICKETS
    assert [f.escalations for f in fates] == [1] * TICKETS
    for f in fates:
        assert f.escalated is not None
        assert f.deadline is not None
        assert f.escalated >= f.deadline

    # And the cluster is whole again once the process is back.
    cluster.start_service("history-2")
    cluster.wait_listening("history-2")
    assert cluster.status()["history-2"].startswith("running")


def test_a_refused_up_leaves_the_running_cluster_alone(temporal_cluster: RunningCluster) -> None:
    """A second `up` with another shard count or base port is refused with what to do, and
    the cluster that runs keeps running."""
    layout = temporal_cluster.cluster.layout
    other_shards = Cluster(Layout(layout.run_dir, layout.base_port, layout.shards + 1))
    with pytest.raises(ClusterError, match=f"--shards {layout.shards}"):
        other_shards.up()
    elsewhere = Cluster(Layout(layout.run_dir, layout.base_port + 100, layout.shards))
    with pytest.raises(ClusterError, match="`down` it first"):
        elsewhere.up()
    assert all(state != "stopped" for state in temporal_cluster.cluster.status().values())
