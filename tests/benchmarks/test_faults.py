"""The fault suite at its small size: what must hold exactly whatever the machine's load.

Nothing here asserts timing: lateness and recovery are figures to read, not to pass. What is
asserted is counted: tickets lost, escalations missed or duplicated, deliveries never made
once the channel was back; with the slow channels, workflow tasks that failed on
nondeterminism, tickets that no longer answer, and items resent that a receiver had taken and
confirmed with nothing to explain it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType as E
from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent

from benchmarks.__main__ import nondeterminism
from benchmarks.fault_analysis import (
    Fate,
    Window,
    deliveries,
    escalated_after,
    fate,
    group_lateness,
    late_after_recovery,
    record,
    resends,
    tally,
)
from benchmarks.faults import group_of
from benchmarks.receivers import Arrival
from tests.benchmarks.conftest import RunBenchmark


@pytest.fixture(scope="module")
def faults(run_benchmark: RunBenchmark) -> dict[str, Any]:
    """One small fault run through the command line: 30 tickets on each of two workers (the
    default cache and 10) in five channel groups, the workers killed twice and stopped once,
    the server stopped by SIGTERM and by SIGKILL, the chat webhook down for 15 s."""
    return dict(run_benchmark("--suite", "faults", "--small")["faults"])


class TestSmallFaultRun:
    def test_every_fault_happened(self, faults: dict[str, Any]) -> None:
        """Two worker kills and both server stops were made, and the channel was down (whether a
        delivery met the outage depends on the machine's load: a figure, not asserted)."""
        kinds = [f["kind"] for f in faults["faults"]]
        assert kinds.count("worker_kill") == faults["config"]["worker_kills"] == 2
        assert kinds.count("worker_sigterm") == faults["config"]["worker_stops"] == 1
        assert {"SIGTERM", "SIGKILL"} <= set(kinds)
        assert faults["channel_down_s"] >= faults["config"]["channel_outage"]

    def test_nothing_lost_missed_or_duplicated(self, faults: dict[str, Any]) -> None:
        """Every ticket still runs, escalated exactly once."""
        assert faults["tickets"] == 2 * faults["config"]["tickets"]
        assert faults["tickets_lost"] == 0
        assert faults["escalations_missed"] == 0
        assert faults["escalations_duplicated"] == 0
        assert faults["late_after_recovery_s"]["count"] == faults["tickets"]

    def test_every_delivery_made_after_the_channel_returned(self, faults: dict[str, Any]) -> None:
        """Each planned email and chat item reached its receiver."""
        assert faults["deliveries_planned"]["email"] > 0
        assert faults["deliveries_planned"]["chat"] > 0
        assert faults["deliveries_planned"]["webhook"] > 0
        assert faults["deliveries_missing"] == 0, faults["deliveries_missing_keys"]
        assert faults["deliveries_received"] == faults["deliveries_planned"]

    def test_every_ticket_history_replays(self, faults: dict[str, Any]) -> None:
        """Every run of every ticket (kills, server stops and outages in its history) replays
        with the production worker's configuration: 0 nondeterminism."""
        assert faults["replay"]["replayed"] >= faults["tickets"]
        assert faults["nondeterminism"] == 0, faults["replay"]["nondeterministic_runs"]
        assert faults["goal"]["no_nondeterminism"]

    def test_recovery_is_measured_after_every_fault(self, faults: dict[str, Any]) -> None:
        """Some workflow task completed after each fault: the workers came back."""
        assert all(f["recovery_s"] is not None and f["recovery_s"] > 0 for f in faults["faults"])

    def test_each_started_worker_is_seen_polling(self, faults: dict[str, Any]) -> None:
        """The moment a started-again worker polls is known for every kill, for both kinds
        (it is what the escalations of tickets due while it was down are measured from)."""
        for doc in (faults, faults["baseline"]):
            polled = doc["after_worker_kill"]["polling_after_kill_s"]
            assert len(polled) == 2
            assert all(p is not None and p > 0 for p in polled)

    def test_the_baseline_ran_alike(self, faults: dict[str, Any]) -> None:
        """The bare-Temporal baseline lost and duplicated nothing either."""
        b = faults["baseline"]
        assert b["tickets"] == faults["config"]["tickets"]
        assert (b["tickets_lost"], b["escalations_missed"], b["escalations_duplicated"]) == (0,) * 3
        assert len(b["recovery_after_worker_kill_s"]) == 2


class TestSlowChannels:
    def test_every_slow_behaviour_met_the_workers(self, faults: dict[str, Any]) -> None:
        """The relay sat on DATA, the chat webhook hung and trickled, the TLS handshake
        stalled: each slow group's items met their slow channel."""
        slow = {k: v for k, v in faults["slow_channels"].items() if isinstance(v, int)}
        assert slow["emails_held_by_slow_relay"] > 0, slow
        assert slow["chat_requests_never_answered"] > 0
        assert slow["chat_answers_trickled_unfinished"] > 0
        assert slow["tls_connections_stalled"] > 0

    def test_no_ticket_is_touched_by_a_slow_channel(self, faults: dict[str, Any]) -> None:
        """No workflow task failed on nondeterminism, every ticket answers with no failing
        task, and nothing a receiver confirmed was sent again without a crash to explain it."""
        slow = faults["slow_channels"]
        assert slow["nondeterminism_errors"] == 0, slow["workflow_task_failures_by_cause"]
        assert slow["tickets_read"] == faults["tickets"]
        assert slow["tickets_wedged"] == 0, slow["wedged"]
        assert slow["resent_after_confirmed_unexplained"] == 0, slow["resends_by_channel"]


class TestMeasures:
    def test_lateness_counts_from_the_recovery(self) -> None:
        """A deadline inside an outage is measured from the recovery; a later one from itself."""
        outage = [Window("worker_kill", began=10.0, recovered=14.0)]
        inside = Fate("a", deadline=11.0, escalated=14.5)
        after = Fate("b", deadline=20.0, escalated=20.2)
        assert late_after_recovery(inside, outage) == pytest.approx(0.5)
        assert late_after_recovery(after, outage) == pytest.approx(0.2)

    def test_escalations_due_while_down_count_from_polling(self) -> None:
        """Only tickets due between the kill and the new worker's polling are measured, from
        the polling."""
        fates = [
            Fate("before", deadline=9.0, escalated=9.1),
            Fate("during", deadline=11.0, escalated=13.5),
            Fate("after", deadline=14.0, escalated=14.2),
            Fate("never", deadline=12.0),
        ]
        assert escalated_after(fates, began=10.0, back=13.0) == [pytest.approx(0.5)]

    def test_tally(self) -> None:
        """Lost, missed and duplicated are counted per ticket."""
        fates = [
            Fate("ok", deadline=1.0, escalated=1.1, escalations=1),
            Fate("twice", deadline=1.0, escalated=1.1, escalations=2),
            Fate("never", deadline=1.0),
            Fate("gone", lost="terminated", deadline=1.0, escalated=1.2, escalations=1),
        ]
        t = tally(fates, [], now=5.0)
        assert (t.lost, t.missed, t.duplicated) == ({"terminated": 1}, 1, 1)

    def test_nondeterminism_fails_the_command(self) -> None:
        """The count the command exits non-zero on: the fault suite's, else the replay's."""
        assert nondeterminism({"faults": {"nondeterminism": 2}}) == 2
        assert nondeterminism({"replay": {"nondeterminism": 1}}) == 1
        assert nondeterminism({"faults": {"nondeterminism": 0}}) == 0
        assert nondeterminism({}) == 0

    def test_deliveries_by_key(self) -> None:
        """An email accepted twice is a duplicate; an item never accepted is missing."""
        planned = {"k1": "email", "k2": "email", "k3": "chat"}
        d = deliveries(planned, {"email": {"k1": 2}, "chat": {"k3": 1}}, absorbed_chat=0)
        assert (d.duplicated_email, d.missing, d.missing_keys) == (
            1,
            {"chat": 0, "email": 1, "webhook": 0},
            ["k2"],
        )


class TestSlowMeasures:
    def test_nondeterminism_is_counted_from_history(self) -> None:
        """A workflow task failed on nondeterminism is counted by its cause; a timed-out one
        apart."""
        started = HistoryEvent(event_type=E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
        started.workflow_execution_started_event_attributes.input.payloads.add(
            data=json.dumps({"breach": 10.0}).encode()
        )
        failed = HistoryEvent(event_type=E.EVENT_TYPE_WORKFLOW_TASK_FAILED)
        failed.workflow_task_failed_event_attributes.cause = (
            WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
        )
        timed_out = HistoryEvent(event_type=E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)
        f = fate("w", [started, failed, failed, timed_out], baseline=True)
        assert (f.nondeterministic, f.task_timeouts) == (2, 1)

    def test_a_key_names_its_group(self) -> None:
        """The group letter is read from the ticket's workflow id at the key's start."""
        assert group_of("ticket-FR-0123456789ab/e3/0-breach-email") == "R"
        assert group_of("ticket-CH-0123456789ab") == "H"
        assert group_of("something-else") is None

    def test_a_warning_counts_only_before_the_breach(self) -> None:
        """A ticket warned before its breach is warned; one whose breach came first is not."""

        def sla(kind: str, **data: object) -> dict[str, object]:
            return {"kind": "sla", "data": {"sla": kind, "target": "resolution", **data}}

        warned = record([sla("warning"), sla("breach"), sla("level", late_ms=120)])
        skipped = record([sla("breach"), sla("warning"), sla("level", late_ms=80)])
        assert (warned.warned, warned.late_ms) == (True, 120)
        assert (skipped.warned, skipped.breached) == (False, True)

    def test_group_lateness_against_control(self) -> None:
        """Each group's p99 is compared with the control group's."""
        groups = group_lateness({"H": [0.1, 0.2], "R": [0.3, 1.5]}, "H")
        assert groups["H"].p99_over_control_s == 0
        assert groups["R"].p99_over_control_s == pytest.approx(1.3)

    def test_resends_by_reason(self) -> None:
        """A copy after an unconfirmed one is rightly sent; after a confirmed one, a crash
        within the attempt's reach explains it, and nothing else does."""
        arrivals = [
            Arrival("held", 1.0, accepted=True, confirmed=False),
            Arrival("held", 9.0, accepted=True, confirmed=True),
            Arrival("crash", 1.0, accepted=True, confirmed=True),
            Arrival("crash", 20.0, accepted=True, confirmed=True),
            Arrival("again", 50.0, accepted=True, confirmed=True),
            Arrival("again", 51.0, accepted=True, confirmed=True),
            Arrival("refused", 60.0, accepted=False),
        ]
        r = resends(arrivals, [(10.0, 15.0)], reach=30.0)
        assert (r.unconfirmed, r.after_crash, r.unexplained) == (1, 1, 1)
        assert r.unexplained_keys == ["again"]
