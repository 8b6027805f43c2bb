"""Worker memory per cached ticket: policies shared in the worker, bounded by its cache, and
the memory suite at a tiny size (figures produced, no size asserts: RSS is noisy at ten)."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from temporalio.client import Client

from benchmarks import memory, tickets
from tests.benchmarks.conftest import RunBenchmark
from tests.waiting import eventually
from tierflow._codecache import compiled_paths, sandbox_entry
from tierflow.activities import Settings, TierflowActivities
from tierflow.client import TicketClient
from tierflow.worker import WorkerSettings, build_worker
from tierflow.workflows.state import TicketState


def _states(ids: set[str]) -> dict[str, TicketState]:
    """The ticket states alive in this process (the in-process worker's), by ticket id."""
    gc.collect()
    return {
        o.ticket.id: o
        for o in gc.get_objects()
        if isinstance(o, TicketState) and o.ticket.id in ids
    }


def _worker(client: Client, task_queue: str, cache: int) -> Any:
    return build_worker(
        client,
        task_queue,
        activities=TierflowActivities(Settings(_env_file=None)),
        settings=WorkerSettings(max_cached_workflows=cache),
    )


class TestInTheWorker:
    async def test_tickets_with_one_policy_share_it(self, client: Client, task_queue: str) -> None:
        """Two tickets opened with the same policy hold one policy object in the (sandboxed)
        worker; a ticket with another policy holds its own, sharing the equal parts."""
        tc = TicketClient(client, task_queue)
        same = memory.far_policy()
        async with _worker(client, task_queue, cache=10):
            opened = [
                await tc.open(tickets.ticket("SH"), p)
                for p in (same, memory.far_policy(), memory.far_policy(distinct=True))
            ]
            await memory.wait_in_tier1(client, task_queue, 3, timeout=60)
            states = _states({o.ticket_id for o in opened})
            a, b, c = (states[o.ticket_id] for o in opened)
            assert a.policy is b.policy
            assert c.policy is not a.policy
            assert c.policy.tiers is a.policy.tiers
            assert c.policy.sla != a.policy.sla
        # The sandbox loaded the workflow module through the shared compiled code.
        assert any(p.endswith("ticket.py") for p in compiled_paths())

    async def test_the_sandbox_is_entered_through_code_compiled_once(
        self, client: Client, task_queue: str
    ) -> None:
        """Every activation and serialization-context call of the sandboxed tickets ran
        through the entry lines compiled once per process: many uses, a handful of compiles."""
        tc = TicketClient(client, task_queue)
        before = sandbox_entry.cache_info()
        async with _worker(client, task_queue, cache=10):
            for _ in range(3):
                await tc.open(tickets.ticket("EN"), memory.far_policy())
            await memory.wait_in_tier1(client, task_queue, 3, timeout=60)
        after = sandbox_entry.cache_info()
        assert after.hits - before.hits >= 3 * 2  # at least a load and an activation each
        assert after.misses - before.misses <= 8  # the SDK's few fixed entry strings

    async def test_tickets_held_are_bounded_by_the_cache(
        self, client: Client, task_queue: str
    ) -> None:
        """With more open tickets than cache slots, the worker keeps at most the cache's
        worth of ticket states (and of distinct policies) alive."""
        cache = 3
        tc = TicketClient(client, task_queue)
        async with _worker(client, task_queue, cache=cache):
            opened = []
            for _ in range(4 * cache):
                opened.append(await tc.open(tickets.ticket("BD"), memory.far_policy(distinct=True)))
            await memory.wait_in_tier1(client, task_queue, len(opened), timeout=120)
            ids = {o.ticket_id for o in opened}
            # Eviction follows the last task; wait for the cache to settle.
            await eventually(lambda: len(_states(ids)) <= cache, within=10)
            alive = _states(ids)
            assert len(alive) <= cache
            assert len({id(s.policy) for s in alive.values()}) <= cache


@pytest.fixture(scope="module")
def doc(run_benchmark: RunBenchmark) -> dict[str, Any]:
    """The memory suite at its tiny size, through the command line; its JSON figures."""
    return run_benchmark("--tiny", "--suite", "memory")


class TestTinyMemorySuite:
    def test_every_kind_and_sandbox_is_measured(self, doc: dict[str, Any]) -> None:
        """Tierflow and the bare baseline, sandbox on and off, each with its figure."""
        m = doc["memory"]
        assert m["tickets"] == doc["config"]["memory_tickets"]
        runs = {(r["kind"], r["sandbox"]) for r in m["runs"]}
        assert runs == {(k, s) for k in ("tierflow", "baseline") for s in (True, False)}
        for r in m["runs"]:
            assert r["tickets"] == m["tickets"]
            assert r["max_cached_workflows"] > r["tickets"]
            assert r["rss_before_mib"] > 10
            assert r["per_ticket_kib"] == pytest.approx(
                (r["rss_after_mib"] - r["rss_before_mib"]) * 1024 / r["tickets"],
                abs=0.1 * 1024 / r["tickets"],  # the MiB figures are rounded to 0.1
            )

    def test_the_target_has_a_verdict(self, doc: dict[str, Any]) -> None:
        """The memory target is Tierflow's per-ticket memory over the bare workflow's, both
        with the sandbox as configured, and the verdict follows from that ratio."""
        m = doc["memory"]
        t = m["target"]
        assert t["per_ticket_vs_bare_at_most"] == memory.TARGET_VS_BARE
        sandbox = m["runs"][0]["sandbox"]
        kib = {r["kind"]: r["per_ticket_kib"] for r in m["runs"] if r["sandbox"] == sandbox}
        if kib["baseline"] <= 0:  # a tiny run's noise: no ratio, no verdict of "met"
            assert (t["ratio"], t["met"]) == (None, False)
            return
        assert t["ratio"] == pytest.approx(kib["tierflow"] / kib["baseline"], abs=0.01)
        assert t["met"] is (t["ratio"] <= memory.TARGET_VS_BARE)
