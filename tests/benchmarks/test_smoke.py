"""The benchmarks at a tiny size: every figure is produced and makes sense (no timing asserts)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client

from benchmarks import history, tickets
from benchmarks.__main__ import nondeterminism
from benchmarks.lifecycle import wait_for_tier
from benchmarks.stats import percentile, summarize
from tests.benchmarks.conftest import RunBenchmark
from tierflow.activities import Settings, TierflowActivities
from tierflow.client import TicketClient
from tierflow.worker import build_worker


def _ordered(s: dict[str, Any]) -> bool:
    return bool(s["min"] <= s["p50"] <= s["p95"] <= s["p99"] <= s["max"])


@pytest.fixture(scope="module")
def doc(run_benchmark: RunBenchmark) -> dict[str, Any]:
    """One tiny run of every suite through the command line, on the benchmark's own server;
    the figures as written to its JSON file."""
    return run_benchmark("--tiny")


class TestStats:
    def test_nearest_rank(self) -> None:
        """Percentiles are nearest-rank values of the sample."""
        values = [float(v) for v in range(1, 101)]
        assert percentile(values, 50) == 50.0
        assert percentile(values, 99) == 99.0
        assert percentile(values, 100) == 100.0
        s = summarize([3.0, 1.0, 2.0])
        assert (s.min, s.p50, s.max, s.count) == (1.0, 2.0, 3.0, 3)

    def test_empty_sample_is_an_error(self) -> None:
        """A benchmark that measured nothing fails loudly instead of reporting zeros."""
        with pytest.raises(ValueError, match="empty"):
            summarize([])


class TestTinyRun:
    def test_throughput(self, doc: dict[str, Any]) -> None:
        """Both kinds completed every lifecycle; the ratio is theirs."""
        t = doc["throughput"]
        cfg = doc["config"]
        assert t["tickets"] == cfg["tickets"]
        assert (
            t["tierflow_lifecycle_s"]["count"]
            == t["baseline_lifecycle_s"]["count"]
            == cfg["tickets"]
        )
        assert t["tierflow_per_s"] > 0
        assert t["baseline_per_s"] > 0
        assert t["ratio"] == pytest.approx(t["tierflow_per_s"] / t["baseline_per_s"], rel=0.01)
        assert _ordered(t["tierflow_lifecycle_s"])

    def test_latency(self, doc: dict[str, Any]) -> None:
        """Every agent action was answered; percentiles are ordered."""
        a = doc["latency"]
        cfg = doc["config"]
        assert a["actions"] == cfg["agents"] * cfg["actions_per_agent"]
        assert a["round_trip_ms"]["count"] == a["actions"]
        assert _ordered(a["round_trip_ms"])
        assert set(a["by_action_ms"]) == {"note", "assign"}

    @pytest.mark.parametrize("notifying", [False, True])
    def test_latency_baseline(self, doc: dict[str, Any], notifying: bool) -> None:
        """Each pair (actions only; assignments notifying) ran the bare workflow for as many
        round trips, and the ratios are Tierflow's percentiles over that baseline's."""
        a = doc["latency"]["notifying"] if notifying else doc["latency"]
        b = a["baseline"]
        for field in ("agents", "tickets", "actions"):
            assert b[field] == a[field] == doc["latency"][field]
        assert _ordered(a["round_trip_ms"])
        assert _ordered(b["round_trip_ms"])
        for k in ("p50", "p95", "p99"):
            ratio = a["round_trip_ms"][k] / b["round_trip_ms"][k]
            assert a["round_trip_vs_baseline"][k] == pytest.approx(ratio, abs=0.01)

    def test_lateness(self, doc: dict[str, Any]) -> None:
        """Every ticket escalated once, after its deadline, and the worker's memory was read."""
        lt = doc["lateness"]
        assert lt["escalated"] == lt["tickets"] == doc["config"]["lateness_tickets"]
        assert lt["not_escalated"] == 0
        assert _ordered(lt["late_s"])
        assert lt["late_s"]["min"] >= 0  # never before the deadline
        assert (
            lt["timer_fired_late_s"]["p50"] <= lt["late_s"]["p50"] <= lt["late_committed_s"]["p50"]
        )
        assert lt["worker_peak_rss_mib"] > 10
        assert lt["max_cached_workflows"] == doc["config"]["cache"]

    def test_lateness_baseline(self, doc: dict[str, Any]) -> None:
        """The bare baseline escalated as many tickets, never before their deadlines, with
        the server's timer lateness beside it and the ratios of the two."""
        lt = doc["lateness"]
        b = lt["baseline"]
        assert b["escalated"] == b["tickets"] == lt["tickets"]
        assert b["not_escalated"] == 0
        assert _ordered(b["late_s"])
        assert b["late_s"]["min"] >= 0
        assert b["timer_fired_late_s"]["p50"] <= b["late_s"]["p50"]
        assert set(lt["late_vs_baseline"]) == {"p50", "p95", "p99", "max"}

    def test_capacity(self, doc: dict[str, Any]) -> None:
        """Every configuration ran at least one step; a sustained rate is a step that passed
        (every ticket escalated, p99 within a second); the steps rise until one fails."""
        cap = doc["capacity"]
        cfg = doc["config"]["capacity"]
        configs = {(c["kind"], c["processes"]) for c in cap["configurations"]}
        assert configs == {(k, n) for k in cfg["kinds"] for n in cfg["processes"]}
        for c in cap["configurations"]:
            assert c["steps"]
            for step in c["steps"]:
                assert step["tickets"] == round(step["rate_per_s"] * cfg["window"])
                late = step["late_s"]
                assert late is not None
                assert _ordered(late)
                assert step["passed"] == (step["not_escalated"] == 0 and late["p99"] <= 1.0)
            passed = [s["rate_per_s"] for s in c["steps"] if s["passed"]]
            assert c["sustained_per_s"] == (max(passed) if passed else None)
            assert cap["sustained_per_s"][c["kind"]][str(c["processes"])] == c["sustained_per_s"]
            assert c["workers_peak_rss_mib"] > 10 * c["processes"]

    def test_cost_of_reads(self, doc: dict[str, Any]) -> None:
        """One UI view and one GET /tickets/{id} cost one query each, a report row two; the
        server's metric agrees for Tierflow's own queries (it leaves out the UI's built-in
        metadata query, which Temporal Cloud bills)."""
        reads = {r["read"]: r for r in doc["cost_reads"]}
        assert reads["UI ticket view"]["billable_actions"] == 1
        assert reads["GET /tickets/{id}"]["billable_actions"] == 1
        assert reads["tierflow report row"]["billable_actions"] == 2
        for name in ("GET /tickets/{id}", "tierflow report row"):
            assert reads[name]["server_action_metric"] == reads[name]["billable_actions"]

    def test_cost(self, doc: dict[str, Any]) -> None:
        """One start and one accepted update per lifecycle; the history count agrees with the
        server's own action metric, which also counts patch markers and their upserts (not
        billed by Temporal Cloud, so not in Tierflow's total)."""
        for key in ("cost", "cost_baseline"):
            c = doc[key]
            per = c["per_lifecycle"]
            assert per["workflow_started"] == 1
            assert per["updates_accepted"] == 1
            assert per["timers"] >= 3
            assert per["activity_attempts"] >= 1
            assert c["history_events_per_ticket"] > c["total_per_lifecycle"]
            assert c["server_action_metric_total"] == pytest.approx(
                c["total_per_lifecycle"] + c["patch_bookkeeping_per_lifecycle"], abs=0.5
            )
        assert doc["cost_baseline"]["per_lifecycle"]["heartbeats"] == 0

    def test_the_document_names_its_server(self, doc: dict[str, Any]) -> None:
        """The figures say which Temporal they came from: here the dev server's."""
        assert doc["temporal"]["target"] == doc["config"]["target"] == "devserver"
        assert doc["temporal"]["server"] == "Temporal CLI dev server (SQLite in memory)"

    def test_every_suite_ran(self, doc: dict[str, Any]) -> None:
        """``--tiny`` with no ``--suite`` runs every benchmark and records the machine."""
        assert {"throughput", "latency", "lateness", "cost", "capacity", "cost_reads"} <= set(doc)
        assert doc["machine"]["cores"] >= 1

    def test_every_ticket_history_replays(self, doc: dict[str, Any]) -> None:
        """Every ticket the suites ran was replayed with the production worker's configuration
        before the server stopped, without nondeterminism."""
        r = doc["replay"]
        assert r["replayed"] >= doc["config"]["tickets"] + doc["config"]["lateness_tickets"]
        assert r["nondeterminism"] == 0, r["nondeterministic_runs"]
        assert nondeterminism(doc) == 0

    def test_targets_are_reported(self, doc: dict[str, Any]) -> None:
        """Each target carries a verdict, and the relative ones follow from the figures they
        compare (Tierflow's against the bare workflow's of the same run)."""
        assert isinstance(doc["throughput"]["target"]["met"], bool)
        assert isinstance(doc["lateness"]["target"]["met"], bool)
        c = doc["cost"]
        assert c["target"]["at_most"] == doc["cost_baseline"]["total_per_lifecycle"]
        assert c["target"]["met"] is (c["total_per_lifecycle"] <= c["target"]["at_most"])
        for a in (doc["latency"], doc["latency"]["notifying"]):
            limit = a["target"]["p50_p99_vs_bare_at_most"]
            ratio = a["round_trip_vs_baseline"]
            assert a["target"]["met"] is (ratio["p50"] <= limit and ratio["p99"] <= limit)
        cap = doc["capacity"]
        for n, met in cap["target_met"].items():
            assert met is ((cap["tierflow_vs_baseline"][n] or 0) >= 1.0)


class TestLatenessMeasure:
    async def test_history_matches_the_timeline(self, client: Client, task_queue: str) -> None:
        """The deadline and escalation moment read from history are the ones the workflow
        recorded in its timeline (``due`` and the entry's ``at``)."""
        worker = build_worker(
            client, task_queue, activities=TierflowActivities(Settings(_env_file=None))
        )
        async with worker:
            tc = TicketClient(client, task_queue)
            t = tickets.ticket("M")
            opened = await tc.open(t, tickets.policy(timedelta(seconds=1)))
            await wait_for_tier(client, opened.workflow_id, "tier2")
            timeline = await tc.timeline(t.id)
        level = next(e for e in timeline if e.kind == "sla" and "escalation level 1" in e.summary)
        e = history.breach_escalation(await history.fetch(client, opened.workflow_id))
        due = datetime.fromisoformat(str(level.data["due"])).replace(tzinfo=None)
        assert abs((e.deadline - due).total_seconds()) < 0.001
        assert e.acted is not None
        assert abs((e.acted - level.at.replace(tzinfo=None)).total_seconds()) < 0.001
        assert e.fired is not None
        assert e.fired >= e.deadline
