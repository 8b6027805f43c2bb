"""Monitoring as operators run it: ``tierflow worker --metrics-bind`` in a process of its own,
a ticket breaching and escalating on its own, and the worker's Prometheus endpoint scraped."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.activities.servers import HttpRecorder, Reply, free_port
from tests.workflows.support import fast_policy, ticket, wait_for
from tierflow.client import TicketClient
from tierflow.workflows.messages import Resolve, TimelineEntry

TIERFLOW = str(Path(sys.executable).parent / "tierflow")

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def series(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of metric ``name`` in a Prometheus text exposition, with its labels."""
    found = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match.group(1) == name:
            labels = dict(_LABEL.findall(match.group(2) or ""))
            found.append((labels, float(match.group(3))))
    return found


def total(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        value
        for have, value in series(text, name)
        if all(have.get(k) == v for k, v in labels.items())
    )


@asynccontextmanager
async def worker_process(*args: str, env: dict[str, str]) -> AsyncIterator[None]:
    """``tierflow worker ARGS`` until the block ends; stopped with SIGTERM like in production."""
    proc = await asyncio.create_subprocess_exec(
        TIERFLOW,
        "worker",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    # Read its log all along, so a chatty worker never blocks on a full pipe.
    first = await asyncio.wait_for(proc.stderr.readline(), 60)
    rest = asyncio.create_task(proc.stderr.read())
    try:
        assert first, "the worker exited before starting"
        assert json.loads(first)["event"] == "worker started", first
        yield
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)
        log = await rest
    assert proc.returncode == 0, log.decode()[-2000:]


async def scrape_until(url: str, check: Callable[[str], bool], within: float = 30) -> str:
    """Scrape ``url`` until ``check`` holds for the exposition; fail with the last one."""
    deadline = asyncio.get_running_loop().time() + within
    async with httpx.AsyncClient() as http:
        while True:
            text = (await http.get(url)).text
            if check(text):
                return text
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"metrics not as expected within {within}s:\n{text}")
            await asyncio.sleep(0.3)


def _sla(entries: list[TimelineEntry], event: str) -> int:
    return sum(1 for e in entries if e.kind == "sla" and e.data.get("sla") == event)


class TestPrometheusEndpoint:
    async def test_a_breached_ticket_shows_in_tierflow_and_temporal_series(
        self, temporal_env: WorkflowEnvironment, client: Client, task_queue: str
    ) -> None:
        """A ticket that breaches and escalates on its own, with a host sync that fails and a
        chat that works, is counted on the worker's endpoint — exactly once, although the
        worker (cache 0) replays the ticket's history for every task — next to Temporal's own
        series."""
        address = temporal_env.client.service_client.config.target_host
        port = free_port()
        url = f"http://127.0.0.1:{port}/metrics"
        # The host's sync endpoint is down once, then refuses: one transient, then permanent.
        with (
            HttpRecorder(default=Reply(400, body=b'{"error":"no"}')) as host,
            HttpRecorder() as chat,
        ):
            host.script(503)
            env = {
                "TIERFLOW_SYNC_URL": f"{host.url}/sync",
                "TIERFLOW_SYNC_SECRET": "s3cret",
                "TIERFLOW_CHAT_WEBHOOK_URL": f"{chat.url}/chat",
            }
            async with worker_process(
                "--address",
                address,
                "--task-queue",
                task_queue,
                "--metrics-bind",
                f"127.0.0.1:{port}",
                "--cache",
                "0",
                env=env,
            ):
                tickets = TicketClient(client, task_queue)
                t = ticket("Export to CSV hangs")
                await tickets.open(t, fast_policy(resolution="3s"))
                await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=30)
                await tickets.resolve(t.id, Resolve(actor="Riley Chen", resolution="fixed"))
                timeline = await tickets.timeline(t.id)
                escalations = [e for e in timeline if e.kind == "escalation"]
                assert escalations
                assert all(e.data["type"] == "automatic" for e in escalations)
                ours = {"task_queue": task_queue}

                def settled(text: str) -> bool:
                    return (
                        total(text, "tierflow_escalations", **ours) >= len(escalations)
                        and total(text, "tierflow_delivery_failures", kind="permanent") >= 1
                        and total(text, "tierflow_deliveries_sent", channel="chat") >= 1
                    )

                text = await scrape_until(url, settled)

        # Tierflow's series, labelled with policy names only, counted once per event.
        assert total(text, "tierflow_escalations", type="automatic", tier="tier2", **ours) >= 1
        assert total(text, "tierflow_escalations", **ours) == len(escalations)
        assert total(text, "tierflow_sla_breaches", target="resolution", **ours) == _sla(
            timeline, "breach"
        )
        assert total(text, "tierflow_sla_warnings", target="resolution", **ours) == _sla(
            timeline, "warning"
        )
        assert total(text, "tierflow_escalation_lateness_count", **ours) == _sla(timeline, "level")
        lateness = total(text, "tierflow_escalation_lateness_sum", **ours)
        assert 0 <= lateness < 30_000  # milliseconds: fired within moments of its due time
        assert total(text, "tierflow_delivery_failures", channel="sync", kind="transient") >= 1
        assert total(text, "tierflow_delivery_failures", channel="sync", kind="permanent") >= 1
        assert total(text, "tierflow_deliveries_sent", channel="chat") >= 1
        assert total(text, "tierflow_deliveries_skipped", channel="email") >= 1
        # No label carries the ticket's id, subject or customer.
        for line in text.splitlines():
            if line.startswith("tierflow_"):
                assert t.id not in line
                assert "Export to CSV" not in line
                assert "Ana Silva" not in line
        # Temporal's own: the schedule-to-start latency of this queue's workflow tasks.
        latency = series(text, "temporal_workflow_task_schedule_to_start_latency_count")
        assert any(labels.get("task_queue") == task_queue and v >= 1 for labels, v in latency)

    async def test_a_taken_port_is_one_clear_line(
        self, temporal_env: WorkflowEnvironment, task_queue: str
    ) -> None:
        """A metrics address in use stops the worker with one error line, no traceback."""
        address = temporal_env.client.service_client.config.target_host
        with HttpRecorder() as busy:
            proc = await asyncio.create_subprocess_exec(
                TIERFLOW,
                "worker",
                "--address",
                address,
                "--task-queue",
                task_queue,
                "--metrics-bind",
                f"127.0.0.1:{busy.port}",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1
        lines = err.decode().strip().splitlines()
        assert len(lines) == 1, err.decode()
        assert lines[0].startswith(f"error: cannot serve metrics on 127.0.0.1:{busy.port}")
        assert "Traceback" not in err.decode() + out.decode()
